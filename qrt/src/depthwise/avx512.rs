//! The AVX-512 VNNI depthwise convolution: 64 channels per step, `vpdpbusd` on four
//! vertically adjacent taps.
//!
//! Accumulation. A *column group* is four kernel rows `4g ..4g+4` of one kernel column
//! (rows past `kernel_h` have zero weights). Its input, for one input column, is four rows
//! of 64 channel bytes interleaved so that each i32 lane holds the four taps of one
//! channel; `vpdpbusd` multiplies them, as unsigned `x ^ 0x80 = x + 128`, by the signed
//! weights interleaved the same way, and adds the four products to the lane. So the lane
//! sums `Σ (x + 128) * w = Σ x * w + 128 * Σ w`, and starts from
//! `bias[c] - 128 * Σ_taps w[c]`, computed once per channel block from the packed weights
//! with the same instruction (against bytes of 128). All of it is i32 arithmetic modulo
//! `2^32`, like the scalar sum, so the accumulator equals the scalar one bit for bit.
//! Padding taps read `z_in ^ 0x80` and are counted in the correction like any other tap.
//!
//! Reuse. A column group's interleaved input depends only on the output row and the input
//! column, so neighbouring outputs share it: the 3x3 and 5x5 kernels with horizontal
//! stride 1 or 2 keep a window of `kernel_w` interleaved columns (in registers for 3x3)
//! and build `stride` new ones per output (two per packed pair), with their weights in
//! registers. Rows outside the input read a row of zero points, so the same code covers
//! every row; outputs whose columns are all inside the input run without column checks,
//! the few at the left and right borders with them. Other kernels take the general path:
//! the same arithmetic with runtime sizes, each column group and its weights built per
//! tap group.
//!
//! Packing. Channels go in blocks of 64. A layer of 17 to 32 channels would leave half of
//! every vector empty, so with horizontal stride 1 the 3x3 and 5x5 kernels put two
//! neighbouring output pixels side by side (`P = 2`): byte `i C + c` is channel `c` of the
//! `i`-th pixel. The two pixels' inputs are then adjacent in memory (one load per row),
//! the weights and per-channel constants are repeated, and the two outputs share one
//! accumulation, one requantization and one store. MobileNetV2's 112x112x32 layer runs
//! this way, in about a quarter less time. (Packing the channel tails of wider layers, or with
//! stride 2, needs a masked load per pixel and measured slower, so it is not done.)
//!
//! Lane order. Interleaving with `vpunpck{l,h}bw` then `vpunpck{l,h}wd` leaves channel
//! `16 l + 4 k + j` of the block in accumulator `k`, 128-bit lane `l`, dword `j`; the
//! per-channel constants are gathered in that order, and the final `vpackssdw` /
//! `vpacksswb` pair undoes it, so the 64 output bytes come out in channel order with no
//! extra shuffle.
//!
//! Requantization, per channel (see `requantize` for the proof): the accumulator is first
//! clamped to a per-channel range that changes no output and keeps the result in i32
//! (`avx2::acc_bounds`), multiplied by `m` in 64 bits (`vpmuldq` on even and odd lanes),
//! rounded and shifted with `vpaddq` / `vpsravq`, merged back to i32 lanes, then packed with
//! signed saturation, the output zero point added in i16, and clamped.

use core::arch::x86_64::*;

use super::avx2::{simd_supported, Source};
use super::{padded_channels, Depthwise};
use crate::requant::ChannelQuant;

/// Channels per block: one zmm of bytes.
const BLOCK: usize = 64;

/// AVX-512 depthwise convolution (lengths already checked by the dispatcher).
pub(super) fn depthwise(p: &Depthwise, input: &[i8], packed: &[i8], q: &ChannelQuant<'_>, output: &mut [i8]) {
    if !simd_supported(p, q) {
        return super::scalar::depthwise(p, input, packed, q, output);
    }
    // SAFETY: the dispatcher calls this only for the Avx512Vnni backend after checking that
    // it is available (AVX-512 F, BW, VL and VNNI), and after `super::check` matched every
    // slice length to the shape; `simd_supported` held just above.
    unsafe { run(p, input, packed, q, output) }
}

