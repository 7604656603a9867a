//! The AVX2 depthwise convolution: 16 channels per step, `vpmaddwd` on two vertically
//! adjacent taps (the exact 16-bit path; no `vpmaddubsw`).
//!
//! The same structure as the AVX-512 kernel (see `avx512.rs`), with pairs instead of
//! quadruples. A *column group* is two kernel rows `2g, 2g + 1` of one kernel column (a
//! row past `kernel_h` has zero weights). Its input, for one input column, is two rows of
//! 16 channels sign-extended to i16 (`vpmovsxbw`) and interleaved with `vpunpck{l,h}wd`,
//! so each i32 lane holds one channel's two taps; `vpmaddwd` multiplies them by the
//! weights interleaved the same way and adds the two products exactly (at most
//! `2 * 128 * 128 = 2^15` in magnitude), and `vpaddd` adds that to the accumulator modulo
//! `2^32`, like the scalar sum. The accumulator starts from the bias.
//!
//! The 3x3 and 5x5 kernels with horizontal stride 1 or 2 keep a window of interleaved
//! input columns and build `stride` new ones per output; rows or columns outside the input
//! read a row of zero points, so the same code covers every border. Other kernels take
//! the general path, which builds each column group and its weights per tap group.
//!
//! Lane order: channel `8 l + 4 k + j` of the block sits in accumulator `k`, 128-bit lane
//! `l`, dword `j` (see [`Constants`]); `vpackssdw` of the two accumulators puts the 16 channels
//! back in order. Channel tails (`channels % 16`) load and store through zero-filled
//! 16-byte stack buffers.
//!
//! Requantization is the AVX-512 path's (clamp the accumulator, 64-bit products with
//! `vpmuldq`, merge to i32, packs with saturation), except that AVX2 has no 64-bit
//! arithmetic shift; `requantize` derives it exactly from the logical one. A block whose
//! shifts are all in `[33, 62]` (every layer the compiler plans) takes the shorter
//! high-dword form instead (`Epilogue::high_dwords`), chosen once per block.

use core::arch::x86_64::*;

use super::{padded_channels, Depthwise};
use crate::requant::ChannelQuant;

/// Channels per block: 16 bytes, sign-extended to one ymm of i16.
const BLOCK: usize = 16;

/// AVX2 depthwise convolution (lengths already checked by the dispatcher).
pub(super) fn depthwise(p: &Depthwise, input: &[i8], packed: &[i8], q: &ChannelQuant<'_>, output: &mut [i8]) {
    if !simd_supported(p, q) {
        return super::scalar::depthwise(p, input, packed, q, output);
    }
    // SAFETY: the dispatcher calls this only for the Avx2 and AvxVnni backends (both
    // require AVX2) after checking that the backend is available, and after `super::check` matched every slice length to the shape;
    // `simd_supported` held just above.
    unsafe { run(p, input, packed, q, output) }
}

/// Where one input row's bytes for the current channel block come from: `base` is column
/// 0 and `step` the distance between columns. Rows outside the input read the row of zero
/// points with step 0.
/// (Shared by the AVX2, AVX-VNNI and AVX-512 kernels.)
#[derive(Clone, Copy)]
pub(super) struct Source {
    base: *const i8,
    step: usize,
}

impl Source {
    /// The address of column `ix` (computed with wrapping arithmetic; only valid columns
    /// are ever dereferenced).
    /// `zero_row` for every column.
    #[inline(always)]
    pub(super) fn zeros(zero_row: *const i8) -> Source {
        Source { base: zero_row, step: 0 }
    }

    #[inline(always)]
    pub(super) fn at(self, ix: usize) -> *const i8 {
        self.base.wrapping_add(ix * self.step)
    }

    /// Input row `oy * stride_h + ky - pad_top` of the channel block starting at `cb`, for
    /// output row `oy`; rows outside the input read `zero_row` with step 0.
    #[inline(always)]
    pub(super) fn row(p: &Depthwise, input: *const i8, zero_row: *const i8, cb: usize, oy: usize, ky: usize) -> Source {
        let iy = (oy * p.stride_h + ky).wrapping_sub(p.pad_top);
        if iy < p.in_h {
            Source { base: input.wrapping_add(iy * p.in_w * p.channels + cb), step: p.channels }
        } else {
            Source::zeros(zero_row)
        }
    }
}

