//! The AVX-VNNI depthwise convolution: 32 channels per step, the VEX-encoded 256-bit
//! `vpdpbusd` on four vertically adjacent taps, for x86-64 cores with AVX-VNNI but maybe
//! not AVX-512.
//!
//! The arithmetic is the AVX-512 kernel's (`avx512.rs`) with ymm registers and no mask
//! registers. A *column group* is four kernel rows `4g..4g+4` of one kernel column (rows
//! past `kernel_h` have zero weights); its input, for one input column, is four rows of 32
//! channel bytes interleaved so that each i32 lane holds the four taps of one channel, fed
//! to `vpdpbusd` as unsigned `x ^ 0x80 = x + 128` against the signed weights interleaved
//! the same way. The accumulator starts from `bias[c] - 128 * Σ_taps w[c]` (computed with
//! the same instruction against bytes of 128), so it equals the scalar sum modulo `2^32`.
//! Padding taps read `z_in ^ 0x80` and are corrected for like any other tap.
//!
//! Only the 3x3 and 5x5 kernels with horizontal stride 1 or 2 run here, with a sliding
//! window of interleaved input columns (see `avx512::fixed`); every other layer runs the
//! AVX2 kernel. Rows outside the input read a row of zero points; outputs whose columns
//! are all inside the input run without column checks.
//!
//! Channel tails. A block of 16 channels loads and stores 16 bytes (the upper half of the
//! vector is zero); any other tail goes through zero-filled 32-byte stack buffers. The
//! packed weights are padded to 16 channels, so a block of more than 16 channels reads 32
//! packed bytes and a smaller one 16.
//!
//! Lane order: `vpunpck{l,h}bw` then `vpunpck{l,h}wd` leave channel `16 l + 4 k + j` of the
//! block in accumulator `k`, 128-bit lane `l`, dword `j` (`avx2::Constants` with four accumulators);
//! `vpackssdw` of accumulators 0, 1 and of 2, 3, then `vpacksswb`, put the 32 bytes back in
//! channel order.
//!
//! Requantization: the AVX2 kernel's exact 64-bit form (`avx2::Epilogue::dwords`), or,
//! when every shift of the block is in `[33, 62]`, the high-dword form the AVX-512 kernel
//! uses (form 2 of "Exact requantization" in `gemm/avx2.rs`); then the packs with
//! saturation, the output zero point added in i16, and the byte clamp (proof in
//! `avx512::requantize`).

use core::arch::x86_64::*;

use super::avx2::{simd_supported, Constants, Epilogue, Source};
use super::{padded_channels, Depthwise};
use crate::requant::ChannelQuant;

/// Channels per block: one ymm of bytes.
const BLOCK: usize = 32;
/// Accumulators per block (eight channels each).
const ACC: usize = 4;

/// AVX-VNNI depthwise convolution (lengths already checked by the dispatcher).
pub(super) fn depthwise(p: &Depthwise, input: &[i8], packed: &[i8], q: &ChannelQuant<'_>, output: &mut [i8]) {
    let fixed = matches!((p.kernel_h, p.kernel_w, p.stride_w), (3, 3, 1 | 2) | (5, 5, 1 | 2));
    if !fixed {
        return super::avx2::depthwise(p, input, packed, q, output);
    }
    if !simd_supported(p, q) {
        return super::scalar::depthwise(p, input, packed, q, output);
    }
    // SAFETY: the dispatcher calls this only for the AvxVnni backend after checking that it
    // is available (AVX2 and AVX-VNNI), and after `super::check` matched every slice length
    // to the shape; `simd_supported` held just above, and the kernel is one `run` handles.
    unsafe { run(p, input, packed, q, output) }
}

/// The layer and the channel block being computed.
struct Ctx<'a> {
    p: &'a Depthwise,
    input: *const i8,
    packed: *const i8,
    output: *mut i8,
    /// Padded channel count of the packed weights.
    cp: usize,
    /// 32 copies of the input zero point.
    zero_row: *const i8,
    /// First channel of the block and its channel count `t` (`1..=32`).
    cb: usize,
    t: usize,
}

