//! Conversions at the model boundary between f32 and int8.
//!
//! Quantize: `q = clamp(round_half_away_from_zero(x / scale) + z, -128, 127)` in f32
//! (NaN maps to `z`, infinities saturate). Dequantize: `x = (q - z) as f32 * scale`.

/// Quantizes `input` into `output` (same length).
pub fn quantize(scale: f32, zero_point: i32, input: &[f32], output: &mut [i8]) {
    let _ = (scale, zero_point, input, output);
}

/// Quantizes one value.
pub fn quantize_one(scale: f32, zero_point: i32, x: f32) -> i8 {
    let _ = (scale, zero_point, x);
    0
}

/// Dequantizes `input` into `output` (same length).
pub fn dequantize(scale: f32, zero_point: i32, input: &[i8], output: &mut [f32]) {
    let _ = (scale, zero_point, input, output);
}
