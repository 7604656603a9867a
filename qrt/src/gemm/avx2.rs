//! The AVX2 GEMM: the exact 16-bit path, `vpmovsxbw` + `vpmaddwd` + `vpaddd` (never
//! `vpmaddubsw`, which saturates).
//!
//! Four channels of a packed group (16 bytes: 4 channels x 4 inputs) sign-extend to one
//! ymm of 16 words; a row's four inputs, as words, are broadcast to the four 64-bit
//! quarters of another; `vpmaddwd` then leaves two partial sums per channel, kept apart
//! until a reduction chunk ends and added pairwise (`vphaddd`).
//!
//! Loop order: output channels in chunks of [`NC`]; inside a chunk, rows in tiles of
//! [`MR`] = 6; the reduction in chunks of [`KC`] inputs. A tile's rows are sign-extended
//! once per reduction chunk into a stack buffer, zero-padded to whole groups (so the K
//! tail never reads past a row), and reused by every eight channels of the chunk. The inner
//! loop covers 6 rows x 8 channels (half a packed block): per group, two weight loads with
//! extension, then per row one broadcast load, two `vpmaddwd` and two `vpaddd` (12
//! accumulators, 16 ymm registers in all). `vpmaddwd` + `vpaddd` cost two ALU operations
//! per 16 MACs, so with four vector pipes the exact path tops out at 32 MACs per cycle
//! before any load, extension or broadcast. The sums go through a stack buffer between
//! reduction chunks and to the epilogue.
//!
//! # Exact requantization
//!
//! Both x86 backends compute `OutputQuant::finish(Requant::apply(acc))` exactly, per lane,
//! with per-channel `m` and `s`. Let `v = floor((acc * m + 2^(s-1)) / 2^s)`, the exact
//! rounded quotient (an integer that may exceed i32), and `z`, `min`, `max` the output
//! zero point and clamp. The scalar result is `F = min(max(sat32(sat32(v) + z), min), max)`.
//! One fact is used throughout: clamping to `[a, b]` after clamping (saturating) to a
//! larger interval that contains `[a, b]` is clamping to `[a, b]`; when `a > b`, max-then-
//! min gives `b` either way.
//!
//! 1. General form. With `lo = min - z` and `hi = max - z`, both required to fit i32
//!    ([`Bounds::new`]; otherwise the backends run the scalar twin), the fact and a
//!    translation by `z` give `F = min(max(v, lo), hi) + z`. That value is in `[min, max]`
//!    (or is `max`), so the `+ z` cannot overflow, and saturating it to int8 and clamping
//!    again to `[min, max]` changes nothing.
//! 2. Fast form: shifts `s` in `[33, 62]` (every multiplier below 1/4, the common case)
//!    and `|z| <= 2^30`. The product `P = acc * m` (`vpmuldq`, `|P| <= 2^62`) is exact;
//!    let `H = floor(P / 2^32)`, its high dword, and `t = 2^(s-33)`. Since
//!    `2^(s-1) = t * 2^32` and nested floor divisions by positive integers compose,
//!    `v = floor(floor((P + t * 2^32) / 2^32) / 2^(s-32)) = floor((H + t) / 2^(s-32))`,
//!    which is `(H + t) >> (s - 32)` (`vpsravd`, count 1..=30). `|H| <= 2^30` and
//!    `t <= 2^29`, so `H + t` fits i32 and `|v| < 2^30`; then `v + z` fits i32 too, the
//!    scalar saturations do nothing, and `F = min(max(sat8(v + z), min), max)`, by the
//!    fact: the saturating packs (`vpackssdw`, `vpacksswb`) and a byte min/max.
//! 3. Any `s` in `[1, 62]`, in 64 bits. `P' = P + 2^(s-1)` fits i64
//!    (`|P'| < 2^62 + 2^61`). AVX-512 shifts it with `vpsravq`. AVX2 has only the logical
//!    `vpsrlvq`: `U = P' xor 2^63` is `P' + 2^63` as an unsigned integer (it lies in
//!    `[0, 2^64)`), so `U >> s = floor(P' / 2^s) + 2^(63-s)` exactly (`2^63` is a multiple
//!    of `2^s`), and subtracting `2^(63-s)` leaves `v`. Then form 1, with the clamp done in
//!    64 bits (`vpcmpgtq` + blend; AVX-512: `vpmaxsq`/`vpminsq`).

