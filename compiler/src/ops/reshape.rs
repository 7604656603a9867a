//! `Reshape` with a constant target shape (opset 5+: input 1; the native JSON format may
//! give it as a `shape` attribute). `0` copies the input dimension (unless `allowzero`),
//! `-1` is inferred.

use super::InputInfo;
use crate::ir::{Array, Attrs};

/// `Reshape` with its target shape as written in the model.
#[derive(Clone, Debug, PartialEq)]
pub struct Reshape {
    /// Target shape spec (may hold `0` and one `-1`).
    pub shape: Vec<i64>,
    /// ONNX `allowzero` (opset 14+).
    pub allow_zero: bool,
}

impl Reshape {
    /// Parses the constant shape input (or `shape` attribute).
    pub fn parse(attrs: &Attrs, inputs: &[Option<&Array>]) -> Result<Self, String> {
        let _ = (attrs, inputs);
        Err("Reshape parsing is not implemented yet".into())
    }

    /// Shape inference.
    pub fn infer(&self, inputs: &[Option<InputInfo<'_>>]) -> Result<Vec<Vec<usize>>, String> {
        let _ = inputs;
        Err("Reshape shape inference is not implemented yet".into())
    }

    /// fp32 reference evaluation.
    pub fn eval(&self, inputs: &[Option<&Array>]) -> Result<Vec<Array>, String> {
        let _ = inputs;
        Err("Reshape evaluation is not implemented yet".into())
    }
}
