//! The bundled digits CNN, compiled to int8 by `qrt::quantize_model!` while this crate
//! builds, run on the held-out test images.
//!
//! `cargo run --release -- [test_x.npy test_y.npy [out.npy]]` prints the int8 top-1
//! accuracy and, with `out.npy`, writes the model's outputs there (for `qforge eval
//! --crate-output`, which checks them byte for byte against the compiler's simulator).

mod npy;

qrt::quantize_model!(pub mod digits, model = "../digits/digits.onnx", calib = "../digits/calib.npy");

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let x_path = args.first().map_or(concat!(env!("CARGO_MANIFEST_DIR"), "/../digits/test_x.npy"), |s| s.as_str());
    let y_path = args.get(1).map_or(concat!(env!("CARGO_MANIFEST_DIR"), "/../digits/test_y.npy"), |s| s.as_str());
    let images = npy::read_f32(x_path)?;
    let labels = npy::read_i64(y_path)?;

    let mut model = digits::Model::new();
    let mut outputs = Vec::with_capacity(labels.len() * digits::OUTPUT_LEN);
    let mut correct = 0;
    for (image, &label) in images.chunks_exact(digits::INPUT_LEN).zip(&labels) {
        let mut scores = [0.0f32; digits::OUTPUT_LEN];
        model.run(image, &mut scores).map_err(|e| e.to_string())?;
        let best = (0..scores.len()).fold(0, |b, i| if scores[i] > scores[b] { i } else { b });
        correct += usize::from(best as i64 == label);
        outputs.extend_from_slice(&scores);
    }
    let n = labels.len();
    println!("int8 top-1: {correct}/{n} ({:.2}%)", 100.0 * correct as f64 / n as f64);
    println!("weights: {} bytes, arena: {} bytes", digits::WEIGHT_BYTES, digits::ARENA_BYTES);
    if let Some(out) = args.get(2) {
        npy::write_f32(out, &[n, digits::OUTPUT_LEN], &outputs)?;
        println!("outputs -> {out}");
    }
    Ok(())
}
