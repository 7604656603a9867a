//! Requantization: int32 accumulator to int8 output, the one rounding every op shares.
//!
//! A real multiplier `M > 0` is encoded once, at compile time, as a Q31 mantissa `m` in
//! `[2^30, 2^31)` and a right shift `s` such that `M ≈ m * 2^-s` (TFLite's
//! `QuantizeMultiplier`, with `s = 31 - exponent`). Applied with a single rounding, ties
//! upward (toward +inf), computed in 64 bits:
//!
//! ```text
//! requantize(acc) = (acc * m + 2^(s-1)) >> s          (arithmetic shift, i64)
//! out             = clamp(requantize(acc) + z_out, lo, hi)
//! ```
//!
//! `s` is in `[1, 62]`. Multipliers below `2^-32` encode as `m = 0` (the output is then the
//! zero point); multipliers of `2^30` or more are rejected at compile time.

/// An encoded real multiplier: `M ≈ multiplier * 2^-shift`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Requant {
    /// Q31 mantissa in `[2^30, 2^31)`, or 0.
    pub multiplier: i32,
    /// Right shift in `[1, 62]`.
    pub shift: i32,
}

impl Requant {
    /// Encodes a real multiplier (must be finite and `>= 0`). Returns `None` for
    /// multipliers `>= 2^30`, negative or non-finite ones.
    pub fn from_f64(real: f64) -> Option<Requant> {
        let _ = real;
        None
    }

    /// The real value this encoding stands for.
    pub fn to_f64(self) -> f64 {
        self.multiplier as f64 * (-(self.shift as f64)).exp2()
    }

    /// `(acc * m + 2^(s-1)) >> s` in 64 bits, saturated to i32.
    #[inline(always)]
    pub fn apply(self, acc: i32) -> i32 {
        let _ = acc;
        0
    }
}

/// The output side of a requantizing op: zero point and clamp bounds (the fused activation
/// already intersected with `[-128, 127]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputQuant {
    /// Output zero point in `[-128, 127]`.
    pub zero_point: i32,
    /// Lowest output value.
    pub min: i8,
    /// Highest output value.
    pub max: i8,
}

impl OutputQuant {
    /// `clamp(v + zero_point, min, max)`.
    #[inline(always)]
    pub fn finish(self, v: i32) -> i8 {
        let _ = v;
        0
    }
}

/// Per-output-channel constants of a conv or fully connected layer: bias (zero-point
/// corrections folded in), multiplier and shift, one of each per channel.
#[derive(Clone, Copy, Debug)]
pub struct ChannelQuant<'a> {
    /// int32 bias at scale `s_in * s_w[c]`, minus `z_in * Σ w_q[c]`.
    pub bias: &'a [i32],
    /// Q31 mantissas.
    pub multiplier: &'a [i32],
    /// Right shifts in `[1, 62]`.
    pub shift: &'a [i32],
}

impl ChannelQuant<'_> {
    /// Number of channels (asserts the three slices agree).
    pub fn channels(&self) -> usize {
        assert!(self.multiplier.len() == self.bias.len() && self.shift.len() == self.bias.len());
        self.bias.len()
    }

    /// Channel `c`'s requantization.
    #[inline(always)]
    pub fn requant(&self, c: usize) -> Requant {
        Requant { multiplier: self.multiplier[c], shift: self.shift[c] }
    }
}
