//! Quantization parameters: activation ranges to scale and zero point, per-channel weight
//! quantization, bias and multiplier encoding, clamp bounds. See `docs/numerics.md`.

use crate::ops::Clamp;

/// Scale and zero point of an int8 activation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QParams {
    /// Real value of one step (> 0).
    pub scale: f32,
    /// The int8 value standing for 0.0, in `[-128, 127]`.
    pub zero_point: i32,
}

/// Asymmetric int8 parameters for the range `[min, max]`, widened to contain 0.0 so that
/// 0.0 is exactly representable. A degenerate range (all zeros) gets scale `1/255`.
pub fn activation_qparams(min: f32, max: f32) -> QParams {
    let lo = (min as f64).min(0.0);
    let hi = (max as f64).max(0.0);
    let range = hi - lo;
    if range <= f32::MIN_POSITIVE as f64 * 255.0 {
        return QParams { scale: 1.0 / 255.0, zero_point: -128 };
    }
    let scale = (range / 255.0) as f32;
    let zero_point = (-128.0 - lo / scale as f64).round().clamp(-128.0, 127.0) as i32;
    QParams { scale, zero_point }
}

/// Symmetric per-channel int8 weights: `channels` rows of `w`, each with scale
/// `max|w| / 127` (1.0 for an all-zero row) and values in `[-127, 127]`.
pub fn quantize_per_channel(w: &[f32], channels: usize) -> (Vec<i8>, Vec<f32>) {
    let per = w.len() / channels.max(1);
    let mut q = Vec::with_capacity(w.len());
    let mut scales = Vec::with_capacity(channels);
    for row in w.chunks(per.max(1)).take(channels) {
        let max_abs = row.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let scale = if max_abs > 0.0 { max_abs / 127.0 } else { 1.0 };
        scales.push(scale);
        q.extend(row.iter().map(|&v| (v as f64 / scale as f64).round().clamp(-127.0, 127.0) as i8));
    }
    (q, scales)
}

/// Integer clamp bounds of a fused activation at the output's quantization.
pub fn clamp_bounds(act: Clamp, q: QParams) -> (i8, i8) {
    let bound = |v: f32, default: i32| -> i32 {
        if v.is_finite() {
            (q.zero_point as f64 + (v as f64 / q.scale as f64).round()).clamp(-128.0, 127.0) as i32
        } else {
            default
        }
    };
    let lo = bound(act.min, -128);
    let hi = bound(act.max, 127).max(lo);
    (lo as i8, hi as i8)
}
