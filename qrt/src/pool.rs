//! Pooling over NHWC int8 tensors.
//!
//! Max pool: padded cells never win; the output keeps the input's quantization.
//!
//! Average pool (output keeps the input's quantization): over the window's cells inside
//! the input, `sum = Σ (x - z)`; `count` is the number of those cells, or, with
//! `count_include_pad`, the window size clipped to the padded input (ONNX semantics);
//! `out = z + floor((2 * sum + count) / (2 * count))` (rounding half up).
//!
//! Global average pool (own output quantization):
//! `out = clamp(z_out + requantize(Σ_{h,w} (x - z_in), M), -128, 127)`, `M = s_in / (s_out * H * W)`.

use core::ops::Range;

use crate::requant::{OutputQuant, Requant};
use crate::wide::wide;

/// Window geometry of a max or average pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool2d {
    /// Input height.
    pub in_h: usize,
    /// Input width.
    pub in_w: usize,
    /// Channels.
    pub channels: usize,
    /// Output height.
    pub out_h: usize,
    /// Output width.
    pub out_w: usize,
    /// Kernel height.
    pub kernel_h: usize,
    /// Kernel width.
    pub kernel_w: usize,
    /// Vertical stride.
    pub stride_h: usize,
    /// Horizontal stride.
    pub stride_w: usize,
    /// Rows of padding above.
    pub pad_top: usize,
    /// Columns of padding on the left.
    pub pad_left: usize,
    /// Rows of padding below (bounds `count_include_pad` windows).
    pub pad_bottom: usize,
    /// Columns of padding on the right.
    pub pad_right: usize,
    /// Average only: count padded cells.
    pub count_include_pad: bool,
    /// Zero point of input and output (average only).
    pub zero_point: i32,
}

wide! {
/// Max pool (the code is the scalar reference, compiled for each vector width).
///
/// A window that lies entirely in the padding has no cell to take the maximum of and
/// writes -128 (the int8 stand-in for the maximum of nothing, `-inf`).
pub fn max_pool / max_pool_on(p: &Pool2d, input: &[i8], output: &mut [i8]) {
    check(p, input, output);
    let (rows, cols) = p.axes();
    let c = p.channels;
    for oy in 0..p.out_h {
        let ys = rows.inside(oy);
        for ox in 0..p.out_w {
            let xs = cols.inside(ox);
            let out = &mut output[(oy * p.out_w + ox) * c..][..c];
            // Whole blocks of channels in a fixed-size accumulator (straight-line vector
            // code, one bounds check per cell), then the remaining channels.
            let mut c0 = 0;
            while c0 + MAX_BLOCK <= c {
                let mut acc = [i8::MIN; MAX_BLOCK];
                for iy in ys.clone() {
                    for ix in xs.clone() {
                        let cell: &[i8; MAX_BLOCK] =
                            input[(iy * p.in_w + ix) * c + c0..][..MAX_BLOCK].try_into().expect("a block");
                        for (a, &x) in acc.iter_mut().zip(cell) {
                            *a = (*a).max(x);
                        }
                    }
                }
                out[c0..c0 + MAX_BLOCK].copy_from_slice(&acc);
                c0 += MAX_BLOCK;
            }
            let out = &mut out[c0..];
            out.fill(i8::MIN);
            for iy in ys.clone() {
                for ix in xs.clone() {
                    let cell = &input[(iy * p.in_w + ix) * c + c0..][..c - c0];
                    for (o, &x) in out.iter_mut().zip(cell) {
                        *o = (*o).max(x);
                    }
                }
            }
        }
    }
}
}

/// Channels per block of the max pool's inner loop.
const MAX_BLOCK: usize = 64;

wide! {
/// Average pool (the code is the scalar reference, compiled for each vector width).
///
/// A window with nothing to count (no input cell; with `count_include_pad`, no cell of
/// the padded input, which only an output size past the padded extent can cause) writes
/// the zero point: the average of nothing is taken as 0.0.
pub fn average_pool / average_pool_on(p: &Pool2d, input: &[i8], output: &mut [i8]) {
    check(p, input, output);
    let (rows, cols) = p.axes();
    for oy in 0..p.out_h {
        for ox in 0..p.out_w {
            let (ys, xs) = (rows.inside(oy), cols.inside(ox));
            let count =
                if p.count_include_pad { rows.padded_count(oy) * cols.padded_count(ox) } else { ys.len() * xs.len() };
            let out = &mut output[(oy * p.out_w + ox) * p.channels..][..p.channels];
            for (c, o) in out.iter_mut().enumerate() {
                let mut sum = 0i32;
                for iy in ys.clone() {
                    for ix in xs.clone() {
                        sum += input[(iy * p.in_w + ix) * p.channels + c] as i32 - p.zero_point;
                    }
                }
                *o = saturate(p.zero_point + round_mean(sum, count as i32));
            }
        }
    }
}
}

