//! Which instruction set the kernels use.
//!
//! With `std`, the CPU is detected once (first use) and the choice cached; the environment
//! variable `QRT_BACKEND` (`scalar`, `avx2`, `avxvnni`, `avx512vnni`, `amx`, `neon`, `dotprod`) or
//! [`force`] overrides it, so tests exercise every path the machine can run. Without
//! `std`, the choice follows the compile-time target features (`-C target-feature` /
//! `-C target-cpu`). Every backend returns exactly the scalar path's bytes.

use core::sync::atomic::{AtomicU8, Ordering};

/// An instruction set the kernels can use. More may come (as `Avx512Amx` did), so matches
/// outside this crate need a wildcard arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
#[non_exhaustive]
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
    /// x86-64 AVX-512 VNNI with AMX-INT8 tiles (`tdpbssd`, Intel Sapphire Rapids and
    /// later): the GEMM runs its long reductions on the tiles (signed by signed bytes, no
    /// flip), with the AVX-512 epilogue; every other kernel, and the GEMMs the tiles do
    /// not suit, are the AVX-512 VNNI ones. Needs `std` on Linux, which grants the
    /// process the tile state (`arch_prctl`) on first use.
    Avx512Amx = 7,
}

impl Backend {
    /// Every backend, slowest first within each architecture.
    pub const ALL: [Backend; 7] = [
        Backend::Scalar,
        Backend::Avx2,
        Backend::AvxVnni,
        Backend::Avx512Vnni,
        Backend::Avx512Amx,
        Backend::Neon,
        Backend::NeonDot,
    ];

    /// The name used by `QRT_BACKEND`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Scalar => "scalar",
            Backend::Avx2 => "avx2",
            Backend::AvxVnni => "avxvnni",
            Backend::Avx512Vnni => "avx512vnni",
            Backend::Avx512Amx => "amx",
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
            Backend::Avx512Amx => has_avx512vnni() && has_amx(),
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

/// The fastest available backend, unless `QRT_BACKEND` names another available one. A
/// value that names no backend, or one this CPU cannot run, is reported on stderr (once:
/// the choice is cached) rather than ignored without a word.
fn choose() -> Backend {
    #[cfg(feature = "std")]
    if let Ok(value) = std::env::var("QRT_BACKEND") {
        match from_override(&value) {
            Ok(Some(b)) => return b,
            Ok(None) => {}
            Err(why) => std::eprintln!("qrt: {why}"),
        }
    }
    best()
}

/// What a `QRT_BACKEND` value asks for: `Ok(None)` when it is empty (no override), an
/// error naming the value and the backend used instead when it cannot be honoured.
pub fn from_override(value: &str) -> Result<Option<Backend>, OverrideError<'_>> {
    let name = value.trim();
    if name.is_empty() {
        return Ok(None);
    }
    match Backend::from_name(name) {
        Some(b) if b.available() => Ok(Some(b)),
        found => Err(OverrideError { value: name, known: found.is_some(), instead: best() }),
    }
}

/// A `QRT_BACKEND` value that cannot be honoured ([`from_override`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OverrideError<'a> {
    /// The value, trimmed.
    pub value: &'a str,
    /// Whether it names a backend (one this CPU cannot run) or nothing known.
    pub known: bool,
    /// The backend used instead: [`best`].
    pub instead: Backend,
}

impl core::fmt::Display for OverrideError<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "QRT_BACKEND={}: ", self.value)?;
        if self.known {
            write!(f, "this CPU cannot run it")?;
        } else {
            write!(f, "not a backend (one of")?;
            for b in Backend::ALL {
                write!(f, " {}", b.name())?;
            }
            write!(f, ")")?;
        }
        write!(f, "; using {}", self.instead.name())
    }
}

/// The fastest backend this CPU runs.
pub fn best() -> Backend {
    [Backend::Avx512Amx, Backend::Avx512Vnni, Backend::AvxVnni, Backend::Avx2, Backend::NeonDot, Backend::Neon]
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

/// AMX-INT8 tiles usable by this process: the CPU has them (CPUID), the OS saves their
/// state (XCR0 bits 17 and 18), and Linux granted this process the tile data (asked once,
/// by `arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`; the answer is cached).
#[cfg(all(target_arch = "x86_64", target_os = "linux", feature = "std"))]
fn has_amx() -> bool {
    static GRANTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *GRANTED.get_or_init(|| {
        use core::arch::x86_64::__cpuid_count;
        let leaf7 = __cpuid_count(7, 0);
        let (tile, int8) = ((leaf7.edx >> 24) & 1 == 1, (leaf7.edx >> 25) & 1 == 1);
        // CPUID leaf 1 ECX bit 27 (OSXSAVE): XGETBV may run.
        let osxsave = (__cpuid_count(1, 0).ecx >> 27) & 1 == 1;
        if !(tile && int8 && osxsave) {
            return false;
        }
        // SAFETY: OSXSAVE is set, so XGETBV(0) reads XCR0.
        let xcr0 = unsafe { xgetbv0() };
        if (xcr0 >> 17) & 3 != 3 {
            return false;
        }
        const ARCH_REQ_XCOMP_PERM: u64 = 0x1023;
        const XFEATURE_XTILEDATA: u64 = 18;
        const SYS_ARCH_PRCTL: u64 = 158;
        let ret: i64;
        // SAFETY: the `arch_prctl` system call with a request that only changes which
        // extended states this process may use; it reads and writes no memory of ours.
        unsafe {
            core::arch::asm!(
                "syscall",
                inlateout("rax") SYS_ARCH_PRCTL => ret,
                in("rdi") ARCH_REQ_XCOMP_PERM,
                in("rsi") XFEATURE_XTILEDATA,
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack),
            );
        }
        ret == 0
    })
}

/// XCR0, read with `xgetbv` (the intrinsic would need the `xsave` target feature).
///
/// # Safety
/// Requires CPUID.1:ECX.OSXSAVE.
#[cfg(all(target_arch = "x86_64", target_os = "linux", feature = "std"))]
unsafe fn xgetbv0() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: the caller checked OSXSAVE; `xgetbv` with ECX = 0 only reads XCR0.
    unsafe {
        core::arch::asm!("xgetbv", in("ecx") 0u32, out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags))
    };
    (u64::from(hi) << 32) | u64::from(lo)
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux", feature = "std")))]
fn has_amx() -> bool {
    false
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
