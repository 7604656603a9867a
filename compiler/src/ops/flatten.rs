//! `Flatten`: reshape to 2-D `[prod(dims[..axis]), prod(dims[axis..])]` (axis default 1,
//! negative axes count from the end; `axis = 0` gives `[1, total]`).

use super::{check_input_count, infos_of, required, required_info, InputInfo};
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
        check_input_count(inputs, 1, 1, "input")?;
        let x = required_info(inputs, 0)?;
        let rank = x.shape.len() as i64;
        let axis = if self.axis < 0 { self.axis + rank } else { self.axis };
        if !(0..=rank).contains(&axis) {
            return Err(format!("axis {} is out of range for an input of shape {:?}", self.axis, x.shape));
        }
        let (outer, inner) = x.shape.split_at(axis as usize);
        Ok(vec![vec![outer.iter().product(), inner.iter().product()]])
    }

    /// fp32 reference evaluation.
    pub fn eval(&self, inputs: &[Option<&Array>]) -> Result<Vec<Array>, String> {
        let shape = self.infer(&infos_of(inputs))?.remove(0);
        Ok(vec![Array::new(shape, required(inputs, 0)?.data.clone())])
    }
}