impl Pool2d {
    /// The vertical and horizontal window geometry.
    fn axes(&self) -> (Axis, Axis) {
        let rows = Axis {
            kernel: self.kernel_h,
            stride: self.stride_h,
            pad_before: self.pad_top,
            extent: self.in_h,
            pad_after: self.pad_bottom,
        };
        let cols = Axis {
            kernel: self.kernel_w,
            stride: self.stride_w,
            pad_before: self.pad_left,
            extent: self.in_w,
            pad_after: self.pad_right,
        };
        (rows, cols)
    }
}

/// One spatial axis of a pooling window. Positions are "padded coordinates" (input index
/// plus `pad_before`), so that window `o` starts at `o * stride`.
#[derive(Clone, Copy)]
struct Axis {
    kernel: usize,
    stride: usize,
    pad_before: usize,
    extent: usize,
    pad_after: usize,
}

impl Axis {
    /// The input indices that window `o` covers (possibly none).
    fn inside(self, o: usize) -> Range<usize> {
        let start = o * self.stride;
        let begin = start.max(self.pad_before);
        let end = (start + self.kernel).min(self.pad_before + self.extent).max(begin);
        begin - self.pad_before..end - self.pad_before
    }

    /// The number of positions window `o` covers within the padded input
    /// `[-pad_before, extent + pad_after)`.
    fn padded_count(self, o: usize) -> usize {
        let start = o * self.stride;
        let end = (start + self.kernel).min(self.pad_before + self.extent + self.pad_after);
        end.saturating_sub(start)
    }
}

/// `floor((2 * sum + count) / (2 * count))`: `sum / count` rounded half up (a true floor,
/// also for negative sums); 0 when `count` is 0.
fn round_mean(sum: i32, count: i32) -> i32 {
    if count == 0 {
        return 0;
    }
    (2 * sum + count).div_euclid(2 * count)
}

/// Asserts that the slices match the pool's shape.
fn check(p: &Pool2d, input: &[i8], output: &[i8]) {
    assert!(input.len() == p.in_h * p.in_w * p.channels, "pool: input length does not match the shape");
    assert!(output.len() == p.out_h * p.out_w * p.channels, "pool: output length does not match the shape");
}

/// Clamps to the int8 range. A rounded mean lies between the window's smallest and largest
/// values (or 0), so for the average pool this only guards against out-of-range zero points.
fn saturate(v: i32) -> i8 {
    v.clamp(i8::MIN as i32, i8::MAX as i32) as i8
}

/// Constants of a global average pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GlobalAveragePool {
    /// `H * W`.
    pub pixels: usize,
    /// Channels.
    pub channels: usize,
    /// Input zero point.
    pub in_zero_point: i32,
    /// `s_in / (s_out * pixels)`.
    pub requant: Requant,
    /// Output zero point.
    pub out_zero_point: i32,
}

wide! {
/// Global average pool, NHWC in, `[channels]` out (the code is the scalar reference,
/// compiled for each vector width).
pub fn global_average_pool / global_average_pool_on(p: &GlobalAveragePool, input: &[i8], output: &mut [i8]) {
    assert!(input.len() == p.pixels * p.channels, "global_average_pool: input length is not pixels * channels");
    assert!(output.len() == p.channels, "global_average_pool: output length is not channels");
    let out = OutputQuant { zero_point: p.out_zero_point, min: i8::MIN, max: i8::MAX };
    // Sum a block of channels over all pixels with contiguous reads; Σ (x - z) is computed
    // as Σ x - pixels * z, the same integer (|Σ x| <= 128 * pixels, far inside i32).
    const BLOCK: usize = 64;
    let zero_sum = (p.pixels as i32).wrapping_mul(p.in_zero_point);
    for c0 in (0..p.channels).step_by(BLOCK) {
        let width = BLOCK.min(p.channels - c0);
        let mut acc = [0i32; BLOCK];
        for px in 0..p.pixels {
            let row = &input[px * p.channels + c0..][..width];
            for (a, &x) in acc[..width].iter_mut().zip(row) {
                *a += x as i32;
            }
        }
        for (o, a) in output[c0..c0 + width].iter_mut().zip(&acc[..width]) {
            *o = out.finish(p.requant.apply(a.wrapping_sub(zero_sum)));
        }
    }
}
}