/// The low `n` bits set (`n <= 64`).
#[inline(always)]
fn low_bits(n: usize) -> u64 {
    if n >= 64 {
        !0
    } else {
        (1u64 << n) - 1
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
    /// 64 copies of the input zero point.
    zero_row: *const i8,
    /// The zero point in every byte (not flipped).
    zero: __m512i,
    /// First channel of the block and its channel count `t` (`1..=64`).
    cb: usize,
    t: usize,
    /// The low `t` bits: one pixel's channels of the block.
    pixel_mask: __mmask64,
}

impl Ctx<'_> {
    /// Input row `oy * stride_h + ky - pad_top` for output row `oy`.
    #[inline(always)]
    fn row(&self, oy: usize, ky: usize) -> Source {
        Source::row(self.p, self.input, self.zero_row, self.cb, oy, ky)
    }

    /// True when any of the `P` input columns `c0 + i` is inside the input (`c0` may have
    /// wrapped below zero).
    #[inline(always)]
    fn any_column<const P: usize>(&self, c0: usize) -> bool {
        (0..P).any(|i| c0.wrapping_add(i) < self.p.in_w)
    }

    /// The block's bytes of `P` pixels of `row` at columns `c0`, `c0 + 1`, ..., as `t`
    /// bytes per pixel (with `P == 2` the block is the whole pixel and the stride 1); the
    /// rest of the vector reads the zero point. Not flipped. With `INSIDE`, every column is
    /// inside the input; otherwise columns outside it read the zero point.
    ///
    /// # Safety
    ///
    /// `row` comes from [`Ctx::row`]; with `INSIDE` or `P == 1`, every column `c0 + i` is
    /// inside the input.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    #[inline]
    unsafe fn load<const P: usize, const INSIDE: bool>(&self, row: Source, c0: usize) -> __m512i {
        // SAFETY (every load below): a row inside the input holds `in_w * channels` bytes
        // from column 0 (of the block's first channel `cb`), and the zero-point row, read
        // with step 0 for every column, is 64 bytes long. Only the bytes the mask selects
        // are read.
        let in_w = self.p.in_w;
        if P == 1 {
            // Channels `cb..cb + t <= channels` of column `c0 < in_w`.
            return unsafe {
                if self.t == BLOCK {
                    _mm512_loadu_si512(row.at(c0).cast())
                } else {
                    _mm512_maskz_loadu_epi8(self.pixel_mask, row.at(c0))
                }
            };
        }
        if INSIDE || (c0 < in_w && c0 + P <= in_w) {
            // Columns `c0..c0 + P` are inside, and with whole pixels their channels are the
            // `P * t` bytes from column `c0`.
            return unsafe {
                if P * self.t == BLOCK {
                    _mm512_loadu_si512(row.at(c0).cast())
                } else {
                    _mm512_maskz_loadu_epi8(low_bits(P * self.t), row.at(c0))
                }
            };
        }
        let mut v = self.zero;
        for i in 0..P {
            let c = c0.wrapping_add(i);
            if c < in_w {
                // Bytes `i t..i t + t`, which the address shifted back by `i t` maps to
                // the channels of column `c < in_w`.
                v = unsafe {
                    _mm512_mask_loadu_epi8(v, self.pixel_mask << (i * self.t), row.at(c).wrapping_sub(i * self.t))
                };
            }
        }
        v
    }

    /// The weights of column group `g` (kernel rows `4g..4g+4`) in kernel column `kx`,
    /// repeated for `P` pixels (every `t` bytes) and interleaved like the inputs.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    #[inline]
    fn weights<const P: usize>(&self, g: usize, kx: usize) -> [__m512i; 4] {
        let p = self.p;
        let mut rows = [_mm512_setzero_si512(); 4];
        for (j, row) in rows.iter_mut().enumerate() {
            let ky = 4 * g + j;
            if ky < p.kernel_h {
                let at = self.packed.wrapping_add((ky * p.kernel_w + kx) * self.cp + self.cb);
                for i in 0..P {
                    // SAFETY: tap `ky * kernel_w + kx` is below `kernel_h * kernel_w`; the
                    // mask selects bytes `i t..i t + t`, which the shifted address maps to
                    // its packed channels `cb..cb + t <= cp`. No other byte is read.
                    *row = unsafe {
                        _mm512_mask_loadu_epi8(*row, self.pixel_mask << (i * self.t), at.wrapping_sub(i * self.t))
                    };
                }
            }
        }
        interleave(rows)
    }

    /// Writes the block's channels of the `n <= P` output pixels `(oy, ox0 + i)`.
    ///
    /// # Safety
    ///
    /// `oy < out_h` and `ox0 + n <= out_w`.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    #[inline]
    unsafe fn store<const P: usize>(&self, oy: usize, ox0: usize, n: usize, v: __m512i) {
        let p = self.p;
        let at = self.output.wrapping_add((oy * p.out_w + ox0) * p.channels + self.cb);
        // SAFETY: the output holds `out_h * out_w * channels` bytes. The bytes written are
        // channels `cb..cb + t` of pixel `ox0` (`P == 1`), or all channels of the `n`
        // adjacent pixels `ox0..ox0 + n` (`P == 2`, whole pixels); the mask selects exactly
        // those and masked-off bytes are not written.
        unsafe {
            if n * self.t == BLOCK {
                _mm512_storeu_si512(at.cast(), v);
            } else {
                _mm512_mask_storeu_epi8(at, low_bits(n * self.t), v);
            }
        }
    }
}

