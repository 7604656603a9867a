//! The kernel registry's machinery: the [`Kernel`] trait each entry implements, the harness
//! that runs a family of cases on every backend this CPU has, and the [`kernels!`] macro
//! that turns one declaration per kernel (in `tests/kernels.rs`) into its tests.
//!
//! A case is built from its parameters alone (a seed among them), so a failing case is
//! reproduced from the parameters the failure message prints. Each case's output buffer is
//! prefilled with a poison byte and has [`CANARY`] poison bytes on each side of the slice the
//! kernel gets: a byte a backend forgets to write, or writes outside its slice, differs from
//! the definition's buffer.

pub mod add;
pub mod depthwise;
pub mod fused;
pub mod gemm;
pub mod im2col_gemm;
pub mod model;
pub mod params;
pub mod placed;
pub mod quantize;

use std::cell::Cell;
use std::fmt::Debug;
use std::sync::{Mutex, OnceLock};

use proptest::strategy::BoxedStrategy;
use proptest::test_runner::{Config, TestRunner};
use qrt::cpu::{self, Backend};
use qrt::threads::Pool;

pub use placed::Placed;

/// One kernel under test.
///
/// `definition` is the scalar twin (or, for a composed kernel, the steps it stands for);
/// `run` must equal it byte for byte on every backend; `reference`, where one exists, is an
/// independent model (integer arithmetic in i64/i128, no packing, no shifts shared with
/// `qrt`) that the definition must equal too. The family functions list the cases of each
/// generated test.
pub trait Kernel {
    /// Everything that decides a case's bytes, its seed included.
    type Params: Clone + Debug;
    /// The built inputs, weights and constants.
    type Case;

    /// Proptest cases per run (kept small enough for qemu).
    const RANDOM_CASES: u32;

    /// Draws the case's inputs, weights and constants (from `p`'s seed) and packs them.
    fn build(p: &Self::Params) -> Self::Case;
    /// The scalar definition's output buffer (see [`guarded`]); bytes it does not write
    /// keep `poison`.
    fn definition(case: &Self::Case, poison: i8) -> Vec<i8>;
    /// The independent model's output buffer, when there is one.
    fn reference(case: &Self::Case, poison: i8) -> Option<Vec<i8>>;
    /// The kernel's output buffer on backend `b` (which is available).
    fn run(b: Backend, case: &Self::Case, poison: i8) -> Vec<i8>;
    /// Where byte `index` of the output slice is, in the kernel's terms.
    fn locate(_case: &Self::Case, index: usize) -> String {
        format!("element {index}")
    }

    /// Tile-sized, multiples, smaller, larger, 1 (and 0 where defined), odd channel counts.
    fn edge_shapes() -> Vec<Self::Params>;
    /// Input and output zero points at -128, 0 and 127.
    fn zero_point_extremes() -> Vec<Self::Params>;
    /// The smallest and largest multipliers and shifts the kernel accepts.
    fn multiplier_extremes() -> Vec<Self::Params>;
    /// Clamps at both ends: full range, narrow, `min == max`, inverted.
    fn clamps() -> Vec<Self::Params>;
    /// Constants that differ from channel to channel, and the same for all. (The default,
    /// no cases, fails the generated test: only a kernel declared `without per_channel`
    /// may keep it.)
    fn per_channel() -> Vec<Self::Params> {
        Vec::new()
    }
    /// The proptest's parameters.
    fn random() -> BoxedStrategy<Self::Params>;
}

/// Poison bytes on each side of every output slice.
pub const CANARY: usize = 64;

/// A buffer of `len` output bytes and the canaries around them, all `poison`.
pub fn guarded(len: usize, poison: i8) -> Vec<i8> {
    vec![poison; len + 2 * CANARY]
}

/// The output slice of a [`guarded`] buffer.
pub fn inner(buf: &mut [i8]) -> &mut [i8] {
    let end = buf.len() - CANARY;
    &mut buf[CANARY..end]
}

/// `rows` rows of `width` bytes, `stride` apart: the bytes a strided slice must hold.
pub fn strided_len(rows: usize, stride: usize, width: usize) -> usize {
    if rows == 0 {
        0
    } else {
        (rows - 1) * stride + width
    }
}

/// The backends this CPU runs, scalar first.
pub fn backends() -> &'static [Backend] {
    static BACKENDS: OnceLock<Vec<Backend>> = OnceLock::new();
    BACKENDS.get_or_init(|| Backend::ALL.into_iter().filter(|b| b.available()).collect())
}

/// Runs `f` with the dispatcher forced to `b`, for kernels reached through
/// `qrt::gemm::gemm` and `qrt::depthwise::depthwise` rather than an `_on` variant. The
/// choice is process-wide and tests run on several threads, so every such run holds one
/// lock, and checks that the dispatcher really took `b`.
pub fn on_forced<T>(b: Backend, f: impl FnOnce() -> T) -> T {
    static LOCK: Mutex<()> = Mutex::new(());
    // A failed case panics while holding the lock; the next one only needs the mutual
    // exclusion, not the poisoned data (there is none).
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    assert!(cpu::force(b), "{} is available but cannot be forced", b.name());
    assert_eq!(cpu::backend(), b, "the dispatcher ignored the forced backend");
    f()
}

/// A pool of `threads` threads (2 or 3), shared by every test of the binary.
pub fn pool(threads: usize) -> &'static Pool {
    static POOLS: OnceLock<Vec<Pool>> = OnceLock::new();
    let pools = POOLS.get_or_init(|| [2, 3].into_iter().map(Pool::new).collect());
    pools.iter().find(|p| p.threads() == threads).expect("pools of 2 and 3 threads")
}

