//! Elementwise add of two int8 tensors with their own scales into a third.
//!
//! Each input is rescaled to the output scale by an integer multiplier `m_a`, `m_b` in
//! `[0, 2^21)` sharing one right shift `s` in `[1, 30]` (chosen at compile time from
//! `s_a / s_out` and `s_b / s_out`), summed, and rounded once, ties upward, in 32 bits:
//!
//! ```text
//! acc = (a - z_a) * m_a + (b - z_b) * m_b          |acc| < 2^30
//! out = clamp(z_out + ((acc + 2^(s-1)) >> s), min, max)
//! ```

use crate::requant::OutputQuant;

/// Constants of one Add.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Add {
    /// Elements.
    pub len: usize,
    /// First input's zero point.
    pub a_zero_point: i32,
    /// First input's multiplier, `< 2^21`.
    pub a_multiplier: i32,
    /// Second input's zero point.
    pub b_zero_point: i32,
    /// Second input's multiplier, `< 2^21`.
    pub b_multiplier: i32,
    /// Common right shift in `[1, 30]`.
    pub shift: i32,
    /// Output zero point and clamp.
    pub output: OutputQuant,
}

/// Encodes two real rescale factors `r_a = s_a / s_out`, `r_b = s_b / s_out` as
/// `(m_a, m_b, shift)`: the largest shift in `[1, 30]` with both multipliers `< 2^21`.
/// `None` when a factor is negative, not finite, or `>= 2^20`.
pub fn encode_pair(r_a: f64, r_b: f64) -> Option<(i32, i32, i32)> {
    let _ = (r_a, r_b);
    None
}

/// Scalar reference add.
pub fn add(p: &Add, a: &[i8], b: &[i8], output: &mut [i8]) {
    let _ = (p, a, b, output);
}
