qrt::quantize_model!(mod m, model = "fixtures/no_such_model.onnx", stats = "fixtures/relu.stats.json");
fn main() {}