/// The layer and the channel block being computed.
struct Ctx<'a> {
    p: &'a Depthwise,
    input: *const i8,
    packed: *const i8,
    output: *mut i8,
    /// Padded channel count of the packed weights.
    cp: usize,
    /// 16 copies of the input zero point.
    zero_row: *const i8,
    /// First channel of the block.
    cb: usize,
    /// Channels of the block that exist (`1..=16`).
    nch: usize,
}

impl Ctx<'_> {
    /// Input row `oy * stride_h + ky - pad_top` for output row `oy`.
    #[inline(always)]
    fn row(&self, oy: usize, ky: usize) -> Source {
        Source::row(self.p, self.input, self.zero_row, self.cb, oy, ky)
    }

    /// Input column `ox * stride_w + kx - pad_left`, when it is inside the input.
    #[inline(always)]
    fn column_index(&self, ox: usize, kx: usize) -> Option<usize> {
        let p = self.p;
        let ix = (ox * p.stride_w + kx).wrapping_sub(p.pad_left);
        (ix < p.in_w).then_some(ix)
    }

    /// Loads the block's 16 channel bytes at `at` sign-extended to i16 (zeros past `nch`).
    ///
    /// # Safety
    ///
    /// `at` is valid for reading `nch` bytes, and 16 when the block is full.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn load16(&self, at: *const i8) -> __m256i {
        let x = if self.nch == BLOCK {
            // SAFETY: the block is full, so 16 bytes are readable.
            unsafe { _mm_loadu_si128(at.cast()) }
        } else {
            let mut buf = [0i8; BLOCK];
            // SAFETY: `nch` bytes are readable at `at`, and `buf` is a distinct local.
            unsafe { core::ptr::copy_nonoverlapping(at, buf.as_mut_ptr(), self.nch) };
            // SAFETY: `buf` is 16 bytes long.
            unsafe { _mm_loadu_si128(buf.as_ptr().cast()) }
        };
        _mm256_cvtepi8_epi16(x)
    }

    /// Loads column `ix` of `row`.
    ///
    /// # Safety
    ///
    /// `row` comes from [`Ctx::row`] and `ix < in_w` (or `row` is the zero-point row).
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn load(&self, row: Source, ix: usize) -> __m256i {
        // SAFETY: a row inside the input holds `in_w * channels` bytes from column 0, and
        // column `ix < in_w` has channels `cb..cb + nch` (and `cb + 16` when the block is
        // full); the zero-point row is 16 bytes long.
        unsafe { self.load16(row.at(ix)) }
    }

    /// The weights of column group `g` (kernel rows `2g, 2g+1`) in kernel column `kx`,
    /// interleaved like the inputs.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn weights(&self, g: usize, kx: usize) -> [__m256i; 2] {
        let p = self.p;
        let mut rows = [_mm256_setzero_si256(); 2];
        for (j, row) in rows.iter_mut().enumerate() {
            let ky = 2 * g + j;
            if ky < p.kernel_h {
                let at = (ky * p.kernel_w + kx) * self.cp + self.cb;
                // SAFETY: tap `ky * kernel_w + kx` is below `kernel_h * kernel_w` and its
                // `cp` packed bytes (a multiple of 16) include `cb..cb + 16`.
                *row = _mm256_cvtepi8_epi16(unsafe { _mm_loadu_si128(self.packed.wrapping_add(at).cast()) });
            }
        }
        interleave(rows)
    }

    /// Writes the block's channels of pixel `(oy, ox)`.
    ///
    /// # Safety
    ///
    /// `oy < out_h` and `ox < out_w`.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn store(&self, oy: usize, ox: usize, v: __m128i) {
        let p = self.p;
        let at = self.output.wrapping_add((oy * p.out_w + ox) * p.channels + self.cb);
        if self.nch == BLOCK {
            // SAFETY: the output holds `out_h * out_w * channels` bytes, and this pixel's
            // channels `cb..cb + 16` are inside it.
            unsafe { _mm_storeu_si128(at.cast(), v) };
        } else {
            let mut buf = [0i8; BLOCK];
            // SAFETY: `buf` is 16 bytes long.
            unsafe { _mm_storeu_si128(buf.as_mut_ptr().cast(), v) };
            // SAFETY: channels `cb..cb + nch` of this pixel are inside the output.
            unsafe { core::ptr::copy_nonoverlapping(buf.as_ptr(), at, self.nch) };
        }
    }
}

