//! The aarch64 depthwise convolution: NEON across 16 channels at a time (the packed
//! block), for the baseline and dot-product backends alike (`sdot` sums across the
//! reduction, which here runs across taps in separate registers, so it brings nothing).
//!
//! Loop order: output row, channel block, output column. A block's bias and requantization
//! constants stay in registers along the row, and the `kernel_h` input rows it reads stay
//! in L1 from one block to the next. For each output pixel the taps are walked in pairs:
//! `smull` / `smull2` multiply 16 activations by 16 weights into int16, `smlal` /
//! `smlal2` add the next tap's products in int16, and `saddw` / `saddw2` widen the pair
//! into the four int32 accumulators.
//!
//! Where the taps come from: kernels of up to 64 taps get a table of tap offsets, built
//! once per call. A window inside the input (the interior) reads through it directly; a
//! window that crosses the padding first fills a per-pixel table of source pointers, the
//! input for taps inside it and a buffer of the input zero point for the others, then runs
//! the same loop. Larger kernels, and layers of fewer than 16 channels, test each tap as
//! they go.
//!
//! Channel counts that are not a multiple of 16 finish with a block starting at
//! `channels - 16`, which recomputes some channels of the previous block and stores the
//! same bytes again; with fewer than 16 channels, a pixel's channels are copied into a
//! zeroed buffer and stored through one (the packed weights are zero-padded already).
//!
//! Exactness, as in the GEMM (`gemm/neon.rs` proves the epilogue in full):
//!
//! - Accumulation is modular int32 addition (`saddw`, `add`), like the scalar twin's
//!   `wrapping_add`. The int16 pairs are exact: activations and the zero point lie in
//!   `[-128, 127]` and weights in `[-127, 127]` (the numeric contract), so a product is at
//!   most 16,256 in magnitude and a pair at most 32,512 < 2^15. The zero point is read as
//!   an i32 by the scalar twin; one outside the int8 range sends the call to the scalar
//!   twin.
//! - Requantization is `smull` (exact 64-bit `acc * m`), `srshl` by `-s` (exactly
//!   `(x + 2^(s-1)) >> s`, since `|x| <= 2^62` keeps the sum in range), `sqxtn` (clamp to
//!   i32), `sqadd` (saturating zero-point add), `smax` then `smin`, and saturating
//!   narrowings of values already in `[-128, 127]`: each step is the scalar step.

use crate::neon_quant::BlockQuant;
use core::arch::aarch64::*;

use super::{check, padded_channels, Depthwise, CB};
use crate::requant::ChannelQuant;

/// NEON depthwise convolution (lengths already checked by the dispatcher, and again here).
pub(super) fn depthwise(p: &Depthwise, input: &[i8], packed: &[i8], q: &ChannelQuant<'_>, output: &mut [i8]) {
    check(p, input, packed, q, output);
    let Ok(zero_point) = i8::try_from(p.input_zero_point) else {
        return super::scalar::depthwise(p, input, packed, q, output);
    };
    // SAFETY: NEON is part of every aarch64 CPU.
    unsafe { depthwise_neon(p, zero_point, input, packed, q, output) }
}

