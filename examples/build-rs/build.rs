//! Compiles the bundled digits CNN to int8 into `OUT_DIR/digits.rs` (a `pub mod digits`)
//! and `OUT_DIR/digits.weights.bin`. Paths are relative to this crate's folder.

fn main() -> Result<(), qforge::embed::BuildError> {
    qforge::Builder::new("../digits/digits.onnx").calibration("../digits/calib.npy").build_to_out_dir()?;
    Ok(())
}
