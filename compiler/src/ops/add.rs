//! `Add`: elementwise sum of two tensors of the same shape (residual connections), or of
//! a tensor and a constant that broadcasts to it under numpy rules (a scalar, a per-channel
//! `[C, 1, 1]` / `[1, C, 1, 1]` bias, ...). The output always has the activation's shape:
//! an activation is never broadcast.
//!
//! Integer form (see `qrt::add`): both inputs are rescaled to the output scale with one
//! common shift and a single rounding.

use super::{check_input_count, required, required_info, Clamp, InputInfo};
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

/// The numpy broadcast of two shapes, if they are compatible.
pub(crate) fn broadcast_shape(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let rank = a.len().max(b.len());
    let dim = |s: &[usize], i: usize| if i + s.len() < rank { 1 } else { s[i + s.len() - rank] };
    (0..rank)
        .map(|i| match (dim(a, i), dim(b, i)) {
            (x, y) if x == y => Some(x),
            (1, y) => Some(y),
            (x, 1) => Some(x),
            _ => None,
        })
        .collect()
}

/// Element strides of `shape` read as an array of shape `out` (0 along broadcast axes).
fn broadcast_strides(shape: &[usize], out: &[usize]) -> Vec<usize> {
    let mut strides = vec![0; out.len()];
    let mut step = 1;
    for (i, &d) in shape.iter().enumerate().rev() {
        let o = out.len() - shape.len() + i;
        strides[o] = if d == 1 { 0 } else { step };
        step *= d;
    }
    strides
}

/// `a + b` with numpy broadcasting to `out` (which both shapes broadcast to).
fn add_broadcast(a: &Array, b: &Array, out: &[usize]) -> Vec<f32> {
    if a.shape == b.shape {
        return a.data.iter().zip(&b.data).map(|(x, y)| x + y).collect();
    }
    let total: usize = out.iter().product();
    let mut data = Vec::with_capacity(total);
    if total == 0 {
        return data;
    }
    let rank = out.len();
    let (sa, sb) = (broadcast_strides(&a.shape, out), broadcast_strides(&b.shape, out));
    let inner = if rank == 0 { 1 } else { out[rank - 1] };
    let (ia, ib) = if rank == 0 { (0, 0) } else { (sa[rank - 1], sb[rank - 1]) };
    let mut index = vec![0usize; rank.saturating_sub(1)];
    loop {
        let oa: usize = index.iter().zip(&sa).map(|(i, s)| i * s).sum();
        let ob: usize = index.iter().zip(&sb).map(|(i, s)| i * s).sum();
        match (ia, ib) {
            (1, 1) => data.extend(a.data[oa..oa + inner].iter().zip(&b.data[ob..ob + inner]).map(|(x, y)| x + y)),
            (1, 0) => data.extend(a.data[oa..oa + inner].iter().map(|x| x + b.data[ob])),
            (0, 1) => data.extend(b.data[ob..ob + inner].iter().map(|y| a.data[oa] + y)),
            _ => data.extend(std::iter::repeat_n(a.data[oa] + b.data[ob], inner)),
        }
        // Advance the outer index like an odometer.
        let mut axis = index.len();
        loop {
            if axis == 0 {
                return data;
            }
            axis -= 1;
            index[axis] += 1;
            if index[axis] < out[axis] {
                break;
            }
            index[axis] = 0;
        }
    }
}

impl Add {
    /// Shape inference.
    pub fn infer(&self, inputs: &[Option<InputInfo<'_>>]) -> Result<Vec<Vec<usize>>, String> {
        check_input_count(inputs, 2, 2, "A, B")?;
        let a = required_info(inputs, 0)?;
        let b = required_info(inputs, 1)?;
        let out = broadcast_shape(a.shape, b.shape).ok_or_else(|| {
            format!("the inputs have shapes {:?} and {:?}, which do not broadcast together", a.shape, b.shape)
        })?;
        for (i, x) in [(0, a), (1, b)] {
            if x.data.is_none() && x.shape != out.as_slice() {
                return Err(format!(
                    "input {i} has shape {:?} but the sum has shape {:?}; only a constant input may be broadcast",
                    x.shape, out
                ));
            }
        }
        Ok(vec![out])
    }

    /// fp32 reference evaluation.
    pub fn eval(&self, inputs: &[Option<&Array>]) -> Result<Vec<Array>, String> {
        check_input_count(inputs, 2, 2, "A, B")?;
        let a = required(inputs, 0)?;
        let b = required(inputs, 1)?;
        let out = broadcast_shape(&a.shape, &b.shape).ok_or_else(|| {
            format!("the inputs have shapes {:?} and {:?}, which do not broadcast together", a.shape, b.shape)
        })?;
        let mut data = add_broadcast(a, b, &out);
        if !self.act.is_none() {
            let (lo, hi) = (self.act.min, self.act.max);
            for v in &mut data {
                *v = v.max(lo).min(hi);
            }
        }
        Ok(vec![Array::new(out, data)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_shapes() {
        assert_eq!(broadcast_shape(&[1, 3, 2, 2], &[3, 1, 1]), Some(vec![1, 3, 2, 2]));
        assert_eq!(broadcast_shape(&[1, 3, 2, 2], &[]), Some(vec![1, 3, 2, 2]));
        assert_eq!(broadcast_shape(&[2, 1], &[1, 3]), Some(vec![2, 3]));
        assert_eq!(broadcast_shape(&[1, 3, 2, 2], &[2, 1, 1]), None);
        assert_eq!(broadcast_strides(&[3, 1, 1], &[1, 3, 2, 2]), vec![0, 1, 0, 0]);
    }
}
