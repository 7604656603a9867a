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
pub fn conv2d(p: &Conv2d, input: &[i8], weights: &[i8], q: &ChannelQuant<'_>, output: &mut [i8]) {
    let _ = (p, input, weights, q, output);
}