use core::arch::x86_64::*;
use core::mem::MaybeUninit;

use super::{Gemm, GemmQuant, NR};
use crate::requant::OutputQuant;

/// Rows per tile.
const MR: usize = 6;
/// Output channels per chunk (a multiple of 16).
const NC: usize = 64;
/// Inputs per reduction chunk (a multiple of 16).
const KC: usize = 512;
/// Words from one widened row to the next (`KC` and an offset against L1 bank conflicts).
const XS: usize = KC + 24;

/// The output side in the forms the exact epilogues use (module docs, "Exact
/// requantization").
#[derive(Clone, Copy, Debug)]
pub(super) struct Bounds {
    /// `min - zero_point` (form 1).
    pub(super) lo: i32,
    /// `max - zero_point` (form 1).
    pub(super) hi: i32,
    /// The output zero point.
    pub(super) zero_point: i32,
    /// The lowest output.
    pub(super) min: i8,
    /// The highest output.
    pub(super) max: i8,
}

impl Bounds {
    /// `None` when `min - z` or `max - z` leaves i32 (a zero point no planner produces;
    /// the backends then run the scalar twin).
    pub(super) fn new(o: OutputQuant) -> Option<Bounds> {
        let lo = i32::try_from(o.min as i64 - o.zero_point as i64).ok()?;
        let hi = i32::try_from(o.max as i64 - o.zero_point as i64).ok()?;
        Some(Bounds { lo, hi, zero_point: o.zero_point, min: o.min, max: o.max })
    }

    /// The clamp narrows the int8 range: `[min, max]` is not `[-128, 127]`, which
    /// saturating packs to int8 give already.
    pub(super) fn clamps(&self) -> bool {
        self.min != i8::MIN || self.max != i8::MAX
    }

    /// The zero point allows form 2 (`|z| <= 2^30`).
    pub(super) fn fast(&self) -> bool {
        self.zero_point.unsigned_abs() <= 1 << 30
    }
}

/// AVX2 GEMM (lengths already checked by the dispatcher).
pub(super) fn gemm(p: &Gemm, input: &[i8], packed: &[i8], q: &GemmQuant<'_>, output: &mut [i8]) {
    let Some(bounds) = Bounds::new(p.output) else {
        return super::scalar::gemm(p, input, packed, q, output);
    };
    if p.rows == 0 || p.n == 0 {
        return;
    }
    // SAFETY: the dispatcher only calls this module when `Backend::Avx2.available()` and
    // after `gemm::check` verified every slice length against `p`.
    unsafe { gemm_avx2(p, input, packed, q, output, bounds) }
}

/// The epilogue constants of one chunk of [`NC`] channels, eight channels per vector.
struct ChunkQuant {
    /// The sums' start.
    bias: [i32; NC],
    /// Multipliers (`vpmuldq` reads the even lanes).
    m_even: [__m256i; NC / 8],
    /// The odd lanes' multipliers in the even positions.
    m_odd: [__m256i; NC / 8],
    /// Fast path: `2^(s-33)`; general path: `s`.
    round: [__m256i; NC / 8],
    /// Fast path: `s - 32`; general path: unused.
    shift: [__m256i; NC / 8],
    /// Form 2 applies: all eight shifts in `[33, 62]` and a small zero point.
    fast: [bool; NC / 8],
}

