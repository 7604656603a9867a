qrt::quantize_model!(mod m, model = "fixtures/relu.json", calib = "c.npy", observer = "percentile", percentile = 150.0);
fn main() {}