impl Ctx<'_> {
    /// Input row `oy * stride_h + ky - pad_top` for output row `oy`.
    #[inline(always)]
    fn row(&self, oy: usize, ky: usize) -> Source {
        Source::row(self.p, self.input, self.zero_row, self.cb, oy, ky)
    }

    /// The block's `t` bytes at `at`, zeros in the rest of the vector. Not flipped.
    ///
    /// # Safety
    ///
    /// `at` is valid for reading `t` bytes.
    #[target_feature(enable = "avx2,avxvnni")]
    #[inline]
    unsafe fn load_bytes(&self, at: *const i8) -> __m256i {
        if self.t == BLOCK {
            // SAFETY: the block is full: 32 bytes are readable.
            unsafe { _mm256_loadu_si256(at.cast()) }
        } else if self.t == BLOCK / 2 {
            // SAFETY: 16 bytes are readable.
            _mm256_zextsi128_si256(unsafe { _mm_loadu_si128(at.cast()) })
        } else {
            let mut buf = [0i8; BLOCK];
            // SAFETY: `t` bytes are readable at `at`, and `buf` is a distinct local.
            unsafe { core::ptr::copy_nonoverlapping(at, buf.as_mut_ptr(), self.t) };
            // SAFETY: `buf` is 32 bytes long.
            unsafe { _mm256_loadu_si256(buf.as_ptr().cast()) }
        }
    }

    /// The weights of column group `g` (kernel rows `4g..4g+4`) in kernel column `kx`,
    /// interleaved like the inputs.
    #[target_feature(enable = "avx2,avxvnni")]
    #[inline]
    fn weights(&self, g: usize, kx: usize) -> [__m256i; 4] {
        let p = self.p;
        let mut rows = [_mm256_setzero_si256(); 4];
        for (j, row) in rows.iter_mut().enumerate() {
            let ky = 4 * g + j;
            if ky < p.kernel_h {
                let at = self.packed.wrapping_add((ky * p.kernel_w + kx) * self.cp + self.cb);
                // SAFETY: tap `ky * kernel_w + kx` is below `kernel_h * kernel_w`, and its
                // `cp` packed bytes (channels padded to a multiple of 16) include
                // `cb..cb + 32` when `t > 16` and `cb..cb + 16` otherwise.
                *row = unsafe {
                    if self.t > BLOCK / 2 {
                        _mm256_loadu_si256(at.cast())
                    } else {
                        _mm256_zextsi128_si256(_mm_loadu_si128(at.cast()))
                    }
                };
            }
        }
        interleave(rows)
    }

    /// Writes the block's channels of output pixel `(oy, ox)`.
    ///
    /// # Safety
    ///
    /// `oy < out_h` and `ox < out_w`.
    #[target_feature(enable = "avx2,avxvnni")]
    #[inline]
    unsafe fn store(&self, oy: usize, ox: usize, v: __m256i) {
        let p = self.p;
        let at = self.output.wrapping_add((oy * p.out_w + ox) * p.channels + self.cb);
        // SAFETY: the output holds `out_h * out_w * channels` bytes, and this pixel's
        // channels `cb..cb + t` are inside it; exactly those `t` bytes are written.
        unsafe {
            if self.t == BLOCK {
                _mm256_storeu_si256(at.cast(), v);
            } else if self.t == BLOCK / 2 {
                _mm_storeu_si128(at.cast(), _mm256_castsi256_si128(v));
            } else {
                let mut buf = [0i8; BLOCK];
                _mm256_storeu_si256(buf.as_mut_ptr().cast(), v);
                core::ptr::copy_nonoverlapping(buf.as_ptr(), at, self.t);
            }
        }
    }
}

/// Interleaves four rows of 32 bytes so that dword `j` of lane `l` of result `k` holds
/// byte `16 l + 4 k + j` of rows 0, 1, 2, 3 in its four bytes.
#[target_feature(enable = "avx2,avxvnni")]
#[inline]
fn interleave(r: [__m256i; 4]) -> [__m256i; 4] {
    let ab_lo = _mm256_unpacklo_epi8(r[0], r[1]);
    let ab_hi = _mm256_unpackhi_epi8(r[0], r[1]);
    let cd_lo = _mm256_unpacklo_epi8(r[2], r[3]);
    let cd_hi = _mm256_unpackhi_epi8(r[2], r[3]);
    [
        _mm256_unpacklo_epi16(ab_lo, cd_lo),
        _mm256_unpackhi_epi16(ab_lo, cd_lo),
        _mm256_unpacklo_epi16(ab_hi, cd_hi),
        _mm256_unpackhi_epi16(ab_hi, cd_hi),
    ]
}

