//! Times the GEMM on every backend this CPU runs, over MobileNetV2's 1x1 convolutions and
//! its classifier. A benchmark, not a test:
//!
//! ```text
//! cargo run -p qrt-core --release --features std --example bench_gemm [-- OPTIONS] [ROWSxKxN ...]
//! ```
//!
//! `--quick` takes fewer, shorter samples; `--simd` skips timing the scalar backend;
//! `--backend=NAME[,NAME]` times only those backends (`amx`, `avx512vnni`, `avxvnni`, ...);
//! `--clamp` gives every layer a clamp inside the int8 range (`[-128, 100]`) instead of the
//! whole range; shapes given as `ROWSxKxN` replace the table.
//!
//! The outputs are quantized as the compiled MobileNetV2's are: zero point -128 and the
//! clamp `[-128, 127]` (its ReLU6 layers are calibrated to `[0, 6]`, which puts 6 at 127;
//! the projections have no activation and a zero point near 0, which times the same).
//!
//! Each time is the median of many samples (the machines we share are noisy); the fastest
//! sample is printed too. Each backend's share is of its own peak on this core
//! ([`qrt::peak::macs_per_second`]: its multiply-accumulate instruction on registers only;
//! for `amx`, the peak of `avx512vnni`, so that its share reads against the VNNI peak),
//! and its MACs per cycle are counted at the clock the core keeps while that instruction
//! runs ([`qrt::peak::loaded_ghz`]); many cores run 512-bit multiplies below their scalar
//! clock, which is printed too (a chain of dependent multiplies, timed between shapes,
//! the fastest run kept).

use std::time::Instant;

use qrt::cpu::Backend;
use qrt::gemm::{bias_u8, gemm_on, pack, packed_len, Gemm, GemmQuant};
use qrt::requant::{OutputQuant, Requant};

/// `(rows, k, n, layers, what)`: every 1x1 convolution of MobileNetV2 at 224x224 (as
/// `layers` identical layers) and the classifier.
const SHAPES: [(usize, usize, usize, usize, &str); 20] = [
    (12544, 32, 16, 1, "b1 project 112x112"),
    (12544, 16, 96, 1, "b2 expand 112x112"),
    (3136, 96, 24, 1, "b2 project 56x56"),
    (3136, 24, 144, 2, "b3-4 expand 56x56"),
    (3136, 144, 24, 1, "b3 project 56x56"),
    (784, 144, 32, 1, "b4 project 28x28"),
    (784, 32, 192, 3, "b5-7 expand 28x28"),
    (784, 192, 32, 2, "b5-6 project 28x28"),
    (196, 192, 64, 1, "b7 project 14x14"),
    (196, 64, 384, 4, "b8-11 expand 14x14"),
    (196, 384, 64, 3, "b8-10 project"),
    (196, 384, 96, 1, "b11 project 14x14"),
    (196, 96, 576, 3, "b12-14 expand"),
    (196, 576, 96, 2, "b12-13 project"),
    (49, 576, 160, 1, "b14 project 7x7"),
    (49, 160, 960, 3, "b15-17 expand 7x7"),
    (49, 960, 160, 2, "b15-16 project 7x7"),
    (49, 960, 320, 1, "b17 project 7x7"),
    (49, 320, 1280, 1, "last 1x1 7x7"),
    (1, 1280, 1000, 1, "classifier"),
];

/// A deterministic xorshift generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

struct Case {
    p: Gemm,
    input: Vec<i8>,
    packed: Vec<i8>,
    /// Where in `packed` the packed weights lie.
    packed_at: std::ops::Range<usize>,
    bias: Vec<i32>,
    bias_u8: Vec<i32>,
    multiplier: Vec<i32>,
    shift: Vec<i32>,
}

