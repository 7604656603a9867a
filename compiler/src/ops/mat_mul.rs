//! `MatMul` whose right operand is a constant 2-D matrix `[K, N]`: `Y[..., N] = X[..., K] * W`.
//! Lowered like `Gemm` (a fully connected layer over the leading rows).

use super::{Clamp, InputInfo};
use crate::ir::Array;

/// `MatMul` with a constant right operand.
#[derive(Clone, Debug, PartialEq)]
pub struct MatMul {
    /// Activation fused in by the fusion pass.
    pub act: Clamp,
}

impl Default for MatMul {
    fn default() -> Self {
        MatMul { act: Clamp::NONE }
    }
}

impl MatMul {
    /// Shape inference.
    pub fn infer(&self, inputs: &[Option<InputInfo<'_>>]) -> Result<Vec<Vec<usize>>, String> {
        let _ = inputs;
        Err("MatMul shape inference is not implemented yet".into())
    }

    /// fp32 reference evaluation.
    pub fn eval(&self, inputs: &[Option<&Array>]) -> Result<Vec<Array>, String> {
        let _ = inputs;
        Err("MatMul evaluation is not implemented yet".into())
    }
}