#[target_feature(enable = "avx2")]
unsafe fn gemm_avx2(p: &Gemm, input: &[i8], packed: &[i8], q: &GemmQuant<'_>, output: &mut [i8], bounds: Bounds) {
    let groups = p.k.div_ceil(4);
    let mut xs = MaybeUninit::<[i16; MR * XS]>::uninit();
    let xs = xs.as_mut_ptr().cast::<i16>();
    let mut acc = MaybeUninit::<[i32; MR * NC]>::uninit();
    let acc = acc.as_mut_ptr().cast::<i32>();
    let zero = _mm256_setzero_si256();
    let mut cq = ChunkQuant {
        bias: [0; NC],
        m_even: [zero; NC / 8],
        m_odd: [zero; NC / 8],
        round: [zero; NC / 8],
        shift: [zero; NC / 8],
        fast: [true; NC / 8],
    };
    for n0 in (0..p.n).step_by(NC) {
        let nc = NC.min(p.n - n0);
        chunk_quant(&mut cq, q, n0, nc, bounds);
        for r0 in (0..p.rows).step_by(MR) {
            let mr = MR.min(p.rows - r0);
            let mut g0 = 0;
            loop {
                let gc = (KC / 4).min(groups - g0);
                for i in 0..mr {
                    let row = &input[(r0 + i) * p.input_stride..][..p.k];
                    let part = &row[4 * g0..p.k.min(4 * (g0 + gc))];
                    // SAFETY: row `i < MR` of the buffer has `XS >= KC >= 4 * gc` words.
                    unsafe { widen(part, xs.add(i * XS), 4 * gc) };
                }
                for e in 0..nc.div_ceil(8) {
                    // Channels `c..c + 8`: half of a packed block.
                    let c = n0 + 8 * e;
                    let w = packed.as_ptr().wrapping_add(((c / NR) * groups + g0) * 64 + (c % NR) * 4);
                    // The sums start from the bias (first chunk) or where the previous
                    // reduction chunk left them.
                    let init = if g0 == 0 {
                        (cq.bias.as_ptr().wrapping_add(8 * e), 0)
                    } else {
                        (acc.wrapping_add(8 * e).cast_const(), NC)
                    };
                    let args = (xs.cast_const(), w, gc, init, acc.wrapping_add(8 * e));
                    // SAFETY (every arm): the eight channels lie in a packed block (zeros
                    // past `n`) with groups `g0..g0 + gc`; the buffers hold `mr` rows of
                    // `4 * gc` words and of `NC` sums (written before they are read).
                    unsafe {
                        match mr {
                            1 => micro::<1>(args),
                            2 => micro::<2>(args),
                            3 => micro::<3>(args),
                            4 => micro::<4>(args),
                            5 => micro::<5>(args),
                            _ => micro::<MR>(args),
                        }
                    }
                }
                g0 += gc;
                if g0 >= groups {
                    break;
                }
            }
            for i in 0..mr {
                let out = &mut output[(r0 + i) * p.output_stride + n0..][..nc];
                // SAFETY: row `i` of `acc` holds the sums of channels `n0..n0 + nc`,
                // rounded up to a multiple of 8.
                unsafe { finish_row(acc.add(i * NC), &cq, bounds, out) };
            }
        }
    }
}

/// Prepares the constants of channels `n0..n0 + nc` (lanes past `nc`: `m = 0`, `s = 33`).
#[target_feature(enable = "avx2")]
fn chunk_quant(cq: &mut ChunkQuant, q: &GemmQuant<'_>, n0: usize, nc: usize, bounds: Bounds) {
    for e in 0..nc.div_ceil(8) {
        let (mut m, mut s) = ([0i32; 8], [33i32; 8]);
        for l in 0..8 {
            let c = 8 * e + l;
            if c < nc {
                (m[l], s[l]) = (q.multiplier[n0 + c], q.shift[n0 + c]);
            }
            cq.bias[c] = if c < nc { q.bias[n0 + c] } else { 0 };
        }
        let fast = bounds.fast() && s.iter().all(|s| (33..=62).contains(s));
        // SAFETY: both pointers read eight-lane arrays on the stack.
        let (m, s) = unsafe { (_mm256_loadu_si256(m.as_ptr().cast()), _mm256_loadu_si256(s.as_ptr().cast())) };
        cq.m_even[e] = m;
        cq.m_odd[e] = _mm256_srli_epi64::<32>(m);
        cq.fast[e] = fast;
        if fast {
            let s32 = _mm256_sub_epi32(s, _mm256_set1_epi32(32));
            cq.round[e] = _mm256_sllv_epi32(_mm256_set1_epi32(1), _mm256_sub_epi32(s32, _mm256_set1_epi32(1)));
            cq.shift[e] = s32;
        } else {
            cq.round[e] = s;
        }
    }
}

