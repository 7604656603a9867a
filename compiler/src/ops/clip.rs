//! `Clip` (opset 6: `min`/`max` attributes; opset 11+: optional constant inputs 1 and 2).
//! `Clip(0, 6)` is ReLU6. The fusion pass folds it into the producing Conv/Gemm/Add as
//! integer clamp bounds. A missing bound is unbounded; when `min > max` every output is
//! `max` (the ONNX rule, which [`Clamp::apply`] follows).

use super::{check_input_count, required, required_info, Clamp, InputInfo};
use crate::ir::{Array, Attrs};

/// `Clip` with its bounds resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct Clip {
    /// The bounds (`-inf`/`+inf` when absent).
    pub clamp: Clamp,
}

/// The value of a scalar bound input.
fn scalar(a: &Array, what: &str) -> Result<f32, String> {
    match a.data.as_slice() {
        [v] => Ok(*v),
        _ => Err(format!("{what} must be a scalar, got shape {:?}", a.shape)),
    }
}

impl Clip {
    /// Parses attributes (opset < 11) or constant inputs (opset >= 11).
    pub fn parse(attrs: &Attrs, opset: i64, inputs: &[Option<&Array>]) -> Result<Self, String> {
        let (min, max) = if opset < 11 {
            (attrs.float("min", f32::NEG_INFINITY)?, attrs.float("max", f32::INFINITY)?)
        } else {
            let bound = |i: usize, what: &str, default: f32| match inputs.get(i).copied().flatten() {
                Some(a) => scalar(a, what),
                None => Ok(default),
            };
            (bound(1, "min (input 1)", f32::NEG_INFINITY)?, bound(2, "max (input 2)", f32::INFINITY)?)
        };
        if min.is_nan() || max.is_nan() {
            return Err("Clip bounds must not be NaN".into());
        }
        Ok(Clip { clamp: Clamp { min, max } })
    }

    /// Shape inference. Bound inputs, when present, must be constants.
    pub fn infer(&self, inputs: &[Option<InputInfo<'_>>]) -> Result<Vec<Vec<usize>>, String> {
        check_input_count(inputs, 1, 3, "input, optional min, optional max")?;
        let x = required_info(inputs, 0)?;
        for (i, what) in [(1, "min (input 1)"), (2, "max (input 2)")] {
            if let Some(b) = inputs.get(i).copied().flatten() {
                if b.data.is_none() {
                    return Err(format!("{what} must be a constant"));
                }
                if b.shape.iter().product::<usize>() != 1 {
                    return Err(format!("{what} must be a scalar, got shape {:?}", b.shape));
                }
            }
        }
        Ok(vec![x.shape.to_vec()])
    }

    /// fp32 reference evaluation.
    pub fn eval(&self, inputs: &[Option<&Array>]) -> Result<Vec<Array>, String> {
        self.infer(&super::infos_of(inputs))?;
        let x = required(inputs, 0)?;
        let (lo, hi) = (self.clamp.min, self.clamp.max);
        let data = x.data.iter().map(|&v| v.max(lo).min(hi)).collect();
        Ok(vec![Array::new(x.shape.clone(), data)])
    }
}
