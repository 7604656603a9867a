qrt::quantize_model!(mod m, calib = "fixtures/calib.npy");
fn main() {}