/// Sign-extends `part` to words at `dst`, then zeros up to `len` (`>= part.len()`) words.
#[target_feature(enable = "avx2")]
unsafe fn widen(part: &[i8], dst: *mut i16, len: usize) {
    let mut t = 0;
    while t + 16 <= part.len() {
        // SAFETY: 16 bytes of `part` in, 16 words of the `len`-word destination out.
        unsafe {
            let v = _mm256_cvtepi8_epi16(_mm_loadu_si128(part.as_ptr().add(t).cast()));
            _mm256_storeu_si256(dst.add(t).cast(), v);
        }
        t += 16;
    }
    for u in t..len {
        let x = part.get(u).map_or(0, |&x| x as i16);
        // SAFETY: `u < len`.
        unsafe { dst.add(u).write(x) };
    }
}

/// Arguments of [`micro`]: widened rows (stride [`XS`]), the weights of the eight
/// channels at their first group, groups, start sums and their row stride, and where to
/// leave the sums (row stride [`NC`]).
type MicroArgs = (*const i16, *const i8, usize, (*const i32, usize), *mut i32);

/// `R` rows by eight channels over `groups` groups: two ymm accumulators per row, each
/// with two partial sums per channel, added pairwise (`vphaddd`) at the end.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn micro<const R: usize>((xs, w, groups, (init, init_stride), out): MicroArgs) {
    let mut acc = [[_mm256_setzero_si256(); 2]; R];
    for g in 0..groups {
        // SAFETY: 32 bytes of group `g`: channels 0-3 and 4-7, four inputs each.
        let (w0, w1) = unsafe {
            (
                _mm256_cvtepi8_epi16(_mm_loadu_si128(w.add(64 * g).cast())),
                _mm256_cvtepi8_epi16(_mm_loadu_si128(w.add(64 * g + 16).cast())),
            )
        };
        for (i, a) in acc.iter_mut().enumerate() {
            // SAFETY: words `4g..4g + 4` of widened row `i`.
            let x = unsafe { _mm256_set1_epi64x(xs.add(i * XS + 4 * g).cast::<i64>().read_unaligned()) };
            a[0] = _mm256_add_epi32(a[0], _mm256_madd_epi16(w0, x));
            a[1] = _mm256_add_epi32(a[1], _mm256_madd_epi16(w1, x));
        }
    }
    for (i, a) in acc.iter().enumerate() {
        // `vphaddd` leaves channels 0 1 4 5 | 2 3 6 7; `vpermq` restores their order.
        let sum = _mm256_permute4x64_epi64::<0xd8>(_mm256_hadd_epi32(a[0], a[1]));
        // SAFETY: eight sums per row on both sides (see the caller).
        unsafe {
            let start = _mm256_loadu_si256(init.add(i * init_stride).cast());
            _mm256_storeu_si256(out.add(i * NC).cast(), _mm256_add_epi32(start, sum));
        }
    }
}

/// Requantizes one row's sums into `out` (`nc` bytes).
#[target_feature(enable = "avx2")]
#[inline(never)]
unsafe fn finish_row(acc: *const i32, cq: &ChunkQuant, bounds: Bounds, out: &mut [i8]) {
    let lo = _mm256_set1_epi32(bounds.lo);
    let hi = _mm256_set1_epi32(bounds.hi);
    let zp = _mm256_set1_epi32(bounds.zero_point);
    let (min, max) = (_mm_set1_epi8(bounds.min), _mm_set1_epi8(bounds.max));
    // After the two packs, dword `4l + j` holds lanes `4l..4l + 4` of vector `j`.
    let order = _mm256_setr_epi32(0, 4, 1, 5, 0, 4, 1, 5);
    let groups = out.len().div_ceil(8);
    let value = |e: usize| {
        if e >= groups {
            return _mm256_setzero_si256();
        }
        // SAFETY: the sums of channels `8e..8e + 8` were written for this row.
        let sum = unsafe { _mm256_loadu_si256(acc.add(8 * e).cast()) };
        if cq.fast[e] {
            _mm256_add_epi32(requant_fast(sum, cq.m_even[e], cq.m_odd[e], cq.round[e], cq.shift[e]), zp)
        } else {
            _mm256_add_epi32(requant_general(sum, cq.m_even[e], cq.m_odd[e], cq.round[e], lo, hi), zp)
        }
    };
    for e in (0..groups).step_by(2) {
        let (v0, v1) = (value(e), value(e + 1));
        // Saturating to int8 then clamping to `[min, max]` is the clamp the scalar path
        // does (forms 1 and 2 of the module docs).
        let w = _mm256_packs_epi32(v0, v1);
        let bytes = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(_mm256_packs_epi16(w, w), order));
        let bytes = _mm_min_epi8(_mm_max_epi8(bytes, min), max);
        let dst = &mut out[8 * e..];
        if dst.len() >= 16 {
            // SAFETY: sixteen bytes of `out`.
            unsafe { _mm_storeu_si128(dst.as_mut_ptr().cast(), bytes) };
        } else {
            let mut tmp = [0i8; 16];
            // SAFETY: 16 bytes on the stack.
            unsafe { _mm_storeu_si128(tmp.as_mut_ptr().cast(), bytes) };
            let len = dst.len();
            dst.copy_from_slice(&tmp[..len]);
        }
    }
}

