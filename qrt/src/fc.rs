//! Fully connected (Gemm / MatMul with constant weights): `rows` independent rows,
//! weights `[out_features][in_features]`.
//!
//! ```text
//! acc = bias[n] + Σ_k x[r][k] * w[n][k]
//! out[r][n] = clamp(requantize(acc, M[n]) + z_out, min, max)
//! ```
//!
//! The input zero-point term `-z_in * Σ_k w[n][k]` is already folded into `bias`.

use crate::requant::{ChannelQuant, OutputQuant};

/// Shape and quantization constants of one fully connected layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FullyConnected {
    /// Independent input rows.
    pub rows: usize,
    /// `K`.
    pub in_features: usize,
    /// `N`.
    pub out_features: usize,
    /// Output zero point and clamp.
    pub output: OutputQuant,
}

/// Scalar reference fully connected layer.
pub fn fully_connected(p: &FullyConnected, input: &[i8], weights: &[i8], q: &ChannelQuant<'_>, output: &mut [i8]) {
    let (k, n) = (p.in_features, p.out_features);
    assert!(input.len() == p.rows * k, "fully_connected: input length is not rows * in_features");
    assert!(weights.len() == n * k, "fully_connected: weight length is not out_features * in_features");
    assert!(output.len() == p.rows * n, "fully_connected: output length is not rows * out_features");
    assert!(q.channels() == n, "fully_connected: channel constants do not match out_features");
    for r in 0..p.rows {
        let x = &input[r * k..][..k];
        let out = &mut output[r * n..][..n];
        for c in 0..n {
            let acc = q.bias[c].wrapping_add(dot(x, &weights[c * k..][..k]));
            out[c] = p.output.finish(q.requant(c).apply(acc));
        }
    }
}

/// `Σ x[i] * w[i]` in i32. Planned layers keep it far from overflow; the additions wrap
/// (as SIMD twins' do) so that a debug build never panics where a release build would not.
pub(crate) fn dot(x: &[i8], w: &[i8]) -> i32 {
    x.iter().zip(w).fold(0i32, |acc, (&x, &w)| acc.wrapping_add(x as i32 * w as i32))
}
