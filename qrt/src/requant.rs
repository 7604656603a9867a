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

use crate::fmath::pow2;

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
    ///
    /// A multiplier just below `2^30` (within a relative `2^-32`) whose mantissa rounds up
    /// to the next power of two would need shift 0, so it is rejected as well.
    pub fn from_f64(real: f64) -> Option<Requant> {
        // The range test also rejects NaN and infinities.
        if !(0.0..pow2(30)).contains(&real) {
            return None;
        }
        if real < pow2(-32) {
            return Some(Requant { multiplier: 0, shift: 1 });
        }
        // `real` is normal here, so `real = frac * 2^exponent` with `frac` in `[0.5, 1)` half
        // the significand `1.f`, both read from the bits (a hand-written `frexp`).
        let bits = real.to_bits();
        let mut exponent = ((bits >> 52) & 0x7ff) as i32 - 1022;
        let significand = (bits & ((1u64 << 52) - 1)) | (1u64 << 52);
        // `frac * 2^31 = significand * 2^-22`; round half up (the value is positive, so this
        // is also half away from zero).
        let mut mantissa = (significand + (1u64 << 21)) >> 22;
        if mantissa == 1u64 << 31 {
            mantissa >>= 1;
            exponent += 1;
        }
        let shift = 31 - exponent;
        if !(1..=62).contains(&shift) {
            return None;
        }
        Some(Requant { multiplier: mantissa as i32, shift })
    }

    /// The real value this encoding stands for.
    pub fn to_f64(self) -> f64 {
        self.multiplier as f64 * pow2(self.shift.saturating_neg())
    }

    /// `(acc * m + 2^(s-1)) >> s` in 64 bits, saturated to i32.
    #[inline(always)]
    pub fn apply(self, acc: i32) -> i32 {
        // `|acc * m| <= 2^62` and the rounding term is at most `2^61`, so the sum fits i64.
        let product = acc as i64 * self.multiplier as i64;
        let rounded = (product + (1i64 << (self.shift - 1))) >> self.shift;
        rounded.clamp(i32::MIN as i64, i32::MAX as i64) as i32
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
        // `max` then `min` rather than `clamp`, which would panic if `min > max`.
        v.saturating_add(self.zero_point).max(self.min as i32).min(self.max as i32) as i8
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