/// `floor((acc * m + 2^(s-1)) / 2^s)` for shifts in `[33, 62]` (form 2), given
/// `round = 2^(s-33)` and `shift = s - 32`.
#[target_feature(enable = "avx2")]
#[inline]
pub(super) fn requant_fast(acc: __m256i, m_even: __m256i, m_odd: __m256i, round: __m256i, shift: __m256i) -> __m256i {
    let even = _mm256_mul_epi32(acc, m_even);
    let odd = _mm256_mul_epi32(_mm256_srli_epi64::<32>(acc), m_odd);
    // High dwords: even lanes from `even` (moved down), odd lanes from `odd` (in place).
    let h = _mm256_blend_epi32::<0xaa>(_mm256_srli_epi64::<32>(even), odd);
    _mm256_srav_epi32(_mm256_add_epi32(h, round), shift)
}

/// The quotient clamped to `[lo, hi]` for any shifts in `[1, 62]` (`s` in the lanes;
/// forms 3 and 1).
#[target_feature(enable = "avx2")]
#[inline]
pub(super) fn requant_general(
    acc: __m256i,
    m_even: __m256i,
    m_odd: __m256i,
    s: __m256i,
    lo: __m256i,
    hi: __m256i,
) -> __m256i {
    let s_even = _mm256_and_si256(s, _mm256_set1_epi64x(0xffff_ffff));
    let s_odd = _mm256_srli_epi64::<32>(s);
    let lo = _mm256_cvtepi32_epi64(_mm256_castsi256_si128(lo));
    let hi = _mm256_cvtepi32_epi64(_mm256_castsi256_si128(hi));
    let even = shift_clamp(_mm256_mul_epi32(acc, m_even), s_even, lo, hi);
    let odd = shift_clamp(_mm256_mul_epi32(_mm256_srli_epi64::<32>(acc), m_odd), s_odd, lo, hi);
    // Clamped values fit 32 bits: odd lanes take `odd`'s low dwords (0, 2 -> 1, 3).
    _mm256_blend_epi32::<0xaa>(even, _mm256_shuffle_epi32::<0xa0>(odd))
}

/// `min(max((p + 2^(s-1)) >> s, lo), hi)` in 64-bit lanes, the arithmetic shift built
/// from the logical one (form 3).
#[target_feature(enable = "avx2")]
#[inline]
fn shift_clamp(p: __m256i, s: __m256i, lo: __m256i, hi: __m256i) -> __m256i {
    let one = _mm256_set1_epi64x(1);
    let sign = _mm256_set1_epi64x(i64::MIN);
    let rounded = _mm256_add_epi64(p, _mm256_sllv_epi64(one, _mm256_sub_epi64(s, one)));
    let biased = _mm256_srlv_epi64(_mm256_xor_si256(rounded, sign), s);
    let v = _mm256_sub_epi64(biased, _mm256_sllv_epi64(one, _mm256_sub_epi64(_mm256_set1_epi64x(63), s)));
    // `max` before `min`, as `OutputQuant::finish` does (they differ only when lo > hi).
    let v = _mm256_blendv_epi8(v, lo, _mm256_cmpgt_epi64(lo, v));
    _mm256_blendv_epi8(v, hi, _mm256_cmpgt_epi64(v, hi))
}
