//! `BatchNormalization` in inference mode (opsets 9..15 `spatial`/`training_mode` must
//! be off): `y = scale * (x - mean) / sqrt(var + epsilon) + B`, per channel of NCHW input.
//! It never reaches the quantizer: the fold pass merges it into the preceding Conv.

use super::{check_input_count, infos_of, required, required_info, InputInfo};
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
        if attrs.int("training_mode", 0)? != 0 {
            return Err("training_mode = 1 is not supported (qforge compiles for inference)".into());
        }
        if attrs.int("spatial", 1)? != 1 {
            return Err("spatial = 0 (per-element statistics) is not supported".into());
        }
        let epsilon = attrs.float("epsilon", 1e-5)?;
        if !(epsilon >= 0.0 && epsilon.is_finite()) {
            return Err(format!("epsilon must be a non-negative number, got {epsilon}"));
        }
        Ok(BatchNorm { epsilon })
    }

    /// Shape inference.
    pub fn infer(&self, inputs: &[Option<InputInfo<'_>>]) -> Result<Vec<Vec<usize>>, String> {
        check_input_count(inputs, 5, 5, "X, scale, B, mean, var")?;
        let x = required_info(inputs, 0)?;
        if x.shape.len() < 2 {
            return Err(format!("the input has shape {:?}; expected at least 2 dims [N, C, ...]", x.shape));
        }
        let c = x.shape[1];
        for (i, what) in [(1, "scale"), (2, "B"), (3, "mean"), (4, "var")] {
            let p = required_info(inputs, i)?;
            if p.data.is_none() {
                return Err(format!("{what} (input {i}) must be a constant"));
            }
            if p.shape != [c] {
                return Err(format!("{what} (input {i}) has shape {:?} but the input has {c} channels", p.shape));
            }
        }
        if let Some(var) = required_info(inputs, 4)?.data {
            if let Some(v) = var
                .data
                .iter()
                .find(|&&v| (v as f64 + self.epsilon as f64).partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater))
            {
                return Err(format!("var + epsilon must be positive, but var holds {v} (epsilon {})", self.epsilon));
            }
        }
        Ok(vec![x.shape.to_vec()])
    }

    /// fp32 reference evaluation.
    pub fn eval(&self, inputs: &[Option<&Array>]) -> Result<Vec<Array>, String> {
        self.infer(&infos_of(inputs))?;
        let x = required(inputs, 0)?;
        let param = |i| required(inputs, i).map(|a| a.data.as_slice());
        let (scale, b, mean, var) = (param(1)?, param(2)?, param(3)?, param(4)?);
        let c = x.shape[1];
        let plane: usize = x.shape[2..].iter().product();
        let mut out = x.data.clone();
        if plane == 0 {
            return Ok(vec![Array::new(x.shape.clone(), out)]);
        }
        for (i, chunk) in out.chunks_exact_mut(plane).enumerate() {
            let ch = i % c;
            // y = x * f + (B - mean * f), with f = scale / sqrt(var + eps) computed in f64.
            let f = scale[ch] as f64 / (var[ch] as f64 + self.epsilon as f64).sqrt();
            let (mul, add) = (f as f32, (b[ch] as f64 - mean[ch] as f64 * f) as f32);
            for v in chunk {
                *v = *v * mul + add;
            }
        }
        Ok(vec![Array::new(x.shape.clone(), out)])
    }
}
