//! `Reshape` with a constant target shape (opset 5+: input 1; the native JSON format may
//! give it as a `shape` attribute). `0` copies the input dimension at the same index
//! (unless `allowzero`, when it means an empty dimension), one `-1` is inferred from the
//! element count.

use super::{check_input_count, infos_of, required, required_info, InputInfo};
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
        let shape = match inputs.get(1).copied().flatten() {
            Some(a) => {
                if a.shape.len() != 1 {
                    return Err(format!("the target shape (input 1) must be 1-D, got shape {:?}", a.shape));
                }
                let mut dims = Vec::with_capacity(a.len());
                for &v in &a.data {
                    if v.fract() != 0.0 || v.abs() > (1u64 << 53) as f32 {
                        return Err(format!("the target shape holds {v}, which is not an integer"));
                    }
                    dims.push(v as i64);
                }
                dims
            }
            None => attrs.ints("shape")?.ok_or(
                "the target shape must be a constant (input 1, or a 'shape' attribute); a shape computed by the graph is not supported",
            )?,
        };
        let allow_zero = attrs.int("allowzero", 0)? != 0;
        if let Some(&v) = shape.iter().find(|&&v| v < -1) {
            return Err(format!("the target shape {shape:?} holds {v}; only -1 (inferred) may be negative"));
        }
        if shape.iter().filter(|&&v| v == -1).count() > 1 {
            return Err(format!("the target shape {shape:?} holds more than one -1"));
        }
        if allow_zero && shape.contains(&0) && shape.contains(&-1) {
            return Err(format!("the target shape {shape:?} holds both 0 and -1, which allowzero = 1 forbids"));
        }
        Ok(Reshape { shape, allow_zero })
    }

    /// The output shape for an input of `input` shape.
    pub fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, String> {
        let total: usize = input.iter().product();
        let mut out = Vec::with_capacity(self.shape.len());
        let mut infer_at = None;
        for (i, &d) in self.shape.iter().enumerate() {
            out.push(match d {
                -1 => {
                    infer_at = Some(i);
                    1
                }
                0 if !self.allow_zero => *input.get(i).ok_or_else(|| {
                    format!(
                        "the target shape {:?} copies dim {i} (a 0), but the input {input:?} has only {} dims",
                        self.shape,
                        input.len()
                    )
                })?,
                d => d as usize,
            });
        }
        let known: usize = out.iter().product();
        if let Some(i) = infer_at {
            if known == 0 || !total.is_multiple_of(known) {
                return Err(format!(
                    "cannot reshape {input:?} ({total} values) to {:?}: the -1 cannot be inferred",
                    self.shape
                ));
            }
            out[i] = total / known;
        } else if known != total {
            return Err(format!("cannot reshape {input:?} ({total} values) to {:?} ({known} values)", self.shape));
        }
        Ok(out)
    }

    /// Shape inference.
    pub fn infer(&self, inputs: &[Option<InputInfo<'_>>]) -> Result<Vec<Vec<usize>>, String> {
        check_input_count(inputs, 1, 2, "data, shape")?;
        let x = required_info(inputs, 0)?;
        if let Some(s) = inputs.get(1).copied().flatten() {
            if s.data.is_none() {
                return Err("the target shape (input 1) must be a constant".into());
            }
        }
        Ok(vec![self.output_shape(x.shape)?])
    }

    /// fp32 reference evaluation.
    pub fn eval(&self, inputs: &[Option<&Array>]) -> Result<Vec<Array>, String> {
        let shape = self.infer(&infos_of(inputs))?.remove(0);
        Ok(vec![Array::new(shape, required(inputs, 0)?.data.clone())])
    }
}