/// `bias - 128 * Σ w` over the given interleaved weights: the accumulator's start value
/// when inputs are fed as `x + 128`.
#[target_feature(enable = "avx2,avxvnni")]
#[inline]
fn corrected(mut bias: [__m256i; ACC], w: &[__m256i; ACC]) -> [__m256i; ACC] {
    for k in 0..ACC {
        let sum = _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(-128), w[k]);
        bias[k] = _mm256_sub_epi32(bias[k], sum);
    }
    bias
}

/// Requantizes four accumulators (accumulator order) to 32 output bytes in channel order.
/// `FAST` picks form 2 and requires `e.fast`; the other form is exact for any block (both
/// proofs in the module docs).
#[target_feature(enable = "avx2,avxvnni")]
#[inline]
fn requantize<const FAST: bool>(acc: [__m256i; ACC], e: &Epilogue<ACC>) -> __m256i {
    let mut v = [_mm256_setzero_si256(); ACC];
    for k in 0..ACC {
        v[k] = if FAST { e.high_dwords(acc[k], k) } else { e.dwords(acc[k], k) };
    }
    let low = _mm256_adds_epi16(_mm256_packs_epi32(v[0], v[1]), e.zero_point);
    let high = _mm256_adds_epi16(_mm256_packs_epi32(v[2], v[3]), e.zero_point);
    _mm256_min_epi8(_mm256_max_epi8(_mm256_packs_epi16(low, high), e.min), e.max)
}

/// # Safety
///
/// AVX2 and AVX-VNNI must be available, the slice lengths must match the shape
/// (`super::check`), `simd_supported(p, q)` must hold, and the kernel must be 3x3 or 5x5
/// with horizontal stride 1 or 2.
#[target_feature(enable = "avx2,avxvnni")]
unsafe fn run(p: &Depthwise, input: &[i8], packed: &[i8], q: &ChannelQuant<'_>, output: &mut [i8]) {
    let zero_row = [p.input_zero_point as i8; BLOCK];
    let mut ctx = Ctx {
        p,
        input: input.as_ptr(),
        packed: packed.as_ptr(),
        output: output.as_mut_ptr(),
        cp: padded_channels(p.channels),
        zero_row: zero_row.as_ptr(),
        cb: 0,
        t: 0,
    };
    for cb in (0..p.channels).step_by(BLOCK) {
        ctx.cb = cb;
        ctx.t = BLOCK.min(p.channels - cb);
        let constants = Constants::<ACC>::load(q, cb, ctx.t);
        let e = Epilogue::new(p, &constants);
        let bias = constants.bias;
        // SAFETY (every call): the context describes a layer whose slices match its shape,
        // and the kernel's sizes and stride are the ones it is named for.
        unsafe {
            match (p.kernel_h, p.stride_w, e.fast) {
                (3, 1, true) => fixed::<3, 3, 1, 1, true>(&ctx, &e, bias),
                (3, _, true) => fixed::<3, 3, 2, 1, true>(&ctx, &e, bias),
                (_, 1, true) => fixed::<5, 5, 1, 2, true>(&ctx, &e, bias),
                (_, _, true) => fixed::<5, 5, 2, 2, true>(&ctx, &e, bias),
                (3, 1, false) => fixed::<3, 3, 1, 1, false>(&ctx, &e, bias),
                (3, _, false) => fixed::<3, 3, 2, 1, false>(&ctx, &e, bias),
                (_, 1, false) => fixed::<5, 5, 1, 2, false>(&ctx, &e, bias),
                (_, _, false) => fixed::<5, 5, 2, 2, false>(&ctx, &e, bias),
            }
        }
    }
}