impl Case {
    fn new(rows: usize, k: usize, n: usize, clamp: bool) -> Case {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (rows * 31 + k * 7 + n) as u64);
        let input: Vec<i8> = (0..rows * k).map(|_| rng.next() as i8).collect();
        let w: Vec<i8> = (0..n * k).map(|_| (rng.next() as i8).max(-127)).collect();
        // The packed weights start on a cache line, as in an emitted crate's blob.
        let misalign: usize = std::env::var("MISALIGN").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
        let mut packed = vec![0i8; packed_len(k, n) + 64 + misalign];
        let at = packed.as_ptr().align_offset(64) + misalign;
        let packed_at = at..at + packed_len(k, n);
        pack(&w, k, n, &mut packed[packed_at.clone()]);
        let bias: Vec<i32> = (0..n).map(|_| (rng.next() % 20_001) as i32 - 10_000).collect();
        let bias_u8 = (0..n).map(|c| bias_u8(bias[c], &w[c * k..(c + 1) * k])).collect();
        // Multipliers of a trained network's 1x1 layers: well below 1/4.
        let requants: Vec<Requant> =
            (0..n).map(|_| Requant::from_f64(1e-4 * (1.0 + (rng.next() % 100) as f64)).unwrap()).collect();
        let output = OutputQuant { zero_point: -128, min: -128, max: if clamp { 100 } else { 127 } };
        Case {
            p: Gemm { rows, k, n, input_stride: k, output_stride: n, output },
            input,
            packed,
            packed_at,
            bias,
            bias_u8,
            multiplier: requants.iter().map(|r| r.multiplier).collect(),
            shift: requants.iter().map(|r| r.shift).collect(),
        }
    }

    fn run(&self, b: Backend, out: &mut [i8]) {
        let q =
            GemmQuant { bias: &self.bias, bias_u8: &self.bias_u8, multiplier: &self.multiplier, shift: &self.shift };
        gemm_on(b, &self.p, &self.input, &self.packed[self.packed_at.clone()], &q, out);
    }
}

/// Median and fastest seconds per call: `samples` samples of enough calls to last about
/// `ms` each.
fn time(case: &Case, b: Backend, out: &mut [i8], samples: usize, ms: f64) -> (f64, f64) {
    let start = Instant::now();
    let mut calls = 0usize;
    while start.elapsed().as_secs_f64() < 0.01 || calls < 3 {
        case.run(b, out);
        calls += 1;
    }
    let per_call = start.elapsed().as_secs_f64() / calls as f64;
    let reps = ((ms * 1e-3 / per_call) as usize).max(1);
    let mut t: Vec<f64> = (0..samples)
        .map(|_| {
            let s = Instant::now();
            for _ in 0..reps {
                case.run(b, out);
            }
            s.elapsed().as_secs_f64() / reps as f64
        })
        .collect();
    t.sort_by(f64::total_cmp);
    (t[samples / 2], t[0])
}

/// `cpu MHz` of the first processor in `/proc/cpuinfo`.
fn cpuinfo_mhz() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("cpu MHz"))?;
    line.split(':').nth(1)?.trim().parse().ok()
}

/// The core clock in MHz on scalar code ([`qrt::peak::scalar_ghz`]).
#[cfg(target_arch = "x86_64")]
fn clock_mhz() -> Option<f64> {
    Some(qrt::peak::scalar_ghz() * 1e3)
}

#[cfg(not(target_arch = "x86_64"))]
fn clock_mhz() -> Option<f64> {
    None
}