/// The poison bytes cases alternate between (a correct output byte equals at most one).
const POISON: [i8; 2] = [0x55, -0x56];

/// Compares one case's definition with its reference and with every backend.
pub fn check<K: Kernel>(what: &str, p: &K::Params, poison: i8) {
    let case = K::build(p);
    let expected = K::definition(&case, poison);
    if let Some(reference) = K::reference(&case, poison) {
        compare::<K>(&case, what, "the scalar definition", "the independent reference", &expected, &reference, p);
    }
    for &b in backends() {
        let got = K::run(b, &case, poison);
        compare::<K>(&case, what, b.name(), "the scalar definition", &got, &expected, p);
    }
}

fn compare<K: Kernel>(
    case: &K::Case,
    what: &str,
    got_name: &str,
    want_name: &str,
    got: &[i8],
    want: &[i8],
    p: &K::Params,
) {
    assert_eq!(got.len(), want.len(), "{what}: {got_name} and {want_name} returned buffers of different lengths");
    let Some(i) = (0..got.len()).find(|&i| got[i] != want[i]) else {
        return;
    };
    let place = if i < CANARY {
        format!("canary byte {} before the output", CANARY - i)
    } else if i >= got.len() - CANARY {
        format!("canary byte {} after the output", i - (got.len() - CANARY))
    } else {
        K::locate(case, i - CANARY)
    };
    let differing = (0..got.len()).filter(|&i| got[i] != want[i]).count();
    panic!(
        "{what}: {got_name} differs from {want_name} at {place}: {} instead of {} ({differing} bytes differ)\n{p:#?}",
        got[i], want[i]
    );
}

/// Runs one generated family test: every case on every backend.
pub fn family<K: Kernel>(name: &str, family: &str, cases: Vec<K::Params>) {
    assert!(!cases.is_empty(), "{name}::{family} has no cases");
    for (i, p) in cases.iter().enumerate() {
        check::<K>(&format!("{name}::{family} case {i}"), p, POISON[i % 2]);
    }
    report(name, family, cases.len());
}

/// Runs the generated proptest: [`Kernel::RANDOM_CASES`] random cases, or as many as
/// `PROPTEST_CASES` says (for long runs). Failures shrink, and their seeds are kept in
/// `tests/kernels.proptest-regressions` and replayed first.
pub fn random<K: Kernel>(name: &str, source_file: &'static str) {
    let defaults = Config::default();
    let cases = if std::env::var_os("PROPTEST_CASES").is_some() { defaults.cases } else { K::RANDOM_CASES };
    let config = Config { cases, source_file: Some(source_file), ..defaults };
    let count = Cell::new(0usize);
    let result = TestRunner::new(config).run(&K::random(), |p| {
        let i = count.get();
        count.set(i + 1);
        check::<K>(&format!("{name}::proptest case {i}"), &p, POISON[i % 2]);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{name}::proptest: {e}");
    }
    report(name, "proptest", count.get());
}

fn report(name: &str, family: &str, cases: usize) {
    let simd: Vec<&str> = backends().iter().filter(|&&b| b != Backend::Scalar).map(|b| b.name()).collect();
    eprintln!("{name}::{family}: {cases} cases, each on scalar and {simd:?}");
}

/// Declares the registry: for each kernel, a module named after it holding one `#[test]`
/// per case family (`edge_shapes`, `zero_point_extremes`, `multiplier_extremes`, `clamps`,
/// `per_channel`, `proptest`), and `NAMES`, the list of every kernel. A kernel without
/// per-channel constants says so with `without per_channel: "why"`.
macro_rules! kernels {
    ($( $(#[$doc:meta])* $name:ident: $kernel:ty $(, without per_channel: $why:literal)?; )+) => {
        $(
            $(#[$doc])*
            mod $name {
                use super::*;

                const NAME: &str = stringify!($name);

                #[test]
                fn edge_shapes() {
                    let cases = <$kernel as $crate::registry::Kernel>::edge_shapes();
                    $crate::registry::family::<$kernel>(NAME, "edge_shapes", cases);
                }

                #[test]
                fn zero_point_extremes() {
                    let cases = <$kernel as $crate::registry::Kernel>::zero_point_extremes();
                    $crate::registry::family::<$kernel>(NAME, "zero_point_extremes", cases);
                }

                #[test]
                fn multiplier_extremes() {
                    let cases = <$kernel as $crate::registry::Kernel>::multiplier_extremes();
                    $crate::registry::family::<$kernel>(NAME, "multiplier_extremes", cases);
                }

                #[test]
                fn clamps() {
                    let cases = <$kernel as $crate::registry::Kernel>::clamps();
                    $crate::registry::family::<$kernel>(NAME, "clamps", cases);
                }

                $crate::registry::kernels!(@per_channel $kernel, [$($why)?]);

                #[test]
                fn proptest() {
                    $crate::registry::random::<$kernel>(NAME, file!());
                }
            }
        )+

        /// Every kernel of the registry.
        const NAMES: &[&str] = &[$(stringify!($name)),+];
    };
    (@per_channel $kernel:ty, []) => {
        #[test]
        fn per_channel() {
            let cases = <$kernel as $crate::registry::Kernel>::per_channel();
            $crate::registry::family::<$kernel>(NAME, "per_channel", cases);
        }
    };
    (@per_channel $kernel:ty, [$why:literal]) => {
        /// Why this kernel has no `per_channel` family.
        #[allow(dead_code)]
        const WITHOUT_PER_CHANNEL: &str = $why;
    };
}
pub(crate) use kernels;
