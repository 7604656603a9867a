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

use crate::requant::Requant;

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

/// Scalar reference max pool.
pub fn max_pool(p: &Pool2d, input: &[i8], output: &mut [i8]) {
    let _ = (p, input, output);
}

/// Scalar reference average pool.
pub fn average_pool(p: &Pool2d, input: &[i8], output: &mut [i8]) {
    let _ = (p, input, output);
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

/// Scalar reference global average pool (NHWC in, `[channels]` out).
pub fn global_average_pool(p: &GlobalAveragePool, input: &[i8], output: &mut [i8]) {
    let _ = (p, input, output);
}
