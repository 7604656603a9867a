//! `Clip` (opset 6: `min`/`max` attributes; opset 11+: optional constant inputs 1 and 2).
//! `Clip(0, 6)` is ReLU6. The fusion pass folds it into the producing Conv/Gemm/Add as
//! integer clamp bounds.

use super::{Clamp, InputInfo};
use crate::ir::{Array, Attrs};

/// `Clip` with its bounds resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct Clip {
    /// The bounds (`-inf`/`+inf` when absent).
    pub clamp: Clamp,
}

impl Clip {
    /// Parses attributes (opset < 11) or constant inputs (opset >= 11).
    pub fn parse(attrs: &Attrs, opset: i64, inputs: &[Option<&Array>]) -> Result<Self, String> {
        let _ = (attrs, opset, inputs);
        Err("Clip parsing is not implemented yet".into())
    }

    /// Shape inference.
    pub fn infer(&self, inputs: &[Option<InputInfo<'_>>]) -> Result<Vec<Vec<usize>>, String> {
        let _ = inputs;
        Err("Clip shape inference is not implemented yet".into())
    }

    /// fp32 reference evaluation.
    pub fn eval(&self, inputs: &[Option<&Array>]) -> Result<Vec<Array>, String> {
        let _ = inputs;
        Err("Clip evaluation is not implemented yet".into())
    }
}