/// Interleaves two rows of 16 i16 so that dword `j` of lane `l` of result `k` holds
/// channel `8 l + 4 k + j` of rows 0 and 1.
#[target_feature(enable = "avx2")]
#[inline]
fn interleave(r: [__m256i; 2]) -> [__m256i; 2] {
    [_mm256_unpacklo_epi16(r[0], r[1]), _mm256_unpackhi_epi16(r[0], r[1])]
}

/// The requantization constants of a channel block, in accumulator order, for `A`
/// accumulators of eight i32 lanes (shared with the AVX-VNNI kernel, which has four).
pub(super) struct Epilogue<const A: usize> {
    /// Accumulator clamp (i32 lanes).
    lo: [__m256i; A],
    hi: [__m256i; A],
    /// Multipliers; `vpmuldq` reads the even lanes.
    pub(super) m: [__m256i; A],
    /// Odd lanes' multipliers moved to the even positions.
    pub(super) m_odd: [__m256i; A],
    /// Per even / odd channel, as u64 lanes: the shift `s`, the offset
    /// `2^(s-1) + 2^63` added before it, and `2^(63-s)` subtracted after it.
    shift_even: [__m256i; A],
    shift_odd: [__m256i; A],
    offset_even: [__m256i; A],
    offset_odd: [__m256i; A],
    back_even: [__m256i; A],
    back_odd: [__m256i; A],
    /// Output zero point (i16 lanes) and clamp (i8 lanes, both 128-bit halves).
    pub(super) zero_point: __m256i,
    pub(super) min: __m256i,
    pub(super) max: __m256i,
    /// Every lane's shift is in `[33, 62]` (or its multiplier is 0), so [`Epilogue::high_dwords`]
    /// applies, with `2^(s-33)` and `s - 32` per lane (a zero multiplier's lane takes 33).
    pub(super) fast: bool,
    fast_round: [__m256i; A],
    fast_shift: [__m256i; A],
}

/// A block's per-channel bias, multiplier and shift in accumulator order, for `A`
/// accumulators of `L` 128-bit lanes: position `4 L k + 4 l + j` (accumulator `k`, lane
/// `l`, dword `j`) holds byte `4 A l + 4 k + j` of the block, the order the byte interleave
/// of each backend leaves them in (AVX2: `A = L = 2`; AVX-VNNI: `A = 4`, `L = 2`; AVX-512,
/// with its own vectors in `avx512.rs`: `A = L = 4`).
pub(super) struct Constants<const A: usize> {
    pub(super) bias: [__m256i; A],
    multiplier: [__m256i; A],
    shift: [__m256i; A],
}

impl<const A: usize> Constants<A> {
    /// Channels `cb..cb + t` (`t <= 8 A`) of `q`, one pixel per vector: a masked load per
    /// eight channels, then 128-bit halves swapped into place (accumulator `k` holds the
    /// four-channel groups `k` and `A + k`). Positions past `t` hold bias 0, multiplier 0
    /// and shift 1 (harmless: those bytes are never stored).
    #[target_feature(enable = "avx2")]
    pub(super) fn load(q: &ChannelQuant<'_>, cb: usize, t: usize) -> Constants<A> {
        debug_assert!(t <= 8 * A && cb + t <= q.channels());
        let part = |a: &[i32], fill: i32| -> [__m256i; A] {
            let mut y = [_mm256_setzero_si256(); A];
            for (i, y) in y.iter_mut().enumerate() {
                let n = t.saturating_sub(8 * i).min(8) as i32;
                let mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
                // SAFETY: `vpmaskmovd` reads only the lanes the mask selects, channels
                // `cb + 8 i..cb + 8 i + n`, all below `cb + t <= a.len()`; masked-off lanes
                // are not accessed (the address is only formed, with wrapping arithmetic).
                let v = unsafe { _mm256_maskload_epi32(a.as_ptr().wrapping_add(cb + 8 * i), mask) };
                *y = _mm256_blendv_epi8(_mm256_set1_epi32(fill), v, mask);
            }
            core::array::from_fn(|k| {
                let (low, high) = (y[k / 2], y[A / 2 + k / 2]);
                if k % 2 == 0 {
                    _mm256_permute2x128_si256::<0x20>(low, high)
                } else {
                    _mm256_permute2x128_si256::<0x31>(low, high)
                }
            })
        };
        Constants { bias: part(q.bias, 0), multiplier: part(q.multiplier, 0), shift: part(q.shift, 1) }
    }
}

