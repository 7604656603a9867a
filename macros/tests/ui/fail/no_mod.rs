qrt::quantize_model!(model = "fixtures/relu.json");
fn main() {}
