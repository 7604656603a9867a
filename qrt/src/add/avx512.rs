//! The AVX-512 add: 64 elements per step, as four vectors of sixteen i32 lanes.
//!
//! Per lane it computes `a * m_a + b * m_b + k` with `k = 2^(s-1) - z_a * m_a - z_b * m_b`
//! (`vpmovsxbd`, `vpmulld`, `vpaddd`), shifts it right arithmetically by `s` (`vpsrad`),
//! and narrows with `vpackssdw`, `vpaddsw` (the output zero point), `vpacksswb`, then
//! `vpmaxsb` / `vpminsb` for the clamp and `vpermd` to undo the packs' lane interleaving.
//!
//! Exactness, for constants in their documented ranges (the dispatcher checks them):
//! `|a * m_a|, |b * m_b| <= 128 * (2^21 - 1) < 2^28` and `|k| <= 2^29 + 2 * 2^28 = 2^30`, so
//! every partial sum stays below `2^31` in magnitude: the i32 lanes hold the exact integer
//! `acc + 2^(s-1)` that the scalar loop computes, and the shift is the same arithmetic
//! shift. Call the shifted value `v` (`|v| < 2^30`); the scalar output is
//! `min(max(v + z, lo), hi)` (its saturating add never saturates). Here the lane becomes
//! `min(max(sat8(sat16(sat16(v) + z)), lo), hi)`. When `|v| <= 32640` nothing saturates
//! before the i8 step, and `min(max(sat8(x), lo), hi) = min(max(x, lo), hi)` because
//! `lo` and `hi` are int8. When `v > 32640`, both `v + z` and `sat16(v) + z` exceed
//! `32640 - 128 > 127 >= lo`, so both sides give `hi`; `v < -32640` gives `min(lo, hi)` on
//! both sides the same way (also when a fused clamp has `lo > hi`).

use core::arch::x86_64::*;

use super::Add;

/// Elements per step.
const STEP: usize = 64;

/// AVX-512 add (lengths and constant ranges already checked by the dispatcher).
pub(super) fn add(p: &Add, a: &[i8], b: &[i8], output: &mut [i8]) {
    // SAFETY: the dispatcher calls this only for the Avx512Vnni backend, which it has
    // checked is available (AVX-512 F, BW and VL among its features).
    unsafe { add_avx512(p, a, b, output) }
}

/// The layer's constants, broadcast.
#[derive(Clone, Copy)]
struct Consts {
    a_multiplier: __m512i,
    b_multiplier: __m512i,
    /// `2^(s-1) - z_a * m_a - z_b * m_b`.
    offset: __m512i,
    shift: __m128i,
    zero_point: __m512i,
    lo: __m512i,
    hi: __m512i,
    /// `vpermd` indices that put the dwords of the packed bytes back in element order.
    order: __m512i,
}

impl Consts {
    #[target_feature(enable = "avx512f,avx512bw,avx512vl")]
    fn new(p: &Add) -> Consts {
        // In range, `|z * m| < 2^28`, so the offset is exact in i32.
        let offset = (1i32 << (p.shift - 1)) - p.a_zero_point * p.a_multiplier - p.b_zero_point * p.b_multiplier;
        Consts {
            a_multiplier: _mm512_set1_epi32(p.a_multiplier),
            b_multiplier: _mm512_set1_epi32(p.b_multiplier),
            offset: _mm512_set1_epi32(offset),
            shift: _mm_cvtsi32_si128(p.shift),
            zero_point: _mm512_set1_epi16(p.output.zero_point as i16),
            lo: _mm512_set1_epi8(p.output.min),
            hi: _mm512_set1_epi8(p.output.max),
            // After the packs, dword `4 * l + j` holds elements `16 * j + 4 * l ..+4`.
            order: _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15),
        }
    }
}

/// 64 outputs from 64 elements of each input, given as four 16-byte pieces.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
#[inline]
fn step(c: &Consts, a: [__m128i; 4], b: [__m128i; 4]) -> __m512i {
    let mut v = [_mm512_setzero_si512(); 4];
    for j in 0..4 {
        let a = _mm512_mullo_epi32(_mm512_cvtepi8_epi32(a[j]), c.a_multiplier);
        let b = _mm512_mullo_epi32(_mm512_cvtepi8_epi32(b[j]), c.b_multiplier);
        let acc = _mm512_add_epi32(_mm512_add_epi32(a, c.offset), b);
        v[j] = _mm512_sra_epi32(acc, c.shift);
    }
    let low = _mm512_adds_epi16(_mm512_packs_epi32(v[0], v[1]), c.zero_point);
    let high = _mm512_adds_epi16(_mm512_packs_epi32(v[2], v[3]), c.zero_point);
    let bytes = _mm512_permutexvar_epi32(c.order, _mm512_packs_epi16(low, high));
    _mm512_min_epi8(_mm512_max_epi8(bytes, c.lo), c.hi)
}

/// The four 16-byte pieces of a vector.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
#[inline]
fn pieces(v: __m512i) -> [__m128i; 4] {
    [
        _mm512_castsi512_si128(v),
        _mm512_extracti32x4_epi32::<1>(v),
        _mm512_extracti32x4_epi32::<2>(v),
        _mm512_extracti32x4_epi32::<3>(v),
    ]
}

/// # Safety
///
/// AVX-512 F, BW and VL must be available; `a`, `b` and `output` must be `p.len` long and
/// the constants in their documented ranges.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn add_avx512(p: &Add, a: &[i8], b: &[i8], output: &mut [i8]) {
    let c = Consts::new(p);
    let n = p.len;
    let (pa, pb, po) = (a.as_ptr(), b.as_ptr(), output.as_mut_ptr());
    let mut i = 0;
    while i + STEP <= n {
        let mut x = [_mm_setzero_si128(); 4];
        let mut y = [_mm_setzero_si128(); 4];
        for j in 0..4 {
            // SAFETY: `i + 16 * j + 16 <= i + STEP <= n`, the length of `a` and `b`.
            unsafe {
                x[j] = _mm_loadu_si128(pa.add(i + 16 * j).cast());
                y[j] = _mm_loadu_si128(pb.add(i + 16 * j).cast());
            }
        }
        let out = step(&c, x, y);
        // SAFETY: `i + STEP <= n`, the length of `output`.
        unsafe { _mm512_storeu_si512(po.add(i).cast(), out) };
        i += STEP;
    }
    if i < n {
        // Fewer than 64 elements remain: masked loads and store touch only those.
        let mask: __mmask64 = (1u64 << (n - i)) - 1;
        // SAFETY: the mask selects bytes `i..n`, inside each slice; masked-off bytes are
        // neither read nor written.
        unsafe {
            let x = _mm512_maskz_loadu_epi8(mask, pa.add(i));
            let y = _mm512_maskz_loadu_epi8(mask, pb.add(i));
            let out = step(&c, pieces(x), pieces(y));
            _mm512_mask_storeu_epi8(po.add(i), mask, out);
        }
    }
}
