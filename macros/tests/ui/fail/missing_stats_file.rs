qrt::quantize_model!(mod m, model = "fixtures/relu.json", stats = "fixtures/no_such.stats.json");
fn main() {}