impl<const A: usize> Epilogue<A> {
    /// The requantization constants of a block.
    #[target_feature(enable = "avx2")]
    pub(super) fn new(p: &Depthwise, c: &Constants<A>) -> Epilogue<A> {
        let low_dword = _mm256_set1_epi64x(0xffff_ffff);
        let one = _mm256_set1_epi64x(1);
        let top = _mm256_set1_epi64x(i64::MIN);
        let mut e = Epilogue {
            lo: [_mm256_setzero_si256(); A],
            hi: [_mm256_setzero_si256(); A],
            m: [_mm256_setzero_si256(); A],
            m_odd: [_mm256_setzero_si256(); A],
            shift_even: [_mm256_setzero_si256(); A],
            shift_odd: [_mm256_setzero_si256(); A],
            offset_even: [_mm256_setzero_si256(); A],
            offset_odd: [_mm256_setzero_si256(); A],
            back_even: [_mm256_setzero_si256(); A],
            back_odd: [_mm256_setzero_si256(); A],
            zero_point: _mm256_set1_epi16(p.output.zero_point as i16),
            min: _mm256_set1_epi8(p.output.min),
            max: _mm256_set1_epi8(p.output.max),
            fast: true,
            fast_round: [_mm256_setzero_si256(); A],
            fast_shift: [_mm256_setzero_si256(); A],
        };
        for k in 0..A {
            let (m, s) = (c.multiplier[k], c.shift[k]);
            let zero = _mm256_cmpeq_epi32(m, _mm256_setzero_si256());
            let in_range = _mm256_andnot_si256(
                _mm256_cmpgt_epi32(_mm256_set1_epi32(33), s),
                _mm256_cmpgt_epi32(_mm256_set1_epi32(63), s),
            );
            e.fast &= _mm256_movemask_epi8(_mm256_or_si256(zero, in_range)) == -1;
            let fs = _mm256_blendv_epi8(s, _mm256_set1_epi32(33), zero);
            e.fast_shift[k] = _mm256_sub_epi32(fs, _mm256_set1_epi32(32));
            e.fast_round[k] = _mm256_sllv_epi32(_mm256_set1_epi32(1), _mm256_sub_epi32(fs, _mm256_set1_epi32(33)));
            (e.lo[k], e.hi[k]) = acc_bounds(s);
            e.m[k] = m;
            e.m_odd[k] = _mm256_srli_epi64::<32>(m);
            e.shift_even[k] = _mm256_and_si256(s, low_dword);
            e.shift_odd[k] = _mm256_srli_epi64::<32>(s);
            for (shift, offset, back) in [
                (e.shift_even[k], &mut e.offset_even[k], &mut e.back_even[k]),
                (e.shift_odd[k], &mut e.offset_odd[k], &mut e.back_odd[k]),
            ] {
                // 2^(s-1) + 2^63 and 2^(63-s) = 2^63 >> s.
                *offset = _mm256_add_epi64(_mm256_sllv_epi64(one, _mm256_sub_epi64(shift, one)), top);
                *back = _mm256_srlv_epi64(top, shift);
            }
        }
        e
    }

    /// Steps 1 and 2 of [`requantize`] for accumulator `k`: the exact requantized value
    /// `r` of each lane, which fits i32.
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(super) fn dwords(&self, acc: __m256i, k: usize) -> __m256i {
        let a = _mm256_min_epi32(_mm256_max_epi32(acc, self.lo[k]), self.hi[k]);
        let even = _mm256_mul_epi32(a, self.m[k]);
        let odd = _mm256_mul_epi32(_mm256_srli_epi64::<32>(a), self.m_odd[k]);
        let even = _mm256_srlv_epi64(_mm256_add_epi64(even, self.offset_even[k]), self.shift_even[k]);
        let odd = _mm256_srlv_epi64(_mm256_add_epi64(odd, self.offset_odd[k]), self.shift_odd[k]);
        let even = _mm256_sub_epi64(even, self.back_even[k]);
        let odd = _mm256_sub_epi64(odd, self.back_odd[k]);
        _mm256_blend_epi32::<0b1010_1010>(even, _mm256_slli_epi64::<32>(odd))
    }