/// Interleaves four rows of 64 bytes so that dword `j` of lane `l` of result `k` holds
/// byte `16 l + 4 k + j` of rows 0, 1, 2, 3 in its four bytes.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline]
fn interleave(r: [__m512i; 4]) -> [__m512i; 4] {
    let ab_lo = _mm512_unpacklo_epi8(r[0], r[1]);
    let ab_hi = _mm512_unpackhi_epi8(r[0], r[1]);
    let cd_lo = _mm512_unpacklo_epi8(r[2], r[3]);
    let cd_hi = _mm512_unpackhi_epi8(r[2], r[3]);
    [
        _mm512_unpacklo_epi16(ab_lo, cd_lo),
        _mm512_unpackhi_epi16(ab_lo, cd_lo),
        _mm512_unpacklo_epi16(ab_hi, cd_hi),
        _mm512_unpackhi_epi16(ab_hi, cd_hi),
    ]
}

/// `bias - 128 * Σ w` over the given interleaved weights: the accumulator's start value
/// when inputs are fed as `x + 128`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline]
fn corrected(mut bias: [__m512i; 4], w: &[__m512i; 4]) -> [__m512i; 4] {
    for k in 0..4 {
        let sum = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(-128), w[k]);
        bias[k] = _mm512_sub_epi32(bias[k], sum);
    }
    bias
}

/// The requantization constants of a channel block, in accumulator order.
struct Epilogue {
    /// Accumulator clamp (i32 lanes).
    lo: [__m512i; 4],
    hi: [__m512i; 4],
    /// Multipliers; `vpmuldq` reads the even lanes.
    m: [__m512i; 4],
    /// Odd lanes' multipliers moved to the even positions.
    m_odd: [__m512i; 4],
    /// Shifts and rounding terms `2^(s-1)` of the even and odd channels, as i64 lanes.
    shift_even: [__m512i; 4],
    shift_odd: [__m512i; 4],
    round_even: [__m512i; 4],
    round_odd: [__m512i; 4],
    /// Output zero point (i16 lanes) and clamp (i8 lanes).
    zero_point: __m512i,
    min: __m512i,
    max: __m512i,
    /// Every lane's shift is in `[33, 62]` (or its multiplier is 0): `requantize` takes the
    /// high dwords of the products (form 2 of "Exact requantization" in `gemm/avx2.rs`),
    /// with `fast_round = 2^(s-33)` and `fast_shift = s - 32` as i32 lanes.
    fast: bool,
    fast_round: [__m512i; 4],
    fast_shift: [__m512i; 4],
}

/// A block's per-channel constants in accumulator order (see `avx2::Constants`): byte
/// `16 l + 4 k + j` of the block in accumulator `k`, 128-bit lane `l`, dword `j`.
struct BlockConstants {
    bias: [__m512i; 4],
    multiplier: [__m512i; 4],
    shift: [__m512i; 4],
}

