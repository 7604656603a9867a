//! Depthwise 2-D convolution (groups = input channels = output channels, dilation 1) over
//! NHWC int8 tensors, with SIMD across channels.
//!
//! The same formula as [`crate::conv::conv2d`] with `groups == channels`:
//!
//! ```text
//! acc[oy][ox][c] = bias[c] + Σ_{ky,kx} x(oy * sh + ky - pad_top, ox * sw + kx - pad_left, c) * w[ky][kx][c]
//! out = clamp(requantize(acc, M[c]) + z_out, min, max)        (padding reads z_in)
//! ```
//!
//! Packed layout: tap-major, channels contiguous and padded with zeros to a multiple of
//! [`CB`] = 16: `packed[(ky * kw + kx) * cp + c] = w[c][ky][kx]`, `cp = ceil(C / 16) * 16`.

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "x86_64")]
mod avxvnni;
#[cfg(target_arch = "aarch64")]
mod neon;
mod scalar;

pub use scalar::depthwise as depthwise_scalar;

use crate::cpu::{backend, Backend};
use crate::requant::{ChannelQuant, OutputQuant};

/// Channel block of the packed layout.
pub const CB: usize = 16;

/// Shape and quantization constants of one depthwise layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Depthwise {
    /// Input height.
    pub in_h: usize,
    /// Input width.
    pub in_w: usize,
    /// Channels (input = output).
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
    /// Value read for padded taps.
    pub input_zero_point: i32,
    /// Output zero point and clamp.
    pub output: OutputQuant,
}

/// Channels rounded up to the packed block.
pub const fn padded_channels(c: usize) -> usize {
    c.div_ceil(CB) * CB
}

/// Bytes of packed weights.
pub const fn packed_len(kernel_h: usize, kernel_w: usize, channels: usize) -> usize {
    kernel_h * kernel_w * padded_channels(channels)
}

/// Packs conv weights `w` (`[c][kh][kw]`, as [`crate::conv::conv2d`] reads a depthwise
/// layer) into the tap-major layout.
pub fn pack(w: &[i8], kernel_h: usize, kernel_w: usize, channels: usize, out: &mut [i8]) {
    let taps = kernel_h * kernel_w;
    assert!(
        w.len() == taps * channels && out.len() == packed_len(kernel_h, kernel_w, channels),
        "depthwise::pack: wrong lengths"
    );
    let cp = padded_channels(channels);
    out.fill(0);
    for c in 0..channels {
        for t in 0..taps {
            out[t * cp + c] = w[c * taps + t];
        }
    }
}

/// Checks slice lengths against the shape (every backend relies on this).
pub(crate) fn check(p: &Depthwise, input: &[i8], packed: &[i8], q: &ChannelQuant<'_>, output: &[i8]) {
    assert!(input.len() == p.in_h * p.in_w * p.channels, "depthwise: input of the wrong length");
    assert!(output.len() == p.out_h * p.out_w * p.channels, "depthwise: output of the wrong length");
    assert!(
        packed.len() == packed_len(p.kernel_h, p.kernel_w, p.channels),
        "depthwise: packed weights of the wrong length"
    );
    assert!(q.channels() == p.channels, "depthwise: per-channel constants of the wrong length");
    assert!(
        p.stride_h >= 1 && p.stride_w >= 1 && p.kernel_h >= 1 && p.kernel_w >= 1,
        "depthwise: zero stride or kernel"
    );
}

/// Runs the depthwise convolution on the selected backend.
pub fn depthwise(p: &Depthwise, input: &[i8], packed: &[i8], q: &ChannelQuant<'_>, output: &mut [i8]) {
    depthwise_on(backend(), p, input, packed, q, output)
}

/// Runs it on `b` (which must be available).
pub fn depthwise_on(b: Backend, p: &Depthwise, input: &[i8], packed: &[i8], q: &ChannelQuant<'_>, output: &mut [i8]) {
    check(p, input, packed, q, output);
    assert!(b.available(), "depthwise: backend {} is not available on this CPU", b.name());
    match b {
        #[cfg(target_arch = "x86_64")]
        Backend::Avx2 => avx2::depthwise(p, input, packed, q, output),
        #[cfg(target_arch = "x86_64")]
        Backend::AvxVnni => avxvnni::depthwise(p, input, packed, q, output),
        #[cfg(target_arch = "x86_64")]
        Backend::Avx512Vnni | Backend::Avx512Amx => avx512::depthwise(p, input, packed, q, output),
        #[cfg(target_arch = "aarch64")]
        Backend::Neon | Backend::NeonDot => neon::depthwise(p, input, packed, q, output),
        _ => scalar::depthwise(p, input, packed, q, output),
    }
}
