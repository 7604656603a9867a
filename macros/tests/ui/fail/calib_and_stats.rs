qrt::quantize_model!(mod m, model = "fixtures/relu.json", calib = "c.npy", stats = "fixtures/relu.stats.json");
fn main() {}
