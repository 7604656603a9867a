//! `MatMul` whose right operand is a constant 2-D matrix `[K, N]`: `Y[..., N] = X[..., K] * W`.
//! Lowered like `Gemm` (a fully connected layer over the leading rows). An optional third
//! input, a constant bias `[N]`, is not ONNX's: the fold-bias-add pass sets it when an `Add`
//! of a constant follows (PyTorch exports `Linear` on 3-D inputs as MatMul + Add).

use super::linalg::{sgemm, MatMut, MatRef};
use super::{check_input_count, infos_of, required, required_info, Clamp, InputInfo};
use crate::ir::Array;

/// `MatMul` with a constant right operand.
#[derive(Clone, Debug, PartialEq)]
pub struct MatMul {
    /// Activation fused in by the fusion pass.
    pub act: Clamp,
}

impl Default for MatMul {
    fn default() -> Self {
        MatMul { act: Clamp::NONE }
    }
}

impl MatMul {
    /// Shape inference.
    pub fn infer(&self, inputs: &[Option<InputInfo<'_>>]) -> Result<Vec<Vec<usize>>, String> {
        check_input_count(inputs, 2, 3, "X, W, optional bias")?;
        let x = required_info(inputs, 0)?;
        let w = inputs.get(1).copied().flatten().ok_or("the weights (input 1) are missing")?;
        if w.data.is_none() {
            return Err(
                "the right operand (weights) must be a constant 2-D matrix, but it is computed by the graph".into()
            );
        }
        let [k, n] = w.shape[..] else {
            return Err(format!("the right operand (weights) must be a constant 2-D matrix, got shape {:?}", w.shape));
        };
        let Some((&xk, lead)) = x.shape.split_last() else {
            return Err("the left operand is a scalar; MatMul needs at least 1 dim".into());
        };
        if xk != k {
            return Err(format!("the input has shape {:?} (K = {xk}) but the weights have shape [{k}, {n}]", x.shape));
        }
        if let Some(b) = inputs.get(2).copied().flatten() {
            if b.data.is_none() || b.shape.iter().product::<usize>() != n {
                return Err(format!("the bias (input 2) must be a constant of {n} values, got shape {:?}", b.shape));
            }
        }
        let mut out = lead.to_vec();
        out.push(n);
        Ok(vec![out])
    }

    /// fp32 reference evaluation.
    pub fn eval(&self, inputs: &[Option<&Array>]) -> Result<Vec<Array>, String> {
        let shape = self.infer(&infos_of(inputs))?.remove(0);
        let x = required(inputs, 0)?;
        let w = required(inputs, 1)?;
        let (k, n) = (w.shape[0], w.shape[1]);
        let rows: usize = x.shape[..x.shape.len() - 1].iter().product();
        let mut out = vec![0.0f32; rows * n];
        sgemm(
            1.0,
            MatRef::row_major(&x.data, rows, k),
            MatRef::row_major(&w.data, k, n),
            0.0,
            MatMut { data: &mut out, rows, cols: n, rs: n },
        );
        if let Some(b) = inputs.get(2).copied().flatten().filter(|_| n > 0) {
            for row in out.chunks_mut(n) {
                for (v, bias) in row.iter_mut().zip(&b.data) {
                    *v += bias;
                }
            }
        }
        if !self.act.is_none() {
            let (lo, hi) = (self.act.min, self.act.max);
            for v in &mut out {
                *v = v.max(lo).min(hi);
            }
        }
        Ok(vec![Array::new(shape, out)])
    }
}
