//! `GlobalAveragePool`: mean over H and W, NCHW `[1, C, H, W]` -> `[1, C, 1, 1]`.
//! Quantized, `out = clamp(z_out + requantize(Σ(x - z_in), s_in / (s_out * H * W)))`.

use super::InputInfo;
use crate::ir::Array;

/// Shape inference.
pub fn infer(inputs: &[Option<InputInfo<'_>>]) -> Result<Vec<Vec<usize>>, String> {
    let _ = inputs;
    Err("GlobalAveragePool shape inference is not implemented yet".into())
}

/// fp32 reference evaluation.
pub fn eval(inputs: &[Option<&Array>]) -> Result<Vec<Array>, String> {
    let _ = inputs;
    Err("GlobalAveragePool evaluation is not implemented yet".into())
}