/// The kernel. Safety: the CPU must have NEON.
#[target_feature(enable = "neon")]
unsafe fn depthwise_neon(
    p: &Depthwise,
    zero_point: i8,
    input: &[i8],
    packed: &[i8],
    q: &ChannelQuant<'_>,
    output: &mut [i8],
) {
    let c_n = p.channels;
    if c_n == 0 {
        return;
    }
    let geo = Geometry { p, cp: padded_channels(c_n), row: p.in_w * c_n, zero_point, zero: vdupq_n_s8(zero_point) };
    // Block starts: every full block, then one ending at the last channel when `c_n` is
    // not a multiple of 16 (or the single narrow block when `c_n < 16`).
    let table = TapTable::new(p);
    let full = c_n / CB;
    let last = if c_n.is_multiple_of(CB) { None } else { Some(c_n.saturating_sub(CB)) };
    for oy in 0..p.out_h {
        let rows = valid_taps(oy, p.stride_h, p.pad_top, p.in_h, p.kernel_h);
        for c0 in (0..full).map(|b| b * CB).chain(last) {
            let bq = BlockQuant::load(q.bias, q.multiplier, q.shift, c0, p.output);
            for ox in 0..p.out_w {
                let cols = valid_taps(ox, p.stride_w, p.pad_left, p.in_w, p.kernel_w);
                let interior = rows == (0, p.kernel_h) && cols == (0, p.kernel_w);
                let at = Pixel { oy, ox, rows, cols, c0 };
                let acc = match (c_n < CB, interior, &table) {
                    (false, true, Some(table)) => {
                        // The window's first pixel: inside the input, as the window is.
                        let first = ((oy * p.stride_h - p.pad_top) * p.in_w + ox * p.stride_w - p.pad_left) * c_n;
                        table.interior(&input[first + c0..], &packed[c0..], bq.bias)
                    }
                    (false, false, Some(table)) => table.border(&geo, input, &packed[c0..], &at, bq.bias),
                    (false, true, None) => geo.taps::<false, false>(input, packed, &at, bq.bias),
                    (false, false, None) => geo.taps::<true, false>(input, packed, &at, bq.bias),
                    (true, _, _) => geo.taps::<true, true>(input, packed, &at, bq.bias),
                };
                let v = bq.finish(&acc);
                let dst = &mut output[(oy * p.out_w + ox) * c_n + c0..][..c_n.min(CB)];
                store(dst, v);
            }
        }
    }
}

/// The range `lo..hi` of kernel offsets whose input coordinate `o * stride + k - pad`
/// lies in `[0, size)`.
fn valid_taps(o: usize, stride: usize, pad: usize, size: usize, kernel: usize) -> (usize, usize) {
    let start = o * stride;
    let lo = pad.saturating_sub(start).min(kernel);
    let hi = (size + pad).saturating_sub(start).clamp(lo, kernel);
    (lo, hi)
}

/// Shape-wide constants.
struct Geometry<'a> {
    p: &'a Depthwise,
    /// Channels padded to the block (the packed weights' tap stride).
    cp: usize,
    /// Bytes per input row.
    row: usize,
    /// The input zero point.
    zero_point: i8,
    /// The input zero point in every lane.
    zero: int8x16_t,
}

/// One output pixel and channel block: valid kernel rows and columns, first channel.
struct Pixel {
    oy: usize,
    ox: usize,
    rows: (usize, usize),
    cols: (usize, usize),
    c0: usize,
}

impl Geometry<'_> {
    /// `bias + Σ_taps x * w` for 16 channels from `at.c0`. `BORDER` tests each tap against
    /// the valid ranges; `NARROW` (fewer than 16 channels) reads activations through a
    /// zeroed buffer.
    #[target_feature(enable = "neon")]
    #[inline]
    fn taps<const BORDER: bool, const NARROW: bool>(
        &self,
        input: &[i8],
        packed: &[i8],
        at: &Pixel,
        bias: [int32x4_t; 4],
    ) -> [int32x4_t; 4] {
        let p = self.p;
        let c_n = p.channels;
        // The input pixel under tap (0, 0), which may lie in the padding.
        let (y0, x0) = (at.oy * p.stride_h, at.ox * p.stride_w);
        let fetch = |ky: usize, kx: usize| -> (int8x16_t, int8x16_t) {
            let w = load16(&packed[(ky * p.kernel_w + kx) * self.cp + at.c0..]);
            let inside = !BORDER || (at.rows.0 <= ky && ky < at.rows.1 && at.cols.0 <= kx && kx < at.cols.1);
            if !inside {
                return (self.zero, w);
            }
            let pixel = &input[(y0 + ky - p.pad_top) * self.row + (x0 + kx - p.pad_left) * c_n + at.c0..];
            if NARROW {
                let mut buf = [0i8; 16];
                buf[..c_n].copy_from_slice(&pixel[..c_n]);
                (load16(&buf), w)
            } else {
                (load16(pixel), w)
            }
        };
        let mut acc = bias;
        let (mut ky, mut kx) = (0, 0);
        let mut next = || {
            let tap = fetch(ky, kx);
            kx += 1;
            if kx == p.kernel_w {
                kx = 0;
                ky += 1;
            }
            tap
        };
        let taps = p.kernel_h * p.kernel_w;
        for _ in 0..taps / 2 {
            let (xa, wa) = next();
            let (xb, wb) = next();
            acc = mul_pair(acc, xa, wa, xb, wb);
        }
        if taps % 2 == 1 {
            let (xa, wa) = next();
            acc = mul_one(acc, xa, wa);
        }
        acc
    }
}