impl BlockConstants {
    /// Channels `cb..cb + t` of `q` for `pixels` pixels per vector (`pixels * t <= 64`;
    /// byte `b` of the block is channel `cb + b % t`): the block's bytes in order as four
    /// vectors, then a 4x4 transpose of their 128-bit lanes. Positions past `pixels * t`
    /// hold bias 0, multiplier 0 and shift 1 (harmless: those bytes are never stored).
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    fn load(q: &ChannelQuant<'_>, cb: usize, t: usize, pixels: usize) -> BlockConstants {
        debug_assert!(pixels * t <= BLOCK && cb + t <= q.channels());
        let part = |a: &[i32], fill: i32| {
            let mut v = [_mm512_setzero_si512(); 4];
            if pixels == 1 {
                // Four masked loads straight from the constants.
                for (l, v) in v.iter_mut().enumerate() {
                    let n = t.saturating_sub(16 * l).min(16);
                    // SAFETY: the mask selects channels `cb + 16 l..cb + 16 l + n`, all below
                    // `cb + t <= a.len()`; no other element is read (the address is only
                    // formed, with wrapping arithmetic, when `n == 0`).
                    *v = unsafe {
                        _mm512_mask_loadu_epi32(
                            _mm512_set1_epi32(fill),
                            low_bits(n) as u16,
                            a.as_ptr().wrapping_add(cb + 16 * l),
                        )
                    };
                }
            } else {
                // Repeated channels: laid out byte by byte first.
                let bytes: [i32; BLOCK] = core::array::from_fn(|b| if b < pixels * t { a[cb + b % t] } else { fill });
                for (l, v) in v.iter_mut().enumerate() {
                    // SAFETY: `16 * l + 16 <= 64` elements of the array.
                    *v = unsafe { _mm512_loadu_si512(bytes.as_ptr().add(16 * l).cast()) };
                }
            }
            transpose_lanes(v)
        };
        BlockConstants { bias: part(q.bias, 0), multiplier: part(q.multiplier, 0), shift: part(q.shift, 1) }
    }
}

/// Vector `k` of the result holds 128-bit lane `k` of each of `v[0..4]`, in order.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline]
fn transpose_lanes(v: [__m512i; 4]) -> [__m512i; 4] {
    // [v0.0, v0.1, v1.0, v1.1] and so on.
    let a = _mm512_shuffle_i32x4::<0b01_00_01_00>(v[0], v[1]);
    let b = _mm512_shuffle_i32x4::<0b11_10_11_10>(v[0], v[1]);
    let c = _mm512_shuffle_i32x4::<0b01_00_01_00>(v[2], v[3]);
    let d = _mm512_shuffle_i32x4::<0b11_10_11_10>(v[2], v[3]);
    [
        _mm512_shuffle_i32x4::<0b10_00_10_00>(a, c),
        _mm512_shuffle_i32x4::<0b11_01_11_01>(a, c),
        _mm512_shuffle_i32x4::<0b10_00_10_00>(b, d),
        _mm512_shuffle_i32x4::<0b11_01_11_01>(b, d),
    ]
}

