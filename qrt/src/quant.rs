//! Conversions at the model boundary between f32 and int8.
//!
//! Quantize: `q = clamp(round_half_away_from_zero(x / scale) + z, -128, 127)` in f32
//! (NaN maps to `z`, infinities saturate). Dequantize: `x = (q - z) as f32 * scale`.

use crate::fmath::round_half_away_f32;
use crate::wide::wide;

wide! {
/// Quantizes `input` into `output` (same length): [`quantize_one`] on every element,
/// written without branches so that the compiler vectorizes it (at the widest vectors the
/// CPU has: see `wide.rs`).
///
/// The quotient `x / scale` is first taken as `x * (1 / scale)`, chunk by chunk: the two
/// differ by at most 4 units in the last place, so they round to the same integer unless
/// the product lies that close to a half. A chunk with any element within twice that
/// distance of a half is done again by division (about one chunk in a few hundred for
/// values spread over the int8 range), so the bytes are always those of the division.
pub fn quantize / quantize_on(scale: f32, zero_point: i32, input: &[f32], output: &mut [i8]) {
    assert!(input.len() == output.len(), "quantize: input and output lengths differ");
    // Kept far inside i32 so that the additions below cannot overflow.
    let z = zero_point.clamp(-1 << 20, 1 << 20);
    let inv = 1.0 / scale;
    // A reciprocal that is infinite, zero or subnormal has lost the precision the bound
    // above needs.
    let by_product = inv.is_normal();
    for (out, x) in output.chunks_mut(QUANTIZE_CHUNK).zip(input.chunks(QUANTIZE_CHUNK)) {
        if !(by_product && quantize_by_product(inv, z, x, out)) {
            quantize_by_division(scale, z, x, out);
        }
    }
}
}

/// Elements per chunk of [`quantize`]: the unit done again by division.
const QUANTIZE_CHUNK: usize = 64;

/// `1.5 * 2^23`: adding it to an `|s| < 2^22` rounds `s` to the nearest integer, ties to
/// even, and leaves that integer in the low bits of the sum's representation.
const MAGIC: f32 = 12_582_912.0;

/// `clamp(round(x * inv) + z)` for every element, false (and `out` to be overwritten) if
/// any product lies within `|s| * 2^-21` of a half: only there can the rounding of the
/// product and of the quotient `x / scale` differ. (`inv = 1 / scale` in f32 is within
/// 2^-24 of the real reciprocal, relatively, and the product adds 2^-24: the product is
/// within `4 * 2^-24 * |s|` of the quotient, which itself is correctly rounded; `t`
/// below is exact, and products below 1/8 in magnitude, where the check is not this
/// sharp, are never near a half.)
#[inline(always)]
fn quantize_by_product(inv: f32, z: i32, input: &[f32], output: &mut [i8]) -> bool {
    let mut near = false;
    for (q, &x) in output.iter_mut().zip(input) {
        let s = x * inv;
        let s = if s.is_nan() { 0.0 } else { s.clamp(-1024.0, 1024.0) };
        let biased = s + MAGIC;
        let t = s - (biased - MAGIC);
        near |= 0.5 - t.abs() <= s.abs() * (1.0 / 2_097_152.0);
        let r = biased.to_bits() as i32 - MAGIC.to_bits() as i32;
        *q = (r + z).clamp(i8::MIN as i32, i8::MAX as i32) as i8;
    }
    !near
}

/// [`quantize_one`] on every element (`z` already clamped), by division.
#[inline(always)]
fn quantize_by_division(scale: f32, z: i32, input: &[f32], output: &mut [i8]) {
    for (q, &x) in output.iter_mut().zip(input) {
        // The steps of `quantize_one` in another order, with no branch and no float-to-int
        // conversion. A NaN quotient becomes 0 (giving `z`, as `quantize_one` does), and
        // clamping to ±1024 changes no result (anything beyond saturates either way).
        let s = x / scale;
        let s = if s.is_nan() { 0.0 } else { s.clamp(-1024.0, 1024.0) };
        let biased = s + MAGIC;
        let even = biased - MAGIC;
        // `s - even` is exact and in `[-0.5, 0.5]`; it is ±0.5 only at a tie, which
        // rounding half away from zero breaks away from zero where ties-to-even went the
        // other way: up for positive `s`, down for negative.
        let tie = s - even;
        let away = (tie == 0.5 && s > 0.0) as i32 - (tie == -0.5 && s < 0.0) as i32;
        let t = biased.to_bits() as i32 - MAGIC.to_bits() as i32;
        *q = (t + away + z).clamp(i8::MIN as i32, i8::MAX as i32) as i8;
    }
}

/// Quantizes one value.
pub fn quantize_one(scale: f32, zero_point: i32, x: f32) -> i8 {
    let scaled = x / scale;
    if scaled.is_nan() {
        return saturate(zero_point);
    }
    // Clamping to a bound far outside the int8 range before the conversion changes no
    // result and keeps the integer addition below from overflowing. Integers of this size
    // are exact in f32, so adding the zero point in i32 equals adding it in f32.
    let rounded = round_half_away_f32(scaled).clamp(-1024.0, 1024.0) as i32;
    saturate(rounded.saturating_add(zero_point))
}

wide! {
/// Dequantizes `input` into `output` (same length).
pub fn dequantize / dequantize_on(scale: f32, zero_point: i32, input: &[i8], output: &mut [f32]) {
    assert!(input.len() == output.len(), "dequantize: input and output lengths differ");
    for (x, &q) in output.iter_mut().zip(input) {
        *x = (q as i32 - zero_point) as f32 * scale;
    }
}
}

/// Clamps to the int8 range.
fn saturate(v: i32) -> i8 {
    v.clamp(i8::MIN as i32, i8::MAX as i32) as i8
}
