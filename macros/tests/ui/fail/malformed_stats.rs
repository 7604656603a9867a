qrt::quantize_model!(mod m, model = "fixtures/relu.json", stats = "fixtures/malformed.stats.json");
fn main() {}