/// The higher of two probes, either of which may be missing (a shared host only ever slows
/// a probe down).
fn higher(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// One measured line.
struct Row {
    shape: (usize, usize, usize, usize, &'static str),
    backend: Backend,
    median: f64,
    best: f64,
}

/// The backend whose peak a backend's share is of: its own, except AMX, whose tiles are
/// measured against the 512-bit `vpdpbusd` peak (their own is several times higher).
fn yardstick(b: Backend) -> Backend {
    if b == Backend::Avx512Amx {
        Backend::Avx512Vnni
    } else {
        b
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let simd_only = args.iter().any(|a| a == "--simd");
    let clamp = args.iter().any(|a| a == "--clamp");
    let (samples, ms) = if quick { (15, 1.0) } else { (41, 4.0) };
    let only: Option<Vec<&str>> =
        args.iter().find_map(|a| a.strip_prefix("--backend=")).map(|list| list.split(',').collect());
    if let Some(unknown) = only.iter().flatten().find(|name| !Backend::ALL.iter().any(|b| b.name() == **name)) {
        eprintln!(
            "bench_gemm: --backend: no backend named {unknown:?} (known: {})",
            Backend::ALL.map(|b| b.name()).join(", ")
        );
        std::process::exit(2);
    }
    let backends: Vec<Backend> = Backend::ALL
        .into_iter()
        .filter(|&b| b.available() && !(simd_only && b == Backend::Scalar))
        .filter(|b| only.as_ref().is_none_or(|names| names.contains(&b.name())))
        .collect();
    let custom: Vec<(usize, usize, usize, usize, &str)> = args
        .iter()
        .filter_map(|a| {
            let d: Vec<usize> = a.split('x').map(|v| v.parse().ok()).collect::<Option<_>>()?;
            (d.len() == 3).then(|| (d[0], d[1], d[2], 1, "(given)"))
        })
        .collect();
    let shapes: &[(usize, usize, usize, usize, &str)] = if custom.is_empty() { &SHAPES } else { &custom };

    let mut clock = clock_mhz();
    // Each backend's own peak: its instruction on registers only, and the clock the core
    // keeps while it runs (512-bit multiplies lower it on many cores), probed between
    // shapes and kept at the best probe (a shared host only ever slows a probe down, so
    // the shares below are the lowest the probes allow).
    let mut rates: Vec<Option<f64>> = vec![None; backends.len()];
    let mut loaded: Vec<Option<f64>> = vec![None; backends.len()];
    let mut probe = || {
        for (i, &b) in backends.iter().enumerate() {
            rates[i] = higher(rates[i], qrt::peak::macs_per_second(yardstick(b), 500_000));
            loaded[i] = higher(loaded[i], qrt::peak::loaded_ghz(yardstick(b), 500_000));
        }
    };
    probe();
    let mut rows = Vec::new();
    for &shape in shapes {
        let (r, k, n, _, _) = shape;
        let case = Case::new(r, k, n, clamp);
        let mut reference = vec![0i8; r * n];
        case.run(Backend::Scalar, &mut reference);
        for &b in &backends {
            let mut out = vec![0i8; r * n];
            case.run(b, &mut out);
            assert!(out == reference, "{} differs from the scalar backend on {r}x{k}x{n}", b.name());
            let (samples, ms) = if b == Backend::Scalar { (samples.min(5), ms) } else { (samples, ms) };
            let (median, best) = time(&case, b, &mut out, samples, ms);
            rows.push(Row { shape, backend: b, median, best });
        }
        probe();
        clock = higher(clock, clock_mhz());
    }
    let peaks: Vec<Option<(f64, f64)>> = rates.iter().zip(&loaded).map(|(r, g)| r.zip(*g)).collect();

    let peak_of = |b: Backend| backends.iter().position(|&x| x == b).and_then(|i| peaks[i]);
    if let Some(m) = cpuinfo_mhz() {
        println!("clock: /proc/cpuinfo says {m:.0} MHz");
    }
    if let Some(m) = clock {
        println!("clock: measured {m:.0} MHz on scalar code (dependent multiplies; the fastest of all probes)");
    }
    for (&b, peak) in backends.iter().zip(&peaks) {
        if let Some((rate, ghz)) = peak {
            println!(
                "peak: {:<11} {:>6.1} GMAC/s = {:.1} MAC/cycle at {:.2} GHz, the clock under that instruction{}",
                b.name(),
                rate / 1e9,
                rate / (ghz * 1e9),
                ghz,
                if b == yardstick(b) { "" } else { " (avx512vnni's: vpdpbusd zmm, not the tiles' own)" }
            );
        }
    }
    println!("times: median of {samples} samples (best sample in the last column); \"peak\" is the share of");
    println!("the backend's peak, MAC/cycle at the clock under its instruction");
    println!();
    println!(
        "{:>6} {:>5} {:>5} {:>2}  {:<20} {:<11} {:>10} {:>8} {:>6} {:>8} {:>9}",
        "rows", "k", "n", "x", "layer", "backend", "median us", "GMAC/s", "peak", "MAC/cyc", "best us"
    );
    let shares = |b: Backend, rate: f64| match peak_of(b) {
        Some((peak, ghz)) => (format!("{:>5.1}%", 100.0 * rate / peak), format!("{:>8.1}", rate / (ghz * 1e9))),
        None => (format!("{:>6}", "-"), format!("{:>8}", "-")),
    };
    for row in &rows {
        let (r, k, n, count, what) = row.shape;
        let rate = (r * k * n) as f64 / row.median;
        let (share, per_cycle) = shares(row.backend, rate);
        println!(
            "{r:>6} {k:>5} {n:>5} {count:>2}  {what:<20} {:<11} {:>10.1} {:>8.1} {share} {per_cycle} {:>9.1}",
            row.backend.name(),
            row.median * 1e6,
            rate / 1e9,
            row.best * 1e6
        );
    }
    println!();
    let macs: f64 = shapes.iter().map(|&(r, k, n, c, _)| (r * k * n * c) as f64).sum();
    println!("all shapes, each counted as often as the network has it ({:.1} M MACs):", macs / 1e6);
    for &b in &backends {
        let total: f64 = rows.iter().filter(|row| row.backend == b).map(|row| row.median * row.shape.3 as f64).sum();
        let rate = macs / total;
        let (share, per_cycle) = shares(b, rate);
        println!(
            "  {:<11} {:>9.1} us {:>7.1} GMAC/s {share} of peak {per_cycle} MAC/cycle",
            b.name(),
            total * 1e6,
            rate / 1e9
        );
    }
}
