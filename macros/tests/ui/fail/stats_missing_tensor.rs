qrt::quantize_model!(mod m, model = "fixtures/add.json", stats = "fixtures/input_only.stats.json");
fn main() {}