impl Epilogue {
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    fn new(p: &Depthwise, c: &BlockConstants) -> Epilogue {
        let low_dword = _mm512_set1_epi64(0xffff_ffff);
        let one = _mm512_set1_epi64(1);
        let one32 = _mm512_set1_epi32(1);
        let mut e = Epilogue {
            lo: [_mm512_setzero_si512(); 4],
            hi: [_mm512_setzero_si512(); 4],
            m: c.multiplier,
            m_odd: [_mm512_setzero_si512(); 4],
            shift_even: [_mm512_setzero_si512(); 4],
            shift_odd: [_mm512_setzero_si512(); 4],
            round_even: [_mm512_setzero_si512(); 4],
            round_odd: [_mm512_setzero_si512(); 4],
            zero_point: _mm512_set1_epi16(p.output.zero_point as i16),
            min: _mm512_set1_epi8(p.output.min),
            max: _mm512_set1_epi8(p.output.max),
            fast: true,
            fast_round: [_mm512_setzero_si512(); 4],
            fast_shift: [_mm512_setzero_si512(); 4],
        };
        for k in 0..4 {
            let (m, s) = (c.multiplier[k], c.shift[k]);
            // A zero multiplier gives 0 with any shift, so its lane takes 33.
            let zero = _mm512_cmpeq_epi32_mask(m, _mm512_setzero_si512());
            let in_range =
                _mm512_cmpge_epi32_mask(s, _mm512_set1_epi32(33)) & _mm512_cmple_epi32_mask(s, _mm512_set1_epi32(62));
            e.fast &= (zero | in_range) == 0xffff;
            let fs = _mm512_mask_blend_epi32(zero, s, _mm512_set1_epi32(33));
            e.fast_shift[k] = _mm512_sub_epi32(fs, _mm512_set1_epi32(32));
            e.fast_round[k] = _mm512_sllv_epi32(one32, _mm512_sub_epi32(fs, _mm512_set1_epi32(33)));
            // `avx2::acc_bounds`: `[-2^s, 2^s]` for `s <= 30`, no clamp otherwise.
            let small = _mm512_cmple_epi32_mask(s, _mm512_set1_epi32(30));
            let bound = _mm512_sllv_epi32(one32, s);
            e.hi[k] = _mm512_mask_blend_epi32(small, _mm512_set1_epi32(i32::MAX), bound);
            e.lo[k] = _mm512_mask_blend_epi32(
                small,
                _mm512_set1_epi32(i32::MIN),
                _mm512_sub_epi32(_mm512_setzero_si512(), bound),
            );
            e.m_odd[k] = _mm512_srli_epi64::<32>(m);
            e.shift_even[k] = _mm512_and_si512(s, low_dword);
            e.shift_odd[k] = _mm512_srli_epi64::<32>(s);
            e.round_even[k] = _mm512_sllv_epi64(one, _mm512_sub_epi64(e.shift_even[k], one));
            e.round_odd[k] = _mm512_sllv_epi64(one, _mm512_sub_epi64(e.shift_odd[k], one));
        }
        e
    }
}

/// Requantizes four accumulators (accumulator order) to 64 output bytes in channel order.
///
/// Exactness, per channel with multiplier `m` and shift `s` (`simd_supported` holds):
/// 1. `acc` is clamped to `[lo, hi]` from `avx2::acc_bounds`, which changes no output and
///    bounds the result `r` below by `-2^31` and above by `2^31 - 1` (proof there).
/// 2. `vpmuldq` forms `P = acc * m` exactly (`|P| <= 2^62`); `P + 2^(s-1)` cannot overflow
///    i64 and `vpsravq` by `s <= 62` is the arithmetic shift: `r` is exactly
///    `Requant::apply`'s value, and it fits i32, so the low dword of each i64 lane is `r`.
/// 3. `vpackssdw` saturates `r` to i16, `vpaddsw` adds `z_out` (`|z_out| <= 128`) with
///    saturation, `vpacksswb` saturates to i8 and `vpmaxsb` / `vpminsb` clamp. The scalar
///    result is `min(max(sat32(r + z_out), lo), hi)`. If `|r| <= 32640` no step saturates
///    before the i8 one, and saturating to i8 first changes no int8 clamp. If `r > 32640`
///    both sides exceed 127 before the clamp and give `hi` (also when `lo > hi`); if
///    `r < -32640` both are below -128 and give `min(lo, hi)`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
///
/// `FAST` picks form 2 below and requires `e.fast`; the other form is exact for any block.
#[inline]
fn requantize<const FAST: bool>(acc: [__m512i; 4], e: &Epilogue) -> __m512i {
    let mut v = [_mm512_setzero_si512(); 4];
    if FAST {
        debug_assert!(e.fast);
        // Form 2 (shifts in `[33, 62]`): `|v| < 2^30` without any accumulator clamp, and
        // step 3 below holds as it is.
        for k in 0..4 {
            let even = _mm512_mul_epi32(acc[k], e.m[k]);
            let odd = _mm512_mul_epi32(_mm512_shuffle_epi32::<0xf5>(acc[k]), e.m_odd[k]);
            // The high dwords: even lanes from `even` (moved down), odd ones from `odd`.
            let h = _mm512_mask_shuffle_epi32::<0xf5>(odd, 0x5555, even);
            v[k] = _mm512_srav_epi32(_mm512_add_epi32(h, e.fast_round[k]), e.fast_shift[k]);
        }
        let low = _mm512_adds_epi16(_mm512_packs_epi32(v[0], v[1]), e.zero_point);
        let high = _mm512_adds_epi16(_mm512_packs_epi32(v[2], v[3]), e.zero_point);
        return _mm512_min_epi8(_mm512_max_epi8(_mm512_packs_epi16(low, high), e.min), e.max);
    }
    for k in 0..4 {
        let a = _mm512_min_epi32(_mm512_max_epi32(acc[k], e.lo[k]), e.hi[k]);
        let even = _mm512_mul_epi32(a, e.m[k]);
        let odd = _mm512_mul_epi32(_mm512_srli_epi64::<32>(a), e.m_odd[k]);
        let even = _mm512_srav_epi64(_mm512_add_epi64(even, e.round_even[k]), e.shift_even[k]);
        let odd = _mm512_srav_epi64(_mm512_add_epi64(odd, e.round_odd[k]), e.shift_odd[k]);
        // Odd dwords take the low dword of the odd results (`_MM_PERM_CCAA`: dword 1 from
        // dword 0, dword 3 from dword 2 of each lane).
        v[k] = _mm512_mask_shuffle_epi32::<_MM_PERM_CCAA>(even, 0xaaaa, odd);
    }
    let low = _mm512_adds_epi16(_mm512_packs_epi32(v[0], v[1]), e.zero_point);
    let high = _mm512_adds_epi16(_mm512_packs_epi32(v[2], v[3]), e.zero_point);
    _mm512_min_epi8(_mm512_max_epi8(_mm512_packs_epi16(low, high), e.min), e.max)
}

