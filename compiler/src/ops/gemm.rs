//! `Gemm`: `Y = alpha * A' * B' + beta * C` with `A` the activation `[M, K]`, `B` a constant
//! (`transB` selects `[N, K]` or `[K, N]`), `C` an optional constant broadcast to `[M, N]`
//! (a scalar, `[N]`, `[1, N]`, `[M, 1]` or `[M, N]`). `transA = 1` is not supported.
//! Quantized as a fully connected layer with per-output (per-N) weight scales.

use super::linalg::{sgemm, MatMut, MatRef};
use super::{check_input_count, infos_of, required, required_info, Clamp, InputInfo};
use crate::ir::{Array, Attrs};

/// `Gemm` attributes.
#[derive(Clone, Debug, PartialEq)]
pub struct Gemm {
    /// Scales `A * B`.
    pub alpha: f32,
    /// Scales `C`.
    pub beta: f32,
    /// `B` is stored `[N, K]`.
    pub trans_b: bool,
    /// Activation fused in by the fusion pass.
    pub act: Clamp,
}

/// Checks that `c` broadcasts to `[m, n]` (ONNX unidirectional broadcasting).
fn check_c(c: &[usize], m: usize, n: usize) -> Result<(), String> {
    let ok = match *c {
        [] => true,
        [x] => x == n || x == 1,
        [r, x] => (r == m || r == 1) && (x == n || x == 1),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("C has shape {c:?}, which does not broadcast to the output [{m}, {n}]"))
    }
}

/// `[M, K, N]` from the shapes, after the checks.
fn dims(gemm: &Gemm, inputs: &[Option<InputInfo<'_>>]) -> Result<[usize; 3], String> {
    check_input_count(inputs, 2, 3, "A, B, optional C")?;
    let a = required_info(inputs, 0)?;
    let b = inputs.get(1).copied().flatten().ok_or("B (the weights, input 1) is missing")?;
    let [m, k] = a.shape[..] else {
        return Err(format!("A has shape {:?}; Gemm needs a 2-D input [M, K]", a.shape));
    };
    if b.data.is_none() {
        return Err("B (the weights, input 1) must be a constant".into());
    }
    let [b0, b1] = b.shape[..] else {
        return Err(format!("B has shape {:?}; Gemm needs a 2-D matrix", b.shape));
    };
    let (bk, n) = if gemm.trans_b { (b1, b0) } else { (b0, b1) };
    if bk != k {
        return Err(format!(
            "A has {k} columns but B (shape {:?}, transB = {}) expects {bk}",
            b.shape, gemm.trans_b as u8
        ));
    }
    if let Some(c) = inputs.get(2).copied().flatten() {
        if c.data.is_none() {
            return Err("C (the bias, input 2) must be a constant".into());
        }
        check_c(c.shape, m, n)?;
    }
    Ok([m, k, n])
}

impl Gemm {
    /// Parses ONNX attributes (rejects `transA = 1`).
    pub fn parse(attrs: &Attrs) -> Result<Self, String> {
        if attrs.int("transA", 0)? != 0 {
            return Err("transA = 1 is not supported (the activation must be [M, K])".into());
        }
        Ok(Gemm {
            alpha: attrs.float("alpha", 1.0)?,
            beta: attrs.float("beta", 1.0)?,
            trans_b: attrs.int("transB", 0)? != 0,
            act: Clamp::NONE,
        })
    }

    /// Shape inference.
    pub fn infer(&self, inputs: &[Option<InputInfo<'_>>]) -> Result<Vec<Vec<usize>>, String> {
        let [m, _, n] = dims(self, inputs)?;
        Ok(vec![vec![m, n]])
    }

    /// fp32 reference evaluation.
    pub fn eval(&self, inputs: &[Option<&Array>]) -> Result<Vec<Array>, String> {
        let [m, k, n] = dims(self, &infos_of(inputs))?;
        let a = required(inputs, 0)?;
        let b = required(inputs, 1)?;
        let mut out = vec![0.0f32; m * n];
        let mut beta = 0.0;
        if let Some(c) = inputs.get(2).copied().flatten() {
            if self.beta != 0.0 && n > 0 {
                // Strides of C read as [m, n] (0 along broadcast axes).
                let (rs, cs) = match c.shape[..] {
                    [r, x] => (if r == 1 { 0 } else { x }, usize::from(x != 1)),
                    [x] => (0, usize::from(x != 1)),
                    _ => (0, 0),
                };
                for (i, row) in out.chunks_exact_mut(n).enumerate() {
                    for (j, v) in row.iter_mut().enumerate() {
                        *v = self.beta * c.data[i * rs + j * cs];
                    }
                }
                beta = 1.0;
            }
        }
        let bm = if self.trans_b { MatRef::row_major(&b.data, n, k).t() } else { MatRef::row_major(&b.data, k, n) };
        sgemm(
            self.alpha,
            MatRef::row_major(&a.data, m, k),
            bm,
            beta,
            MatMut { data: &mut out, rows: m, cols: n, rs: n },
        );
        if !self.act.is_none() {
            let (lo, hi) = (self.act.min, self.act.max);
            for v in &mut out {
                *v = v.max(lo).min(hi);
            }
        }
        Ok(vec![Array::new(vec![m, n], out)])
    }
}