    /// The same value by form 2 (requires `fast`): with `s` in `[33, 62]` the product's high
    /// dword `floor(P / 2^32)` carries all of it, and `floor((floor(P / 2^32) + 2^(s-33)) /
    /// 2^(s-32)) = floor((P + 2^(s-1)) / 2^s)`, with no accumulator clamp (`|result| < 2^30`).
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(super) fn high_dwords(&self, acc: __m256i, k: usize) -> __m256i {
        debug_assert!(self.fast);
        let even = _mm256_mul_epi32(acc, self.m[k]);
        let odd = _mm256_mul_epi32(_mm256_srli_epi64::<32>(acc), self.m_odd[k]);
        // High dwords: even lanes from `even` (moved down), odd lanes from `odd`.
        let h = _mm256_blend_epi32::<0b1010_1010>(_mm256_srli_epi64::<32>(even), odd);
        _mm256_srav_epi32(_mm256_add_epi32(h, self.fast_round[k]), self.fast_shift[k])
    }
}

/// Requantizes two accumulators (accumulator order) to 16 output bytes in channel order.
///
/// Exactness, per channel with multiplier `m` and shift `s` (`simd_supported` holds):
/// 1. `acc` is clamped to `[lo, hi]` from [`acc_bounds`], which changes no output and makes
///    the result `r` fit i32 (proof there).
/// 2. `vpmuldq` forms `P = acc * m` exactly, `|P| <= 2^62`. Then
///    `u = P + 2^(s-1) + 2^63` lies in `[2^62, 2^63 + 2^62 + 2^61]`, inside `[0, 2^64)`, so
///    the wrapping 64-bit addition gives `u` exactly as an unsigned number. Because `2^s`
///    divides `2^63` (`s <= 62`), the logical shift gives
///    `floor(u / 2^s) = floor((P + 2^(s-1)) / 2^s) + 2^(63-s)`, and subtracting `2^(63-s)`
///    leaves exactly `Requant::apply`'s value `r`, which fits i32: the low dword of each
///    lane is `r`.
/// 3. Packing, the zero point and the clamp are the AVX-512 path's (proof in
///    `avx512::requantize`): `vpackssdw`, `vpaddsw`, `vpacksswb`, `vpmaxsb`, `vpminsb`.
///
/// `FAST` takes form 2 ([`Epilogue::high_dwords`]) and requires `e.fast`.
#[target_feature(enable = "avx2")]
#[inline]
fn requantize<const FAST: bool>(acc: [__m256i; 2], e: &Epilogue<2>) -> __m128i {
    let r = |k: usize| if FAST { e.high_dwords(acc[k], k) } else { e.dwords(acc[k], k) };
    let words = _mm256_adds_epi16(_mm256_packs_epi32(r(0), r(1)), e.zero_point);
    let bytes = _mm_packs_epi16(_mm256_castsi256_si128(words), _mm256_extracti128_si256::<1>(words));
    _mm_min_epi8(_mm_max_epi8(bytes, _mm256_castsi256_si128(e.min)), _mm256_castsi256_si128(e.max))
}

/// # Safety
///
/// AVX2 must be available, the slice lengths must match the shape (`super::check`) and
/// `simd_supported(p, q)` must hold.
#[target_feature(enable = "avx2")]
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
        nch: 0,
    };
    for cb in (0..p.channels).step_by(BLOCK) {
        ctx.cb = cb;
        ctx.nch = BLOCK.min(p.channels - cb);
        let constants = Constants::<2>::load(q, cb, ctx.nch);
        let e = Epilogue::new(p, &constants);
        let bias = constants.bias;
        // SAFETY (all four calls): the context describes a layer whose slices match its
        // shape, and the kernel's sizes are the ones it is named for.
        unsafe {
            match (p.kernel_h, p.kernel_w, p.stride_w, e.fast) {
                (3, 3, 1, true) => fixed::<3, 3, 1, 2, true>(&ctx, &e, bias),
                (3, 3, 2, true) => fixed::<3, 3, 2, 2, true>(&ctx, &e, bias),
                (5, 5, 1, true) => fixed::<5, 5, 1, 3, true>(&ctx, &e, bias),
                (5, 5, 2, true) => fixed::<5, 5, 2, 3, true>(&ctx, &e, bias),
                (3, 3, 1, false) => fixed::<3, 3, 1, 2, false>(&ctx, &e, bias),
                (3, 3, 2, false) => fixed::<3, 3, 2, 2, false>(&ctx, &e, bias),
                (5, 5, 1, false) => fixed::<5, 5, 1, 3, false>(&ctx, &e, bias),
                (5, 5, 2, false) => fixed::<5, 5, 2, 3, false>(&ctx, &e, bias),
                _ => general(&ctx, &e, bias),
            }
        }
    }
}

