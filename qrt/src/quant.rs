//! Conversions at the model boundary between f32 and int8.
//!
//! Quantize: `q = clamp(round_half_away_from_zero(x / scale) + z, -128, 127)` in f32
//! (NaN maps to `z`, infinities saturate). Dequantize: `x = (q - z) as f32 * scale`.

use crate::fmath::round_half_away_f32;

/// Quantizes `input` into `output` (same length): [`quantize_one`] on every element,
/// written without branches so that the compiler vectorizes it.
pub fn quantize(scale: f32, zero_point: i32, input: &[f32], output: &mut [i8]) {
    assert!(input.len() == output.len(), "quantize: input and output lengths differ");
    // Kept far inside i32 so that the additions below cannot overflow.
    let z = zero_point.clamp(-1 << 20, 1 << 20);
    for (q, &x) in output.iter_mut().zip(input) {
        // The same steps as `quantize_one`, in another order: clamping the quotient to
        // ±1024 first changes no result (anything beyond saturates either way), and a
        // NaN stays NaN through the clamp, converts to 0 and compares false, giving `z`
        // as `quantize_one` does. `|s| <= 1024`, so the truncation and the fraction are
        // exact, and the fraction decides the rounding as in `round_half_away_f32`.
        let s = (x / scale).clamp(-1024.0, 1024.0);
        let t = s as i32;
        let fraction = s - t as f32;
        let away = (fraction >= 0.5) as i32 - (fraction <= -0.5) as i32;
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

/// Dequantizes `input` into `output` (same length).
pub fn dequantize(scale: f32, zero_point: i32, input: &[i8], output: &mut [f32]) {
    assert!(input.len() == output.len(), "dequantize: input and output lengths differ");
    for (x, &q) in output.iter_mut().zip(input) {
        *x = (q as i32 - zero_point) as f32 * scale;
    }
}

/// Clamps to the int8 range.
fn saturate(v: i32) -> i8 {
    v.clamp(i8::MIN as i32, i8::MAX as i32) as i8
}
