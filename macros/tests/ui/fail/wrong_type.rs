qrt::quantize_model!(mod m, model = "fixtures/relu.json", stats = "fixtures/relu.stats.json", max_ram = "1k");
fn main() {}