/// Kernels of up to this many taps take the table-driven interior path.
const MAX_TAPS: usize = 64;

/// Byte offsets of every tap of a window, relative to the window's first activation and
/// to a block's first weight. Invariant (kept by [`TapTable::new`], the only
/// constructor): `len = kernel_h * kernel_w <= MAX_TAPS`, and every `x[t]` (`w[t]`) for
/// `t < len` is at most `x_max` (`w_max`).
struct TapTable {
    x: [usize; MAX_TAPS],
    w: [usize; MAX_TAPS],
    len: usize,
    kernel_w: usize,
    x_max: usize,
    w_max: usize,
}

impl TapTable {
    /// The table of `p`'s kernel, or `None` when it has more than [`MAX_TAPS`] taps.
    fn new(p: &Depthwise) -> Option<TapTable> {
        let len = p.kernel_h * p.kernel_w;
        if len > MAX_TAPS {
            return None;
        }
        let mut t = TapTable { x: [0; MAX_TAPS], w: [0; MAX_TAPS], len, kernel_w: p.kernel_w, x_max: 0, w_max: 0 };
        for ky in 0..p.kernel_h {
            for kx in 0..p.kernel_w {
                let i = ky * p.kernel_w + kx;
                t.x[i] = (ky * p.in_w + kx) * p.channels;
                t.w[i] = i * padded_channels(p.channels);
                t.x_max = t.x_max.max(t.x[i]);
                t.w_max = t.w_max.max(t.w[i]);
            }
        }
        Some(t)
    }

    /// `bias + Σ_taps x * w` for the 16 channels at the start of `x` (the window's first
    /// activation of the block) and `w` (the block's first weight of tap 0).
    #[target_feature(enable = "neon")]
    #[inline]
    fn interior(&self, x: &[i8], w: &[i8], bias: [int32x4_t; 4]) -> [int32x4_t; 4] {
        assert!(self.x_max + 16 <= x.len() && self.w_max + 16 <= w.len(), "depthwise: window outside the input");
        let (xp, wp) = (x.as_ptr(), w.as_ptr());
        // SAFETY (every load below): each offset is at most `x_max` (`w_max`) by the table's
        // invariant, and the assertion above leaves 16 readable bytes after those.
        let tap = |xo: usize, wo: usize| unsafe { (vld1q_s8(xp.add(xo)), vld1q_s8(wp.add(wo))) };
        sum_taps(&self.x[..self.len], &self.w[..self.len], bias, tap)
    }

    /// The same for a window that crosses the padding (at least 16 channels): taps inside
    /// the input read it, the others read the input zero point.
    #[target_feature(enable = "neon")]
    #[inline]
    fn border(&self, geo: &Geometry<'_>, input: &[i8], w: &[i8], at: &Pixel, bias: [int32x4_t; 4]) -> [int32x4_t; 4] {
        assert!(self.w_max + 16 <= w.len(), "depthwise: weights too short");
        let p = geo.p;
        let zero = [geo.zero_point; 16];
        // Where each tap's 16 activations start: the zero-point buffer, or (checked when
        // stored) 16 bytes of `input`.
        let mut src = [zero.as_ptr(); MAX_TAPS];
        let (y0, x0) = (at.oy * p.stride_h, at.ox * p.stride_w);
        for ky in at.rows.0..at.rows.1 {
            for kx in at.cols.0..at.cols.1 {
                let pixel = (y0 + ky - p.pad_top) * p.in_w + (x0 + kx - p.pad_left);
                src[ky * self.kernel_w + kx] = input[pixel * p.channels + at.c0..][..16].as_ptr();
            }
        }
        let wp = w.as_ptr();
        // SAFETY (every load below): each `src` pointer starts 16 readable bytes of `zero` or
        // of `input` (checked above), both alive for this call; each weight offset is at
        // most `w_max` by the table's invariant, and the assertion above leaves 16 readable
        // bytes after it.
        let tap = |xs: *const i8, wo: usize| unsafe { (vld1q_s8(xs), vld1q_s8(wp.add(wo))) };
        sum_taps(&src[..self.len], &self.w[..self.len], bias, tap)
    }
}

