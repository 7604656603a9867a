//! Elementwise add of two int8 tensors with their own scales into a third.
//!
//! Each input is rescaled to the output scale by an integer multiplier `m_a`, `m_b` in
//! `[0, 2^21)` sharing one right shift `s` in `[1, 30]` (chosen at compile time from
//! `s_a / s_out` and `s_b / s_out`), summed, and rounded once, ties upward, in 32 bits:
//!
//! ```text
//! acc = (a - z_a) * m_a + (b - z_b) * m_b          |acc| < 2^30
//! out = clamp(z_out + ((acc + 2^(s-1)) >> s), min, max)
//! ```
//!
//! Why 32 bits suffice: inputs and zero points lie in `[-128, 127]`, so `|a - z_a| <= 255
//! < 2^8`; with `m_a < 2^21` each product is below `2^29` in magnitude, their sum below
//! `2^30`, and adding the rounding term `2^(s-1) <= 2^29` stays below `2^31`.
//!
//! The scalar loop ([`add_scalar`]) is the definition; the AVX2, AVX-512 and NEON paths compute
//! the same integers in 32-bit lanes and return the same bytes. [`add`] runs the backend
//! chosen by [`crate::cpu::backend`]; [`add_on`] runs a given one (tests and benchmarks).

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "aarch64")]
mod neon;
mod scalar;

pub use scalar::add as add_scalar;

use crate::cpu::{backend, Backend};
use crate::fmath::{pow2, round_half_away_f64};
use crate::requant::OutputQuant;

/// Constants of one Add.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Add {
    /// Elements.
    pub len: usize,
    /// First input's zero point.
    pub a_zero_point: i32,
    /// First input's multiplier, `< 2^21`.
    pub a_multiplier: i32,
    /// Second input's zero point.
    pub b_zero_point: i32,
    /// Second input's multiplier, `< 2^21`.
    pub b_multiplier: i32,
    /// Common right shift in `[1, 30]`.
    pub shift: i32,
    /// Output zero point and clamp.
    pub output: OutputQuant,
}

/// Multipliers must stay below this bound (`2^21`) so that `|acc| < 2^30`.
const MULTIPLIER_BOUND: f64 = 2_097_152.0;

/// Encodes two real rescale factors `r_a = s_a / s_out`, `r_b = s_b / s_out` as
/// `(m_a, m_b, shift)`: the largest shift in `[1, 30]` with both multipliers `< 2^21`.
/// `None` when a factor is negative, not finite, or `>= 2^20`.
///
/// Each multiplier is `round(r * 2^shift)` (halves away from zero). The largest shift
/// keeps the larger multiplier in `[2^20, 2^21)` (about 21 significant bits) unless the
/// factors are small enough that shift 30 is reached. A factor in `[2^20 - 1/4, 2^20)`
/// rounds to `2^21` even at shift 1, so it is rejected too.
pub fn encode_pair(r_a: f64, r_b: f64) -> Option<(i32, i32, i32)> {
    // The range test also rejects NaN.
    let valid = |r: f64| (0.0..MULTIPLIER_BOUND / 2.0).contains(&r);
    if !valid(r_a) || !valid(r_b) {
        return None;
    }
    // Multiplying by a power of two is exact, and rounding is monotone in the shift, so the
    // first shift that fits, counting down, is the largest.
    (1..=30).rev().find_map(|shift| {
        let m_a = round_half_away_f64(r_a * pow2(shift));
        let m_b = round_half_away_f64(r_b * pow2(shift));
        (m_a < MULTIPLIER_BOUND && m_b < MULTIPLIER_BOUND).then_some((m_a as i32, m_b as i32, shift))
    })
}

/// Asserts that the slices are `p.len` long (every backend relies on this).
pub(crate) fn check(p: &Add, a: &[i8], b: &[i8], output: &[i8]) {
    assert!(a.len() == p.len && b.len() == p.len && output.len() == p.len, "add: slice lengths differ from len");
}

/// True when the constants lie in the documented ranges (zero points in `[-128, 127]`,
/// multipliers in `[0, 2^21)`, shift in `[1, 30]`). The SIMD paths rely on them; anything
/// else, which the compiler never plans, runs the scalar definition.
fn in_range(p: &Add) -> bool {
    let zero_point = |z: i32| (-128..=127).contains(&z);
    let multiplier = |m: i32| (0..1 << 21).contains(&m);
    zero_point(p.a_zero_point)
        && zero_point(p.b_zero_point)
        && zero_point(p.output.zero_point)
        && multiplier(p.a_multiplier)
        && multiplier(p.b_multiplier)
        && (1..=30).contains(&p.shift)
}

/// Runs the add on the selected backend ([`crate::cpu::backend`]).
pub fn add(p: &Add, a: &[i8], b: &[i8], output: &mut [i8]) {
    add_on(backend(), p, a, b, output)
}

/// Runs the add on `backend` (which must be available; tests use this to compare backends).
pub fn add_on(backend: Backend, p: &Add, a: &[i8], b: &[i8], output: &mut [i8]) {
    check(p, a, b, output);
    assert!(backend.available(), "add: backend {} is not available on this CPU", backend.name());
    if !in_range(p) {
        return scalar::add(p, a, b, output);
    }
    match backend {
        #[cfg(target_arch = "x86_64")]
        // AVX-VNNI adds nothing to an add: the AVX2 kernel.
        Backend::Avx2 | Backend::AvxVnni => avx2::add(p, a, b, output),
        #[cfg(target_arch = "x86_64")]
        Backend::Avx512Vnni | Backend::Avx512Amx => avx512::add(p, a, b, output),
        #[cfg(target_arch = "aarch64")]
        Backend::Neon | Backend::NeonDot => neon::add(p, a, b, output),
        _ => scalar::add(p, a, b, output),
    }
}
