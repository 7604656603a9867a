//! The AVX2 add: 32 elements per step, as four vectors of eight i32 lanes.
//!
//! The same integer steps as the AVX-512 path (see `avx512.rs` for the proof that they
//! equal the scalar definition): `vpmovsxbd`, `vpmulld` and `vpaddd` compute
//! `acc + 2^(s-1)` exactly in i32, `vpsrad` shifts it, and `vpackssdw`, `vpaddsw`,
//! `vpacksswb`, `vpmaxsb` / `vpminsb` narrow and clamp; a `vpermd` undoes the packs' lane
//! interleaving. The last `len % 32` elements go through zero-filled stack buffers.

use core::arch::x86_64::*;

use super::Add;

/// Elements per step.
const STEP: usize = 32;

/// AVX2 add (lengths and constant ranges already checked by the dispatcher).
pub(super) fn add(p: &Add, a: &[i8], b: &[i8], output: &mut [i8]) {
    // SAFETY: the dispatcher calls this only for the Avx2 and AvxVnni backends, which it
    // has checked are available (both require AVX2).
    unsafe { add_avx2(p, a, b, output) }
}

/// The layer's constants, broadcast.
#[derive(Clone, Copy)]
struct Consts {
    a_multiplier: __m256i,
    b_multiplier: __m256i,
    /// `2^(s-1) - z_a * m_a - z_b * m_b`.
    offset: __m256i,
    shift: __m128i,
    zero_point: __m256i,
    lo: __m256i,
    hi: __m256i,
    /// `vpermd` indices that put the dwords of the packed bytes back in element order.
    order: __m256i,
}

impl Consts {
    #[target_feature(enable = "avx2")]
    fn new(p: &Add) -> Consts {
        // In range, `|z * m| < 2^28`, so the offset is exact in i32.
        let offset = (1i32 << (p.shift - 1)) - p.a_zero_point * p.a_multiplier - p.b_zero_point * p.b_multiplier;
        Consts {
            a_multiplier: _mm256_set1_epi32(p.a_multiplier),
            b_multiplier: _mm256_set1_epi32(p.b_multiplier),
            offset: _mm256_set1_epi32(offset),
            shift: _mm_cvtsi32_si128(p.shift),
            zero_point: _mm256_set1_epi16(p.output.zero_point as i16),
            lo: _mm256_set1_epi8(p.output.min),
            hi: _mm256_set1_epi8(p.output.max),
            // After the packs, dword `4 * l + j` holds elements `8 * j + 4 * l ..+4`.
            order: _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7),
        }
    }
}

/// 32 outputs from 32 elements of each input, given as four 8-byte pieces (low halves).
#[target_feature(enable = "avx2")]
#[inline]
fn step(c: &Consts, a: [__m128i; 4], b: [__m128i; 4]) -> __m256i {
    let mut v = [_mm256_setzero_si256(); 4];
    for j in 0..4 {
        let a = _mm256_mullo_epi32(_mm256_cvtepi8_epi32(a[j]), c.a_multiplier);
        let b = _mm256_mullo_epi32(_mm256_cvtepi8_epi32(b[j]), c.b_multiplier);
        let acc = _mm256_add_epi32(_mm256_add_epi32(a, c.offset), b);
        v[j] = _mm256_sra_epi32(acc, c.shift);
    }
    let low = _mm256_adds_epi16(_mm256_packs_epi32(v[0], v[1]), c.zero_point);
    let high = _mm256_adds_epi16(_mm256_packs_epi32(v[2], v[3]), c.zero_point);
    let bytes = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(low, high), c.order);
    _mm256_min_epi8(_mm256_max_epi8(bytes, c.lo), c.hi)
}

/// Loads 32 bytes at `p` as four 8-byte pieces.
///
/// # Safety
///
/// AVX2 must be available and `p` valid for reading 32 bytes.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn pieces(p: *const i8) -> [__m128i; 4] {
    let mut v = [_mm_setzero_si128(); 4];
    for j in 0..4 {
        // SAFETY: bytes `8 * j .. 8 * j + 8` lie within the 32 the caller vouches for.
        v[j] = unsafe { _mm_loadl_epi64(p.add(8 * j).cast()) };
    }
    v
}

/// # Safety
///
/// AVX2 must be available; `a`, `b` and `output` must be `p.len` long and the constants in
/// their documented ranges.
#[target_feature(enable = "avx2")]
unsafe fn add_avx2(p: &Add, a: &[i8], b: &[i8], output: &mut [i8]) {
    let c = Consts::new(p);
    let n = p.len;
    let (pa, pb, po) = (a.as_ptr(), b.as_ptr(), output.as_mut_ptr());
    let mut i = 0;
    while i + STEP <= n {
        // SAFETY: `i + STEP <= n`, the length of `a`, `b` and `output`.
        unsafe {
            let out = step(&c, pieces(pa.add(i)), pieces(pb.add(i)));
            _mm256_storeu_si256(po.add(i).cast(), out);
        }
        i += STEP;
    }
    if i < n {
        let rest = n - i;
        let (mut x, mut y, mut out) = ([0i8; STEP], [0i8; STEP], [0i8; STEP]);
        x[..rest].copy_from_slice(&a[i..]);
        y[..rest].copy_from_slice(&b[i..]);
        // SAFETY: the buffers are 32 bytes long.
        unsafe {
            let v = step(&c, pieces(x.as_ptr()), pieces(y.as_ptr()));
            _mm256_storeu_si256(out.as_mut_ptr().cast(), v);
        }
        output[i..].copy_from_slice(&out[..rest]);
    }
}
