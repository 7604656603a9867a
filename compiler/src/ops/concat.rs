//! `Concat` along one axis (the channel axis of NCHW tensors in CNNs). Quantized, each
//! input is rescaled to the output's scale and zero point as it is copied into place.

use super::InputInfo;
use crate::ir::{Array, Attrs};

/// `Concat` attributes.
#[derive(Clone, Debug, PartialEq)]
pub struct Concat {
    /// The axis (may be negative).
    pub axis: i64,
}

impl Concat {
    /// Parses ONNX attributes.
    pub fn parse(attrs: &Attrs) -> Result<Self, String> {
        Ok(Concat { axis: attrs.int("axis", 1)? })
    }

    /// Shape inference.
    pub fn infer(&self, inputs: &[Option<InputInfo<'_>>]) -> Result<Vec<Vec<usize>>, String> {
        let _ = inputs;
        Err("Concat shape inference is not implemented yet".into())
    }

    /// fp32 reference evaluation.
    pub fn eval(&self, inputs: &[Option<&Array>]) -> Result<Vec<Array>, String> {
        let _ = inputs;
        Err("Concat evaluation is not implemented yet".into())
    }
}
