//! `Gemm`: `Y = alpha * A' * B' + beta * C` with `A` the activation `[M, K]`, `B` a constant
//! (`transB` selects `[N, K]` or `[K, N]`), `C` an optional constant broadcast to `[M, N]`.
//! `transA = 1` is not supported. Quantized as a fully connected layer with per-output
//! (per-N) weight scales.

use super::{Clamp, InputInfo};
use crate::ir::{Array, Attrs};

/// `Gemm` attributes.
#[derive(Clone, Debug, PartialEq)]
pub struct Gemm {
    /// Scales `A * B`.
    pub alpha: f32,
    /// Scales `C`.
    pub beta: f32,
    /// `B` is stored `[N, K]`.
    pub trans_b: bool,
    /// Activation fused in by the fusion pass.
    pub act: Clamp,
}

impl Gemm {
    /// Parses ONNX attributes (rejects `transA = 1`).
    pub fn parse(attrs: &Attrs) -> Result<Self, String> {
        let _ = attrs;
        Err("Gemm parsing is not implemented yet".into())
    }

    /// Shape inference.
    pub fn infer(&self, inputs: &[Option<InputInfo<'_>>]) -> Result<Vec<Vec<usize>>, String> {
        let _ = inputs;
        Err("Gemm shape inference is not implemented yet".into())
    }

    /// fp32 reference evaluation.
    pub fn eval(&self, inputs: &[Option<&Array>]) -> Result<Vec<Array>, String> {
        let _ = inputs;
        Err("Gemm evaluation is not implemented yet".into())
    }
}