/// One channel block of a `KH x KW` kernel with horizontal stride `SW` (`G = ceil(KH / 4)`
/// column groups): a sliding window of interleaved input columns. Outputs whose columns
/// are all inside the input run without column checks (rows outside it read the
/// zero-point row).
///
/// # Safety
///
/// As for [`run`]; `ctx` describes a layer with these kernel sizes and stride, and `FAST`
/// only when `e.fast`.
#[target_feature(enable = "avx2,avxvnni")]
unsafe fn fixed<const KH: usize, const KW: usize, const SW: usize, const G: usize, const FAST: bool>(
    ctx: &Ctx<'_>,
    e: &Epilogue<ACC>,
    mut bias: [__m256i; ACC],
) {
    let p = ctx.p;
    debug_assert!(p.kernel_h == KH && p.kernel_w == KW && p.stride_w == SW && G == KH.div_ceil(4));
    let mut w = [[[_mm256_setzero_si256(); ACC]; KW]; G];
    for (g, wg) in w.iter_mut().enumerate() {
        for (kx, wk) in wg.iter_mut().enumerate() {
            *wk = ctx.weights(g, kx);
            bias = corrected(bias, wk);
        }
    }
    // Outputs `first..end` read only columns inside the input: output `ox` reads columns
    // `ox * SW - pad_left + kx`, `kx < KW`.
    let first = p.pad_left.div_ceil(SW).min(p.out_w);
    let end = (p.in_w + p.pad_left).checked_sub(KW - 1).map_or(0, |n| n.div_ceil(SW)).min(p.out_w).max(first);
    let pad = _mm256_xor_si256(_mm256_set1_epi8(p.input_zero_point as i8), _mm256_set1_epi8(-128));
    let pad_column = [[pad; ACC]; G];
    for oy in 0..p.out_h {
        let mut rows = [Source::zeros(ctx.zero_row); KH];
        for (ky, row) in rows.iter_mut().enumerate() {
            *row = ctx.row(oy, ky);
        }
        // The interleaved column groups under kernel columns `0..KW`; before the first
        // output, as if for output -1 (whose kernel column `kx` reads column
        // `kx - SW - pad_left`).
        let mut window = [pad_column; KW];
        for kx in SW.min(KW)..KW {
            let ix = (kx - SW).wrapping_sub(p.pad_left);
            if ix < p.in_w {
                // SAFETY: the rows come from `ctx.row` and `ix < in_w`.
                window[kx] = unsafe { column::<KH, G>(ctx, &rows, ix) };
            }
        }
        // One output; `$inside` says that every column it reads is inside the input. (A
        // macro rather than a closure, so that the window stays in registers.)
        macro_rules! output {
            ($ox:expr, $inside:expr) => {{
                let ox: usize = $ox;
                for kx in 0..KW.saturating_sub(SW) {
                    window[kx] = window[kx + SW];
                }
                for kx in KW.saturating_sub(SW)..KW {
                    let ix = (ox * SW + kx).wrapping_sub(p.pad_left);
                    window[kx] = if $inside || ix < p.in_w {
                        // SAFETY: the rows come from `ctx.row`, and `ix < in_w` (checked
                        // here, or true of every column of outputs `first..end`).
                        unsafe { column::<KH, G>(ctx, &rows, ix) }
                    } else {
                        pad_column
                    };
                }
                let mut acc = bias;
                for kx in 0..KW {
                    for g in 0..G {
                        for k in 0..ACC {
                            acc[k] = _mm256_dpbusd_avx_epi32(acc[k], window[kx][g][k], w[g][kx][k]);
                        }
                    }
                }
                // SAFETY: `oy < out_h` and `ox < out_w`.
                unsafe { ctx.store(oy, ox, requantize::<FAST>(acc, e)) };
            }};
        }
        for ox in 0..first {
            output!(ox, false);
        }
        for ox in first..end {
            output!(ox, true);
        }
        for ox in end..p.out_w {
            output!(ox, false);
        }
    }
}

/// The `G` interleaved column groups, for `KH` kernel rows, of input column `ix`, flipped
/// to `x ^ 0x80`.
///
/// # Safety
///
/// `rows` come from [`Ctx::row`] and `ix < in_w`.
#[target_feature(enable = "avx2,avxvnni")]
#[inline]
unsafe fn column<const KH: usize, const G: usize>(
    ctx: &Ctx<'_>,
    rows: &[Source; KH],
    ix: usize,
) -> [[__m256i; ACC]; G] {
    let flip = _mm256_set1_epi8(-128);
    let mut out = [[_mm256_setzero_si256(); ACC]; G];
    for (g, group) in out.iter_mut().enumerate() {
        let mut r = [_mm256_setzero_si256(); 4];
        for j in 0..4 {
            let ky = 4 * g + j;
            // Rows past the kernel have zero weights: repeat the previous one.
            r[j] = if ky < KH {
                // SAFETY: a row inside the input holds `in_w * channels` bytes from column
                // 0 of channel `cb`, so column `ix < in_w` has channels `cb..cb + t`; the
                // zero-point row (step 0) is 32 bytes long.
                _mm256_xor_si256(unsafe { ctx.load_bytes(rows[ky].at(ix)) }, flip)
            } else {
                r[j - 1]
            };
        }
        *group = interleave(r);
    }
    out
}
