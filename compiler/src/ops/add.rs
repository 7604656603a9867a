//! `Add`: elementwise sum of two tensors of the same shape (residual connections), or of
//! a tensor and a constant broadcast along the channel axis or a scalar.
//!
//! Integer form (see `qrt::add`): both inputs are rescaled to the output scale with one
//! common shift and a single rounding.

use super::{Clamp, InputInfo};
use crate::ir::Array;

/// `Add`, possibly with a fused clamp.
#[derive(Clone, Debug, PartialEq)]
pub struct Add {
    /// Activation fused in by the fusion pass.
    pub act: Clamp,
}

impl Default for Add {
    fn default() -> Self {
        Add { act: Clamp::NONE }
    }
}

impl Add {
    /// Shape inference.
    pub fn infer(&self, inputs: &[Option<InputInfo<'_>>]) -> Result<Vec<Vec<usize>>, String> {
        let _ = inputs;
        Err("Add shape inference is not implemented yet".into())
    }

    /// fp32 reference evaluation.
    pub fn eval(&self, inputs: &[Option<&Array>]) -> Result<Vec<Array>, String> {
        let _ = inputs;
        Err("Add evaluation is not implemented yet".into())
    }
}
