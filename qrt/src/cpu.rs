//! Which instruction set the kernels use.
//!
//! With `std`, the CPU is detected once (first use) and the choice cached; the environment
//! variable `QRT_BACKEND` (`scalar`, `avx2`, `avxvnni`, `avx512vnni`, `neon`, `dotprod`) or
//! [`force`] overrides it, so tests exercise every path the machine can run. Without
//! `std`, the choice follows the compile-time target features (`-C target-feature` /
//! `-C target-cpu`). Every backend returns exactly the scalar path's bytes.

use core::sync::atomic::{AtomicU8, Ordering};

/// An instruction set the kernels can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Backend {
    /// Portable Rust: the definition of every kernel.
    Scalar = 1,
    /// x86-64 AVX2 (exact 16-bit path: `vpmaddwd`, never `vpmaddubsw`).
    Avx2 = 2,
    /// x86-64 AVX-512 with VNNI (`vpdpbusd`), AVX-512BW and VL.
    Avx512Vnni = 3,
    /// aarch64 Advanced SIMD (Cortex-A53/A72 class: `smull`, `smlal`, `sadalp`).
    Neon = 4,
    /// aarch64 Advanced SIMD with the dot-product extension (`sdot`).
    NeonDot = 5,
    /// x86-64 AVX2 with AVX-VNNI: the VEX-encoded, 256-bit `vpdpbusd` (Intel Alder Lake
    /// and later client cores, Zen 5), for CPUs that may lack AVX-512. The GEMM and the
    /// 3x3 / 5x5 depthwise kernels use `vpdpbusd`; every other kernel is the AVX2 one.
    AvxVnni = 6,
}

impl Backend {
    /// Every backend, slowest first within each architecture.
    pub const ALL: [Backend; 6] =
        [Backend::Scalar, Backend::Avx2, Backend::AvxVnni, Backend::Avx512Vnni, Backend::Neon, Backend::NeonDot];

    /// The name used by `QRT_BACKEND`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Scalar => "scalar",
            Backend::Avx2 => "avx2",
            Backend::AvxVnni => "avxvnni",
            Backend::Avx512Vnni => "avx512vnni",
            Backend::Neon => "neon",
            Backend::NeonDot => "dotprod",
        }
    }

    /// Parses a `QRT_BACKEND` value.
    pub fn from_name(name: &str) -> Option<Backend> {
        Backend::ALL.into_iter().find(|b| b.name() == name)
    }

    fn from_u8(v: u8) -> Option<Backend> {
        Backend::ALL.into_iter().find(|&b| b as u8 == v)
    }

    /// True when this CPU (or, without `std`, this compilation target) can run it.
    pub fn available(self) -> bool {
        match self {
            Backend::Scalar => true,
            Backend::Avx2 => has_avx2(),
            Backend::AvxVnni => has_avxvnni(),
            Backend::Avx512Vnni => has_avx512vnni(),
            Backend::Neon => has_neon(),
            Backend::NeonDot => has_dotprod(),
        }
    }
}

/// 0 = not chosen yet.
static CHOSEN: AtomicU8 = AtomicU8::new(0);

/// The backend the kernels use (detected and cached on first call).
#[inline]
pub fn backend() -> Backend {
    match Backend::from_u8(CHOSEN.load(Ordering::Relaxed)) {
        Some(b) => b,
        None => {
            let b = choose();
            CHOSEN.store(b as u8, Ordering::Relaxed);
            b
        }
    }
}

/// Forces a backend (for tests and benchmarks). Returns `false`, changing nothing, when
/// the CPU cannot run it.
pub fn force(b: Backend) -> bool {
    if !b.available() {
        return false;
    }
    CHOSEN.store(b as u8, Ordering::Relaxed);
    true
}

/// The fastest available backend, unless `QRT_BACKEND` names another available one.
fn choose() -> Backend {
    #[cfg(feature = "std")]
    if let Some(b) = std::env::var("QRT_BACKEND").ok().and_then(|v| Backend::from_name(v.trim())) {
        if b.available() {
            return b;
        }
    }
    best()
}

/// The fastest backend this CPU runs.
pub fn best() -> Backend {
    [Backend::Avx512Vnni, Backend::AvxVnni, Backend::Avx2, Backend::NeonDot, Backend::Neon]
        .into_iter()
        .find(|b| b.available())
        .unwrap_or(Backend::Scalar)
}

#[cfg(target_arch = "x86_64")]
fn has_avx2() -> bool {
    #[cfg(feature = "std")]
    {
        std::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(feature = "std"))]
    {
        cfg!(target_feature = "avx2")
    }
}

#[cfg(target_arch = "x86_64")]
fn has_avx512vnni() -> bool {
    #[cfg(feature = "std")]
    {
        std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512vl")
            && std::is_x86_feature_detected!("avx512vnni")
    }
    #[cfg(not(feature = "std"))]
    {
        cfg!(all(
            target_feature = "avx512f",
            target_feature = "avx512bw",
            target_feature = "avx512vl",
            target_feature = "avx512vnni"
        ))
    }
}

#[cfg(target_arch = "x86_64")]
fn has_avxvnni() -> bool {
    #[cfg(feature = "std")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("avxvnni")
    }
    #[cfg(not(feature = "std"))]
    {
        cfg!(all(target_feature = "avx2", target_feature = "avxvnni"))
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn has_avx2() -> bool {
    false
}

#[cfg(not(target_arch = "x86_64"))]
fn has_avxvnni() -> bool {
    false
}

#[cfg(not(target_arch = "x86_64"))]
fn has_avx512vnni() -> bool {
    false
}

#[cfg(target_arch = "aarch64")]
fn has_neon() -> bool {
    true
}

#[cfg(target_arch = "aarch64")]
fn has_dotprod() -> bool {
    #[cfg(feature = "std")]
    {
        std::arch::is_aarch64_feature_detected!("dotprod")
    }
    #[cfg(not(feature = "std"))]
    {
        cfg!(target_feature = "dotprod")
    }
}

#[cfg(not(target_arch = "aarch64"))]
fn has_neon() -> bool {
    false
}

#[cfg(not(target_arch = "aarch64"))]
fn has_dotprod() -> bool {
    false
}