/// Adds every tap's 16 products to `bias`, two taps at a time (then the odd one):
/// `tap(xs[i], ws[i])` loads tap `i`'s activations and weights.
#[target_feature(enable = "neon")]
#[inline]
fn sum_taps<X: Copy>(
    xs: &[X],
    ws: &[usize],
    bias: [int32x4_t; 4],
    tap: impl Fn(X, usize) -> (int8x16_t, int8x16_t),
) -> [int32x4_t; 4] {
    let mut acc = bias;
    let (x_pairs, w_pairs) = (xs.chunks_exact(2), ws.chunks_exact(2));
    let (x_rest, w_rest) = (x_pairs.remainder(), w_pairs.remainder());
    for (xo, wo) in x_pairs.zip(w_pairs) {
        let (xa, wa) = tap(xo[0], wo[0]);
        let (xb, wb) = tap(xo[1], wo[1]);
        acc = mul_pair(acc, xa, wa, xb, wb);
    }
    if let (Some(&xo), Some(&wo)) = (x_rest.first(), w_rest.first()) {
        let (xa, wa) = tap(xo, wo);
        acc = mul_one(acc, xa, wa);
    }
    acc
}

/// Adds `xa * wa + xb * wb` (16 channels, the pair summed in int16) to the accumulators.
#[target_feature(enable = "neon")]
#[inline]
fn mul_pair(acc: [int32x4_t; 4], xa: int8x16_t, wa: int8x16_t, xb: int8x16_t, wb: int8x16_t) -> [int32x4_t; 4] {
    let lo = vmlal_s8(vmull_s8(vget_low_s8(xa), vget_low_s8(wa)), vget_low_s8(xb), vget_low_s8(wb));
    let hi = vmlal_high_s8(vmull_high_s8(xa, wa), xb, wb);
    widen_add(acc, lo, hi)
}

/// Adds `xa * wa` (16 channels) to the accumulators.
#[target_feature(enable = "neon")]
#[inline]
fn mul_one(acc: [int32x4_t; 4], xa: int8x16_t, wa: int8x16_t) -> [int32x4_t; 4] {
    widen_add(acc, vmull_s8(vget_low_s8(xa), vget_low_s8(wa)), vmull_high_s8(xa, wa))
}

/// Adds the int16 sums `lo` (channels 0..8) and `hi` (8..16) into the accumulators.
#[target_feature(enable = "neon")]
#[inline]
fn widen_add(acc: [int32x4_t; 4], lo: int16x8_t, hi: int16x8_t) -> [int32x4_t; 4] {
    [
        vaddw_s16(acc[0], vget_low_s16(lo)),
        vaddw_high_s16(acc[1], lo),
        vaddw_s16(acc[2], vget_low_s16(hi)),
        vaddw_high_s16(acc[3], hi),
    ]
}

/// The first 16 bytes of `s`.
#[target_feature(enable = "neon")]
#[inline]
fn load16(s: &[i8]) -> int8x16_t {
    let s: &[i8; 16] = s[..16].try_into().expect("a 16-byte slice");
    // SAFETY: `s` is 16 readable bytes.
    unsafe { vld1q_s8(s.as_ptr()) }
}

/// Stores the first `dst.len()` (at most 16) bytes of `v`.
#[target_feature(enable = "neon")]
#[inline]
fn store(dst: &mut [i8], v: int8x16_t) {
    if let Ok(dst) = <&mut [i8; 16]>::try_from(&mut *dst) {
        // SAFETY: `dst` is 16 writable bytes.
        unsafe { vst1q_s8(dst.as_mut_ptr(), v) }
    } else {
        let mut buf = [0i8; 16];
        // SAFETY: `buf` is 16 writable bytes.
        unsafe { vst1q_s8(buf.as_mut_ptr(), v) }
        let n = dst.len();
        dst.copy_from_slice(&buf[..n]);
    }
}
