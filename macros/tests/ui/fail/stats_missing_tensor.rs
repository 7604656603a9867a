qrt::quantize_model!(mod m, model = "fixtures/relu.json", stats = "fixtures/input_only.stats.json");
fn main() {}
