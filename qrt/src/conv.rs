//! 2-D convolution, NHWC int8 input and output, weights `[out_c][kh][kw][in_c / groups]`.
//!
//! For output pixel `(oy, ox)` and channel `c` in group `g = c / (out_c / groups)`:
//!
//! ```text
//! acc = bias[c] + Σ_{ky, kx, ci} x(iy, ix, g * cpg + ci) * w[c][ky][kx][ci]
//!   iy = oy * stride_h + ky * dilation_h - pad_top,  ix likewise
//!   x(iy, ix, ·) = input_zero_point when (iy, ix) falls in the padding
//! out[oy][ox][c] = clamp(requantize(acc, M[c]) + z_out, min, max)
//! ```

use crate::fc::dot;
use crate::requant::{ChannelQuant, OutputQuant};

/// Shape and quantization constants of one conv layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2d {
    /// Input height.
    pub in_h: usize,
    /// Input width.
    pub in_w: usize,
    /// Input channels.
    pub in_c: usize,
    /// Output height.
    pub out_h: usize,
    /// Output width.
    pub out_w: usize,
    /// Output channels.
    pub out_c: usize,
    /// Kernel height.
    pub kernel_h: usize,
    /// Kernel width.
    pub kernel_w: usize,
    /// Vertical stride.
    pub stride_h: usize,
    /// Horizontal stride.
    pub stride_w: usize,
    /// Vertical dilation.
    pub dilation_h: usize,
    /// Horizontal dilation.
    pub dilation_w: usize,
    /// Rows of padding above (bottom padding follows from the sizes).
    pub pad_top: usize,
    /// Columns of padding on the left.
    pub pad_left: usize,
    /// Group count (`in_c` and `out_c` are multiples of it).
    pub groups: usize,
    /// Value read for padded taps.
    pub input_zero_point: i32,
    /// Output zero point and clamp.
    pub output: OutputQuant,
}

impl Conv2d {
    /// Bytes of input, weights and output this layer reads and writes.
    pub const fn input_len(&self) -> usize {
        self.in_h * self.in_w * self.in_c
    }
    /// Number of int8 weights.
    pub const fn weight_len(&self) -> usize {
        self.out_c * self.kernel_h * self.kernel_w * (self.in_c / self.groups)
    }
    /// Number of output elements.
    pub const fn output_len(&self) -> usize {
        self.out_h * self.out_w * self.out_c
    }
}

/// Scalar reference convolution (the definition of the op).
///
/// Bottom and right padding are implied by `out_h` and `out_w`: taps below or to the right
/// of the input read the zero point too. The accumulator is i32 and its additions wrap,
/// as the SIMD twins' do; planned layers keep it far from overflow.
pub fn conv2d(p: &Conv2d, input: &[i8], weights: &[i8], q: &ChannelQuant<'_>, output: &mut [i8]) {
    check(p, input, weights, q, output);
    let in_per_group = p.in_c / p.groups;
    let out_per_group = p.out_c / p.groups;
    let filter_len = p.kernel_h * p.kernel_w * in_per_group;
    for oy in 0..p.out_h {
        for ox in 0..p.out_w {
            let pixel = &mut output[(oy * p.out_w + ox) * p.out_c..][..p.out_c];
            for c in 0..p.out_c {
                let first_in = c / out_per_group * in_per_group;
                let filter = &weights[c * filter_len..][..filter_len];
                let acc = q.bias[c].wrapping_add(window_dot(p, input, filter, oy, ox, first_in));
                pixel[c] = p.output.finish(q.requant(c).apply(acc));
            }
        }
    }
}

/// Asserts that the slices match the layer's shape.
fn check(p: &Conv2d, input: &[i8], weights: &[i8], q: &ChannelQuant<'_>, output: &[i8]) {
    assert!(
        p.groups > 0 && p.in_c.is_multiple_of(p.groups) && p.out_c.is_multiple_of(p.groups),
        "conv2d: groups must divide in_c and out_c"
    );
    assert!(input.len() == p.input_len(), "conv2d: input length does not match the shape");
    assert!(weights.len() == p.weight_len(), "conv2d: weight length does not match the shape");
    assert!(output.len() == p.output_len(), "conv2d: output length does not match the shape");
    assert!(q.channels() == p.out_c, "conv2d: channel constants do not match out_c");
}

/// `Σ_{ky, kx, ci} x(iy, ix, first_in + ci) * filter[ky][kx][ci]` for output pixel
/// `(oy, ox)`, with the input zero point read for taps in the padding.
fn window_dot(p: &Conv2d, input: &[i8], filter: &[i8], oy: usize, ox: usize, first_in: usize) -> i32 {
    let in_per_group = p.in_c / p.groups;
    let mut acc = 0i32;
    for ky in 0..p.kernel_h {
        let iy = tap(oy, ky, p.stride_h, p.dilation_h, p.pad_top, p.in_h);
        for kx in 0..p.kernel_w {
            let ix = tap(ox, kx, p.stride_w, p.dilation_w, p.pad_left, p.in_w);
            let w = &filter[(ky * p.kernel_w + kx) * in_per_group..][..in_per_group];
            let term = match (iy, ix) {
                (Some(iy), Some(ix)) => dot(&input[(iy * p.in_w + ix) * p.in_c + first_in..][..in_per_group], w),
                _ => padding_dot(p.input_zero_point, w),
            };
            acc = acc.wrapping_add(term);
        }
    }
    acc
}

/// The input row or column that kernel tap `k` of output position `o` reads, or `None`
/// when it falls in the padding (before the input or past its end).
fn tap(o: usize, k: usize, stride: usize, dilation: usize, pad: usize, extent: usize) -> Option<usize> {
    (o * stride + k * dilation).checked_sub(pad).filter(|&i| i < extent)
}

/// `Σ z * w[i]`: a padded tap's contribution.
fn padding_dot(zero_point: i32, w: &[i8]) -> i32 {
    w.iter().fold(0i32, |acc, &w| acc.wrapping_add(zero_point.wrapping_mul(w as i32)))
}
