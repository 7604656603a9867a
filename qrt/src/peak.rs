//! The core's own int8 multiply-accumulate rate on each x86 backend's exact instruction:
//! a loop of that instruction on registers only (twelve independent chains, no loads, no
//! stores), timed. `qforge bench` divides it by the clock to get the ceiling it reports
//! each kernel's share of, so the ceiling is what this core does, not a figure from a
//! table: the same `vpdpbusd zmm` issues once per cycle on Zen 4 (64 MACs), twice on Zen 5
//! and on Intel's server cores with two 512-bit units (128), and once on those with one.
//!
//! Not used by models. A benchmark helper, `std` only.

use std::time::Instant;

use crate::cpu::Backend;

/// Independent accumulator chains: enough to cover a 5-cycle latency at two per cycle.
/// Each chain feeds its accumulator back as a multiplicand too, so that no operand is
/// loop-invariant and the compiler cannot fold the loop into one multiply.
const CHAINS: usize = 12;

/// int8 multiply-accumulates per second that one thread of this core sustains with the
/// instruction `backend`'s GEMM is built on (`vpmaddwd` for AVX2, 256-bit `vpdpbusd` for
/// AVX-VNNI, 512-bit `vpdpbusd` for AVX-512 VNNI): the best of a few runs of `rounds`
/// rounds of [`CHAINS`] instructions each. `None` for other backends and where the CPU
/// lacks the instruction.
pub fn macs_per_second(backend: Backend, rounds: u64) -> Option<f64> {
    if !backend.available() {
        return None;
    }
    let macs_per_instruction = match backend {
        Backend::Avx2 => 16.0,
        Backend::AvxVnni => 32.0,
        Backend::Avx512Vnni => 64.0,
        _ => return None,
    };
    let rounds = rounds.max(1);
    Some(macs_per_instruction * (CHAINS as u64 * rounds) as f64 / best_seconds(|| run::<false>(backend, rounds)))
}

/// The core clock in GHz while `backend`'s instruction keeps its vector units busy, where
/// it can be measured (as [`macs_per_second`]): many cores run 512-bit (and some 256-bit)
/// multiply-accumulates at a lower clock than scalar code, so a ceiling of "MACs per cycle
/// times the scalar clock" overstates what they can do. Each round issues the instruction
/// on [`CHAINS`] independent accumulators beside four steps of the dependent chain of
/// [`scalar_ghz`]; the chain's 16 cycles outlast the instructions' 6 to 12, so the
/// round's time counts the chain's cycles at the clock the vector load leaves the core.
pub fn loaded_ghz(backend: Backend, rounds: u64) -> Option<f64> {
    if !backend.available() || !matches!(backend, Backend::Avx2 | Backend::AvxVnni | Backend::Avx512Vnni) {
        return None;
    }
    let rounds = rounds.max(1);
    Some((CHAIN_STEPS * STEP_CYCLES) as f64 * rounds as f64 / best_seconds(|| run::<true>(backend, rounds)) / 1e9)
}

/// The core clock in GHz on scalar code: a chain of dependent `x = (x * c) ^ (x >> 7)`
/// steps costs [`STEP_CYCLES`] each (64-bit multiply latency 3, xor 1, on Zen and most x86
/// cores; the xor keeps the compiler from folding the multiplies together). Virtual
/// machines often report a nominal clock in `/proc/cpuinfo` well below the boost clock the
/// kernels run at. (A chain of additions of an immediate is no clock on Intel cores since
/// Golden Cove, whose renamer folds such additions: it measured 21 GHz there.)
pub fn scalar_ghz() -> f64 {
    let steps = 20_000_000u64;
    let seconds = best_seconds(|| {
        let c = core::hint::black_box(MIX);
        let mut x = core::hint::black_box(SEED);
        for _ in 0..steps {
            x = step(x, c);
        }
        x
    });
    (STEP_CYCLES as u64 * steps) as f64 / seconds / 1e9
}

/// One step of the dependent scalar chain.
#[inline(always)]
fn step(x: u64, c: u64) -> u64 {
    x.wrapping_mul(c) ^ (x >> 7)
}