/// One channel block of a `KH x KW` kernel with horizontal stride `SW` (`G = ceil(KH / 2)`
/// column groups): a sliding window of interleaved input columns.
///
/// # Safety
///
/// As for [`run`], and `ctx` describes a layer with these kernel sizes and stride.
#[target_feature(enable = "avx2")]
unsafe fn fixed<const KH: usize, const KW: usize, const SW: usize, const G: usize, const FAST: bool>(
    ctx: &Ctx<'_>,
    e: &Epilogue<2>,
    bias: [__m256i; 2],
) {
    let p = ctx.p;
    debug_assert!(p.kernel_h == KH && p.kernel_w == KW && p.stride_w == SW && G == KH.div_ceil(2));
    let mut w = [[[_mm256_setzero_si256(); 2]; KW]; G];
    for (g, wg) in w.iter_mut().enumerate() {
        for (kx, wk) in wg.iter_mut().enumerate() {
            *wk = ctx.weights(g, kx);
        }
    }
    let pad = _mm256_set1_epi16(p.input_zero_point as i16);
    let pad_column = [[pad; 2]; G];
    for oy in 0..p.out_h {
        let mut rows = [Source::zeros(ctx.zero_row); KH];
        for (ky, row) in rows.iter_mut().enumerate() {
            *row = ctx.row(oy, ky);
        }
        // The interleaved column groups under kernel columns `0..KW`; before the first
        // output, as if for output -1 (which reads column `kx - SW - pad_left`).
        let mut window = [pad_column; KW];
        for kx in SW.min(KW)..KW {
            let ix = (kx - SW).wrapping_sub(p.pad_left);
            if ix < p.in_w {
                // SAFETY: the rows come from `ctx.row` and `ix < in_w`.
                window[kx] = unsafe { column::<KH, G>(ctx, &rows, ix) };
            }
        }
        for ox in 0..p.out_w {
            for kx in 0..KW.saturating_sub(SW) {
                window[kx] = window[kx + SW];
            }
            for kx in KW.saturating_sub(SW)..KW {
                window[kx] = match ctx.column_index(ox, kx) {
                    // SAFETY: the rows come from `ctx.row` and `ix < in_w`.
                    Some(ix) => unsafe { column::<KH, G>(ctx, &rows, ix) },
                    None => pad_column,
                };
            }
            let mut acc = bias;
            for kx in 0..KW {
                for g in 0..G {
                    for k in 0..2 {
                        acc[k] = _mm256_add_epi32(acc[k], _mm256_madd_epi16(window[kx][g][k], w[g][kx][k]));
                    }
                }
            }
            // SAFETY: `oy < out_h`, `ox < out_w`.
            unsafe { ctx.store(oy, ox, requantize::<FAST>(acc, e)) };
        }
    }
}

/// The `G` interleaved column groups of input column `ix` for `KH` kernel rows.
///
/// # Safety
///
/// `rows` come from [`Ctx::row`] and `ix < in_w`.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn column<const KH: usize, const G: usize>(ctx: &Ctx<'_>, rows: &[Source; KH], ix: usize) -> [[__m256i; 2]; G] {
    let mut out = [[_mm256_setzero_si256(); 2]; G];
    for (g, group) in out.iter_mut().enumerate() {
        // SAFETY: as promised by the caller.
        let a = unsafe { ctx.load(rows[2 * g], ix) };
        // A row past the kernel has zero weights: repeat the previous one.
        // SAFETY: as promised by the caller.
        let b = if 2 * g + 1 < KH { unsafe { ctx.load(rows[2 * g + 1], ix) } } else { a };
        *group = interleave([a, b]);
    }
    out
}