/// # Safety
///
/// AVX-512 F, BW, VL and VNNI must be available, the slice lengths must match the shape
/// (`super::check`) and `simd_supported(p, q)` must hold.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn run(p: &Depthwise, input: &[i8], packed: &[i8], q: &ChannelQuant<'_>, output: &mut [i8]) {
    let zero_row = [p.input_zero_point as i8; BLOCK];
    let mut ctx = Ctx {
        p,
        input: input.as_ptr(),
        packed: packed.as_ptr(),
        output: output.as_mut_ptr(),
        cp: padded_channels(p.channels),
        zero_row: zero_row.as_ptr(),
        zero: _mm512_set1_epi8(p.input_zero_point as i8),
        cb: 0,
        t: 0,
        pixel_mask: 0,
    };
    // Which specialised kernel, if any.
    let fixed_kernel = match (p.kernel_h, p.kernel_w, p.stride_w) {
        (3, 3, 1) => Some(0),
        (3, 3, 2) => Some(1),
        (5, 5, 1) => Some(2),
        (5, 5, 2) => Some(3),
        _ => None,
    };
    let mut cb = 0;
    while cb < p.channels {
        let rest = p.channels - cb;
        // Channels of this block, and pixels per vector: two when whole pixels of 17 to 32
        // channels fit, with stride 1.
        let pairs = p.channels <= BLOCK / 2 && p.channels > BLOCK / 4 && p.stride_w == 1;
        let (t, pixels) = if pairs && fixed_kernel.is_some() { (rest, 2) } else { (rest.min(BLOCK), 1) };
        ctx.cb = cb;
        ctx.t = t;
        ctx.pixel_mask = low_bits(t);
        let constants = BlockConstants::load(q, cb, t, pixels);
        let e = Epilogue::new(p, &constants);
        let bias = constants.bias;
        // SAFETY (every call): the context describes a layer whose slices match its shape,
        // the kernel's sizes and stride are the ones it is named for, and `pixels` is the
        // packing the constants were gathered for (two only for whole pixels, stride 1).
        unsafe {
            // One requantization form per block, chosen here: with both inlined in the
            // inner loop, the general one costs the fast one registers.
            match (fixed_kernel, pixels, e.fast) {
                (Some(0), 1, true) => fixed::<3, 3, 1, 1, 1, true>(&ctx, &e, bias),
                (Some(0), _, true) => fixed::<3, 3, 1, 1, 2, true>(&ctx, &e, bias),
                (Some(1), _, true) => fixed::<3, 3, 2, 1, 1, true>(&ctx, &e, bias),
                (Some(2), 1, true) => fixed::<5, 5, 1, 2, 1, true>(&ctx, &e, bias),
                (Some(2), _, true) => fixed::<5, 5, 1, 2, 2, true>(&ctx, &e, bias),
                (Some(_), _, true) => fixed::<5, 5, 2, 2, 1, true>(&ctx, &e, bias),
                (Some(0), 1, false) => fixed::<3, 3, 1, 1, 1, false>(&ctx, &e, bias),
                (Some(0), _, false) => fixed::<3, 3, 1, 1, 2, false>(&ctx, &e, bias),
                (Some(1), _, false) => fixed::<3, 3, 2, 1, 1, false>(&ctx, &e, bias),
                (Some(2), 1, false) => fixed::<5, 5, 1, 2, 1, false>(&ctx, &e, bias),
                (Some(2), _, false) => fixed::<5, 5, 1, 2, 2, false>(&ctx, &e, bias),
                (Some(_), _, false) => fixed::<5, 5, 2, 2, 1, false>(&ctx, &e, bias),
                (None, _, _) => general(&ctx, &e, bias),
            }
        }
        cb += t;
    }
}

