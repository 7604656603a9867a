qrt::quantize_model!(mod m, model = "fixtures/relu.json", stats = "fixtures/relu.stats.json", speed = "max");
fn main() {}