/// One channel block of any kernel and stride: each output builds its column groups and
/// their weights afresh.
///
/// # Safety
///
/// As for [`run`].
#[target_feature(enable = "avx2")]
unsafe fn general(ctx: &Ctx<'_>, e: &Epilogue<2>, bias: [__m256i; 2]) {
    let p = ctx.p;
    let pad = _mm256_set1_epi16(p.input_zero_point as i16);
    for oy in 0..p.out_h {
        for ox in 0..p.out_w {
            let mut acc = bias;
            for g in 0..p.kernel_h.div_ceil(2) {
                for kx in 0..p.kernel_w {
                    let x = match ctx.column_index(ox, kx) {
                        Some(ix) => {
                            let mut r = [pad; 2];
                            for (j, r) in r.iter_mut().enumerate() {
                                let ky = 2 * g + j;
                                if ky < p.kernel_h {
                                    // SAFETY: the row comes from `ctx.row` and `ix < in_w`.
                                    *r = unsafe { ctx.load(ctx.row(oy, ky), ix) };
                                }
                            }
                            interleave(r)
                        }
                        None => [pad; 2],
                    };
                    let w = ctx.weights(g, kx);
                    for k in 0..2 {
                        acc[k] = _mm256_add_epi32(acc[k], _mm256_madd_epi16(x[k], w[k]));
                    }
                }
            }
            let v = if e.fast { requantize::<true>(acc, e) } else { requantize::<false>(acc, e) };
            // SAFETY: `oy < out_h`, `ox < out_w`.
            unsafe { ctx.store(oy, ox, v) };
        }
    }
}

// ---- Shared with avx512.rs and avxvnni.rs: plain Rust, no SIMD. ----

/// True when the constants allow the SIMD paths' requantization: zero points in
/// `[-128, 127]`, shifts in `[1, 62]`, and per channel either `s >= 32`, or `s == 31` and
/// `m >= 0`, or `s <= 30` and `m == 0` or `m >= 256`. Every layer the compiler plans
/// qualifies (`m` is 0 or in `[2^30, 2^31)`); anything else runs the scalar definition.
pub(super) fn simd_supported(p: &Depthwise, q: &ChannelQuant<'_>) -> bool {
    let zero_point = |z: i32| (-128..=127).contains(&z);
    zero_point(p.input_zero_point)
        && zero_point(p.output.zero_point)
        && q.multiplier.iter().zip(q.shift).all(|(&m, &s)| match s {
            32..=62 => true,
            31 => m >= 0,
            1..=30 => m == 0 || m >= 256,
            _ => false,
        })
}

/// The accumulator clamp `[lo, hi]` for a channel with shift `s` (under `simd_supported`).
///
/// Write `r(acc) = floor((acc * m + 2^(s-1)) / 2^s)`, nondecreasing in `acc` (`m >= 0`).
/// - `s >= 32`: `|acc * m| <= 2^62`, so `|r| <= 2^30 + 1`; `s == 31`, `m >= 0`: `r` lies in
///   `[-2^31 + 1, 2^31 - 2]`. Either way `r` fits i32 and no clamp is needed: `[i32::MIN,
///   i32::MAX]`.
/// - `s <= 30`: the clamp is `[-2^s, 2^s]`. Inside it `|acc * m| <= 2^s * m`, so `r` lies
///   in `[-m, m]`, within i32. Outside it, with `m == 0` every `r` is 0 either way; with
///   `m >= 256`, `acc > 2^s` gives `r(acc) >= r(2^s) = m >= 256`, and so does the clamped
///   value: both saturate to the same output (`hi`), since adding `z_out >= -128` leaves
///   more than 127. Symmetrically below, `r <= -m <= -256` gives `min(lo, hi)` both ways.
///
/// So clamping first never changes an output, and afterwards `r` always fits i32.
/// (Per i32 lane of `s`; the AVX-512 kernel computes the same with mask registers.)
#[target_feature(enable = "avx2")]
#[inline]
fn acc_bounds(s: __m256i) -> (__m256i, __m256i) {
    let small = _mm256_cmpgt_epi32(_mm256_set1_epi32(31), s);
    let bound = _mm256_sllv_epi32(_mm256_set1_epi32(1), s);
    (
        _mm256_blendv_epi8(_mm256_set1_epi32(i32::MIN), _mm256_sub_epi32(_mm256_setzero_si256(), bound), small),
        _mm256_blendv_epi8(_mm256_set1_epi32(i32::MAX), bound, small),
    )
}
