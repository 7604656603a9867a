//! `Flatten`: reshape to 2-D `[prod(dims[..axis]), prod(dims[axis..])]` (axis default 1,
//! negative axes count from the end).

use super::InputInfo;
use crate::ir::{Array, Attrs};

/// `Flatten` attributes.
#[derive(Clone, Debug, PartialEq)]
pub struct Flatten {
    /// The split axis (may be negative).
    pub axis: i64,
}

impl Flatten {
    /// Parses ONNX attributes.
    pub fn parse(attrs: &Attrs) -> Result<Self, String> {
        Ok(Flatten { axis: attrs.int("axis", 1)? })
    }

    /// Shape inference.
    pub fn infer(&self, inputs: &[Option<InputInfo<'_>>]) -> Result<Vec<Vec<usize>>, String> {
        let _ = inputs;
        Err("Flatten shape inference is not implemented yet".into())
    }

    /// fp32 reference evaluation.
    pub fn eval(&self, inputs: &[Option<&Array>]) -> Result<Vec<Array>, String> {
        let _ = inputs;
        Err("Flatten evaluation is not implemented yet".into())
    }
}
