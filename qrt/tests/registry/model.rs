//! Independent models of the kernels: straight loops over unpacked weights, the input zero
//! point subtracted from every input instead of folded into the bias, sums in i64, and
//! requantization in i128 with a true division (`common::requantize_model`). They share
//! no packing, shifts or dispatch with `qrt`.

use qrt::requant::OutputQuant;

use crate::common::requantize_model;

/// One output byte: the accumulator `raw_bias + Σ (x - z_in) * w` taken modulo 2^32 (the
/// kernels' int32 accumulators wrap; with the zero point folded into the bias the sum is the
/// same modulo 2^32), requantized, saturated to i32, the zero point added with saturation,
/// then `max(min)` and `min(max)` in that order (so an inverted clamp gives `max`).
pub fn output(sum: i64, m: i32, s: i32, out: OutputQuant) -> i8 {
    let acc = sum as i32 as i64;
    let v = requantize_model(acc, m, s);
    let with_zero = (v + out.zero_point as i64).clamp(i32::MIN as i64, i32::MAX as i64);
    with_zero.max(out.min as i64).min(out.max as i64) as i8
}

/// Per-channel constants of a model.
pub struct Channels<'a> {
    pub raw_bias: &'a [i32],
    pub multiplier: &'a [i32],
    pub shift: &'a [i32],
}

/// A strided GEMM: `out[r * out_stride + c]` for input rows `in_stride` apart and weights
/// `[n][k]`.
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    rows: usize,
    k: usize,
    input: &[i8],
    in_stride: usize,
    z_in: i32,
    weights: &[i8],
    q: &Channels<'_>,
    out: OutputQuant,
    output: &mut [i8],
    out_stride: usize,
) {
    let n = q.raw_bias.len();
    for r in 0..rows {
        for c in 0..n {
            let mut sum = q.raw_bias[c] as i64;
            for i in 0..k {
                sum += (input[r * in_stride + i] as i64 - z_in as i64) * weights[c * k + i] as i64;
            }
            output[r * out_stride + c] = self::output(sum, q.multiplier[c], q.shift[c], out);
        }
    }
}

/// Geometry of a convolution window.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    pub in_h: usize,
    pub in_w: usize,
    pub out_h: usize,
    pub out_w: usize,
    pub kernel_h: usize,
    pub kernel_w: usize,
    pub stride_h: usize,
    pub stride_w: usize,
    pub dilation_h: usize,
    pub dilation_w: usize,
    pub pad_top: usize,
    pub pad_left: usize,
}

impl Window {
    /// The input pixel tap `(ky, kx)` of output `(oy, ox)` reads, or `None` in the padding.
    fn tap(&self, oy: usize, ox: usize, ky: usize, kx: usize) -> Option<(usize, usize)> {
        let iy = (oy * self.stride_h + ky * self.dilation_h) as i64 - self.pad_top as i64;
        let ix = (ox * self.stride_w + kx * self.dilation_w) as i64 - self.pad_left as i64;
        let inside = (0..self.in_h as i64).contains(&iy) && (0..self.in_w as i64).contains(&ix);
        inside.then_some((iy as usize, ix as usize))
    }
}

/// A dense convolution (groups = 1), NHWC, weights `[out_c][ky][kx][in_c]`, output rows of
/// `out_stride` bytes per pixel. Padded taps add nothing (they read the zero point).
pub fn dense_conv(
    g: &Window,
    in_c: usize,
    input: &[i8],
    z_in: i32,
    weights: &[i8],
    q: &Channels<'_>,
    out: OutputQuant,
    output: &mut [i8],
    out_stride: usize,
) {
    let out_c = q.raw_bias.len();
    for oy in 0..g.out_h {
        for ox in 0..g.out_w {
            for m in 0..out_c {
                let mut sum = q.raw_bias[m] as i64;
                for ky in 0..g.kernel_h {
                    for kx in 0..g.kernel_w {
                        let Some((iy, ix)) = g.tap(oy, ox, ky, kx) else { continue };
                        for c in 0..in_c {
                            let x = input[(iy * g.in_w + ix) * in_c + c] as i64 - z_in as i64;
                            sum += x * weights[((m * g.kernel_h + ky) * g.kernel_w + kx) * in_c + c] as i64;
                        }
                    }
                }
                output[(oy * g.out_w + ox) * out_stride + m] = self::output(sum, q.multiplier[m], q.shift[m], out);
            }
        }
    }
}

/// A depthwise convolution, NHWC, weights `[c][ky][kx]`.
pub fn depthwise(
    g: &Window,
    input: &[i8],
    z_in: i32,
    weights: &[i8],
    q: &Channels<'_>,
    out: OutputQuant,
    output: &mut [i8],
) {
    let channels = q.raw_bias.len();
    let taps = g.kernel_h * g.kernel_w;
    for oy in 0..g.out_h {
        for ox in 0..g.out_w {
            for c in 0..channels {
                let mut sum = q.raw_bias[c] as i64;
                for ky in 0..g.kernel_h {
                    for kx in 0..g.kernel_w {
                        let Some((iy, ix)) = g.tap(oy, ox, ky, kx) else { continue };
                        let x = input[(iy * g.in_w + ix) * channels + c] as i64 - z_in as i64;
                        sum += x * weights[c * taps + ky * g.kernel_w + kx] as i64;
                    }
                }
                output[(oy * g.out_w + ox) * channels + c] = self::output(sum, q.multiplier[c], q.shift[c], out);
            }
        }
    }
}

/// `clamp(z_out + floor((acc + 2^(s-1)) / 2^s), min, max)` with
/// `acc = (a - z_a) * m_a + (b - z_b) * m_b`, in i128.
pub fn add(a: i8, b: i8, z: (i32, i32), m: (i32, i32), shift: i32, out: OutputQuant) -> i8 {
    let acc = (a as i128 - z.0 as i128) * m.0 as i128 + (b as i128 - z.1 as i128) * m.1 as i128;
    let v = (acc + (1i128 << (shift - 1))).div_euclid(1i128 << shift);
    (v + out.zero_point as i128).max(out.min as i128).min(out.max as i128) as i8
}

/// `clamp(round_half_away(x / scale) + z, -128, 127)` with std's `f32::round` and the sum
/// in i64 (`as` saturates infinities); NaN gives the zero point (saturated). The formula
/// of the contract, for zero points in int8 (`quantize_one` clamps `x / scale` to ±1024
/// first, which changes no result there).
pub fn quantize(scale: f32, zero_point: i32, x: f32) -> i8 {
    let scaled = x / scale;
    let q = if scaled.is_nan() { zero_point as i64 } else { (scaled.round() as i64).saturating_add(zero_point as i64) };
    q.clamp(-128, 127) as i8
}
