//! `BatchNormalization` in inference mode (opsets 9..15 `spatial`/`training_mode` must
//! be off): `y = scale * (x - mean) / sqrt(var + epsilon) + B`, per channel of NCHW input.
//! It never reaches the quantizer: the fold pass merges it into the preceding Conv.

use super::InputInfo;
use crate::ir::{Array, Attrs};

/// `BatchNormalization` attributes. Inputs: X, scale, B, mean, var (all constants but X).
#[derive(Clone, Debug, PartialEq)]
pub struct BatchNorm {
    /// Added to the variance.
    pub epsilon: f32,
}

impl BatchNorm {
    /// Parses ONNX attributes (rejects `training_mode = 1`).
    pub fn parse(attrs: &Attrs) -> Result<Self, String> {
        Ok(BatchNorm { epsilon: attrs.float("epsilon", 1e-5)? })
    }

    /// Shape inference.
    pub fn infer(&self, inputs: &[Option<InputInfo<'_>>]) -> Result<Vec<Vec<usize>>, String> {
        let _ = inputs;
        Err("BatchNormalization shape inference is not implemented yet".into())
    }

    /// fp32 reference evaluation.
    pub fn eval(&self, inputs: &[Option<&Array>]) -> Result<Vec<Array>, String> {
        let _ = inputs;
        Err("BatchNormalization evaluation is not implemented yet".into())
    }
}
