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
    let _ = (p, input, weights, q, output);
}
