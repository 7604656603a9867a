//! `Concat` along one axis (the channel axis of NCHW tensors in CNNs); every other
//! dimension must match. Quantized, each input is rescaled to the output's scale and zero
//! point as it is copied into place.

use super::{infos_of, InputInfo};
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

    /// The axis as an index into shapes of `rank` dims.
    pub fn resolved_axis(&self, rank: usize) -> Result<usize, String> {
        let r = rank as i64;
        let axis = if self.axis < 0 { self.axis + r } else { self.axis };
        if !(0..r).contains(&axis) {
            return Err(format!("axis {} is out of range for inputs of rank {rank}", self.axis));
        }
        Ok(axis as usize)
    }

    /// Shape inference.
    pub fn infer(&self, inputs: &[Option<InputInfo<'_>>]) -> Result<Vec<Vec<usize>>, String> {
        if inputs.is_empty() {
            return Err("expects at least 1 input, got 0".into());
        }
        let mut shapes = Vec::with_capacity(inputs.len());
        for (i, x) in inputs.iter().enumerate() {
            shapes.push(x.ok_or_else(|| format!("input {i} is missing"))?.shape);
        }
        let first = shapes[0];
        let axis = self.resolved_axis(first.len())?;
        let mut out = first.to_vec();
        for (i, s) in shapes.iter().enumerate().skip(1) {
            let same = s.len() == first.len() && s.iter().zip(first).enumerate().all(|(d, (a, b))| d == axis || a == b);
            if !same {
                return Err(format!(
                    "input {i} has shape {s:?} but input 0 has shape {first:?}; all dims except axis {axis} must match"
                ));
            }
            out[axis] += s[axis];
        }
        Ok(vec![out])
    }

    /// fp32 reference evaluation.
    pub fn eval(&self, inputs: &[Option<&Array>]) -> Result<Vec<Array>, String> {
        let shape = self.infer(&infos_of(inputs))?.remove(0);
        let axis = self.resolved_axis(shape.len())?;
        let outer: usize = shape[..axis].iter().product();
        let arrays: Vec<&Array> = inputs.iter().flatten().copied().collect();
        let blocks: Vec<usize> = arrays.iter().map(|a| a.shape[axis..].iter().product()).collect();
        let mut data = Vec::with_capacity(shape.iter().product());
        for o in 0..outer {
            for (a, &b) in arrays.iter().zip(&blocks) {
                data.extend_from_slice(&a.data[o * b..(o + 1) * b]);
            }
        }
        Ok(vec![Array::new(shape, data)])
    }
}
