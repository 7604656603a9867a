qrt::quantize_model!(mod m, model = "fixtures/relu.json", calib = "c.npy", observer = "median");
fn main() {}
