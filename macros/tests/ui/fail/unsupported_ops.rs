qrt::quantize_model!(mod m, model = "fixtures/unsupported.json", stats = "fixtures/relu.stats.json");
fn main() {}