/// One channel block of a `KH x KW` kernel with horizontal stride `SW` (`G = ceil(KH / 4)`
/// column groups), `P` output pixels per vector: a sliding window of interleaved input
/// columns, weights in registers. Groups of outputs whose columns are all inside the input
/// run without column checks (rows outside it read the zero-point row).
///
/// # Safety
///
/// As for [`run`]; `ctx` describes a layer with these kernel sizes and stride, `e` and
/// `bias` were gathered for `P` pixels per vector, and `P == 2` only for a block of whole
/// pixels with `SW == 1`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn fixed<const KH: usize, const KW: usize, const SW: usize, const G: usize, const P: usize, const FAST: bool>(
    ctx: &Ctx<'_>,
    e: &Epilogue,
    mut bias: [__m512i; 4],
) {
    let p = ctx.p;
    debug_assert!(p.kernel_h == KH && p.kernel_w == KW && p.stride_w == SW && G == KH.div_ceil(4));
    debug_assert!(P == 1 || (P == 2 && SW == 1 && ctx.t == p.channels));
    let mut w = [[[_mm512_setzero_si512(); 4]; KW]; G];
    for (g, wg) in w.iter_mut().enumerate() {
        for (kx, wk) in wg.iter_mut().enumerate() {
            *wk = ctx.weights::<P>(g, kx);
            bias = corrected(bias, wk);
        }
    }
    // Input columns advance by `s` per group of `P` outputs; group `gx` reads columns
    // `gx * s - pad_left + d` for `d` in `0..=span`.
    let s = P * SW;
    let span = P - 1 + KW - 1;
    let groups = p.out_w.div_ceil(P);
    // Groups `first..end` are full and read only columns inside the input.
    let first = p.pad_left.div_ceil(s).min(groups);
    let end = (p.in_w + p.pad_left).checked_sub(span).map_or(0, |n| n.div_ceil(s)).min(p.out_w / P).max(first);
    let pad = _mm512_xor_si512(ctx.zero, _mm512_set1_epi8(-128));
    let pad_column = [[pad; 4]; G];
    for oy in 0..p.out_h {
        let mut rows = [Source::zeros(ctx.zero_row); KH];
        for (ky, row) in rows.iter_mut().enumerate() {
            *row = ctx.row(oy, ky);
        }
        // The interleaved column groups under kernel columns `0..KW` (for two pixels, the
        // second one column further); before the first group of outputs, as if for group
        // -1, whose kernel column `kx` starts at column `kx - s - pad_left`.
        let mut window = [pad_column; KW];
        for kx in s.min(KW)..KW {
            let c0 = (kx - s).wrapping_sub(p.pad_left);
            if ctx.any_column::<P>(c0) {
                // SAFETY: the rows come from `ctx.row`, and for `P == 1` column `c0` is
                // inside the input.
                window[kx] = unsafe { column::<KH, G, P, false>(ctx, &rows, c0) };
            }
        }
        // One group of outputs; `$inside` says that every column it reads is inside the
        // input. (A macro rather than a closure, so that the window stays in registers.)
        macro_rules! group {
            ($gx:expr, $inside:expr, $window:ident, $rows:ident) => {{
                let gx: usize = $gx;
                for kx in 0..KW.saturating_sub(s) {
                    $window[kx] = $window[kx + s];
                }
                for kx in KW.saturating_sub(s)..KW {
                    let c0 = (gx * s + kx).wrapping_sub(p.pad_left);
                    $window[kx] = if $inside {
                        // SAFETY: the rows come from `ctx.row`, and in groups `first..end`
                        // every column read is inside the input.
                        unsafe { column::<KH, G, P, true>(ctx, &$rows, c0) }
                    } else if ctx.any_column::<P>(c0) {
                        // SAFETY: the rows come from `ctx.row`, and for `P == 1` column
                        // `c0` is inside the input.
                        unsafe { column::<KH, G, P, false>(ctx, &$rows, c0) }
                    } else {
                        pad_column
                    };
                }
                let mut acc = bias;
                for kx in 0..KW {
                    for g in 0..G {
                        for k in 0..4 {
                            acc[k] = _mm512_dpbusd_epi32(acc[k], $window[kx][g][k], w[g][kx][k]);
                        }
                    }
                }
                let ox0 = gx * P;
                let n = P.min(p.out_w - ox0);
                // SAFETY: `oy < out_h` and `ox0 + n <= out_w`.
                unsafe { ctx.store::<P>(oy, ox0, n, requantize::<FAST>(acc, e)) };
            }};
        }
        for gx in 0..first {
            group!(gx, false, window, rows);
        }
        for gx in first..end {
            group!(gx, true, window, rows);
        }
        for gx in end..groups {
            group!(gx, false, window, rows);
        }
    }
}