/// Cycles of one [`step`].
const STEP_CYCLES: usize = 4;
/// Steps of the chain in one round of [`loaded_ghz`].
const CHAIN_STEPS: usize = 4;
/// The chain's multiplier and start.
const MIX: u64 = 0x9E37_79B9_7F4A_7C15;
const SEED: u64 = 0x1234_5678_9ABC_DEF1;

/// The fastest of five runs of `f`, in seconds (a shared core only ever slows a run down).
fn best_seconds(f: impl Fn() -> u64) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        let sink = f();
        best = best.min(start.elapsed().as_secs_f64());
        core::hint::black_box(sink);
    }
    best
}

/// The loop of `backend`'s instruction, `rounds` times, with [`CHAIN_STEPS`] steps of the
/// scalar chain beside each round if `CLOCKED`; 0 for a backend without one or that this
/// CPU lacks.
#[cfg(target_arch = "x86_64")]
fn run<const CLOCKED: bool>(backend: Backend, rounds: u64) -> u64 {
    if !backend.available() {
        return 0;
    }
    // SAFETY (every arm): each function needs only the features that `available()` just
    // confirmed for its backend (AVX2; AVX2 + AVX-VNNI; AVX-512 F/BW/VL/VNNI), and touches
    // registers and locals only.
    unsafe {
        match backend {
            Backend::Avx2 => x86::maddwd::<CLOCKED>(rounds),
            Backend::AvxVnni => x86::dpbusd_vex::<CLOCKED>(rounds),
            Backend::Avx512Vnni => x86::dpbusd_zmm::<CLOCKED>(rounds),
            _ => 0,
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn run<const CLOCKED: bool>(_: Backend, _: u64) -> u64 {
    0
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use core::arch::x86_64::*;

    use super::{step, CHAINS, CHAIN_STEPS, MIX, SEED};

    /// The sum of the lanes of `v`, so the chains' results are used.
    #[target_feature(enable = "avx2")]
    fn lanes(v: __m256i) -> i32 {
        let mut out = [0i32; 8];
        // SAFETY: writes 32 bytes into a local array of 32 bytes.
        unsafe { _mm256_storeu_si256(out.as_mut_ptr().cast(), v) };
        out.iter().fold(0, |a, &b| a.wrapping_add(b))
    }

    /// `rounds` rounds of `op` on each of [`CHAINS`] accumulators starting at `init`, with
    /// [`CHAIN_STEPS`] steps of the scalar chain beside each round if `CLOCKED`; the
    /// accumulators summed by `sum` and the chain's end, mixed into one value so that
    /// neither is optimised away.
    #[inline(always)]
    fn rounds<const CLOCKED: bool, V: Copy>(rounds: u64, init: V, op: impl Fn(V) -> V, sum: impl Fn(V) -> i32) -> u64 {
        let c = core::hint::black_box(MIX);
        let mut x = core::hint::black_box(SEED);
        let mut acc = [init; CHAINS];
        for _ in 0..rounds {
            for a in &mut acc {
                *a = op(*a);
            }
            if CLOCKED {
                for _ in 0..CHAIN_STEPS {
                    x = step(x, c);
                }
            }
        }
        x ^ acc.iter().fold(0i32, |s, &a| s.wrapping_add(sum(a))) as u32 as u64
    }

    #[target_feature(enable = "avx2")]
    pub(super) fn maddwd<const CLOCKED: bool>(n: u64) -> u64 {
        let b = core::hint::black_box(_mm256_set1_epi16(3));
        rounds::<CLOCKED, _>(n, _mm256_set1_epi16(1), |a| _mm256_madd_epi16(a, b), |a| lanes(a))
    }

    #[target_feature(enable = "avx2,avxvnni")]
    pub(super) fn dpbusd_vex<const CLOCKED: bool>(n: u64) -> u64 {
        let b = core::hint::black_box(_mm256_set1_epi8(5));
        rounds::<CLOCKED, _>(n, _mm256_set1_epi8(3), |a| _mm256_dpbusd_avx_epi32(a, a, b), |a| lanes(a))
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
    pub(super) fn dpbusd_zmm<const CLOCKED: bool>(n: u64) -> u64 {
        let b = core::hint::black_box(_mm512_set1_epi8(5));
        rounds::<CLOCKED, _>(n, _mm512_set1_epi8(3), |a| _mm512_dpbusd_epi32(a, a, b), |a| _mm512_reduce_add_epi32(a))
    }
}