/// The `G` interleaved column groups, for `KH` kernel rows, of the `P` input columns
/// `c0 + i`, flipped to `x ^ 0x80`.
///
/// # Safety
///
/// As for [`Ctx::load`].
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline]
unsafe fn column<const KH: usize, const G: usize, const P: usize, const INSIDE: bool>(
    ctx: &Ctx<'_>,
    rows: &[Source; KH],
    c0: usize,
) -> [[__m512i; 4]; G] {
    let flip = _mm512_set1_epi8(-128);
    let mut out = [[_mm512_setzero_si512(); 4]; G];
    for (g, group) in out.iter_mut().enumerate() {
        let mut r = [_mm512_setzero_si512(); 4];
        for j in 0..4 {
            let ky = 4 * g + j;
            // Rows past the kernel have zero weights: repeat the previous one.
            r[j] = if ky < KH {
                // SAFETY: as promised by the caller.
                _mm512_xor_si512(unsafe { ctx.load::<P, INSIDE>(rows[ky], c0) }, flip)
            } else {
                r[j - 1]
            };
        }
        *group = interleave(r);
    }
    out
}

/// One channel block of any kernel and stride, one pixel per vector: each output builds
/// its column groups and their weights afresh.
///
/// # Safety
///
/// As for [`run`], with `e` and `bias` gathered for one pixel per vector.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn general(ctx: &Ctx<'_>, e: &Epilogue, mut bias: [__m512i; 4]) {
    let p = ctx.p;
    let groups = p.kernel_h.div_ceil(4);
    for g in 0..groups {
        for kx in 0..p.kernel_w {
            bias = corrected(bias, &ctx.weights::<1>(g, kx));
        }
    }
    let flip = _mm512_set1_epi8(-128);
    let pad = _mm512_xor_si512(ctx.zero, flip);
    for oy in 0..p.out_h {
        for ox in 0..p.out_w {
            let mut acc = bias;
            for g in 0..groups {
                for kx in 0..p.kernel_w {
                    let ix = (ox * p.stride_w + kx).wrapping_sub(p.pad_left);
                    let x = if ix < p.in_w {
                        let mut r = [pad; 4];
                        for (j, r) in r.iter_mut().enumerate() {
                            let ky = 4 * g + j;
                            if ky < p.kernel_h {
                                // SAFETY: the row comes from `ctx.row` and `ix < in_w`.
                                *r = _mm512_xor_si512(unsafe { ctx.load::<1, true>(ctx.row(oy, ky), ix) }, flip);
                            }
                        }
                        interleave(r)
                    } else {
                        [pad; 4]
                    };
                    let w = ctx.weights::<1>(g, kx);
                    for k in 0..4 {
                        acc[k] = _mm512_dpbusd_epi32(acc[k], x[k], w[k]);
                    }
                }
            }
            let v = if e.fast { requantize::<true>(acc, e) } else { requantize::<false>(acc, e) };
            // SAFETY: `oy < out_h`, `ox < out_w`.
            unsafe { ctx.store::<1>(oy, ox, 1, v) };
        }
    }
}
