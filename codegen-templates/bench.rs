// {{banner}}
//! Times the model: whole runs and each layer, on the backend qrt selects (override with
//! `QRT_BACKEND=scalar|avx2|avxvnni|avx512vnni|amx|neon|dotprod`). Prints one line per measurement:
//! `backend NAME`, `run MEDIAN_NS MIN_NS P10_NS P90_NS`, `layer INDEX MEDIAN_NS`, and with
//! COMPARE, `paired COMPARE BLOCKS RATIO_P50 RATIO_P10 RATIO_P90`,
//! `machine COMPARE BLOCKS RATIO_P50 RATIO_P10 RATIO_P90` and
//! `share COMPARE BLOCKS RATIO_P50 RATIO_P10 RATIO_P90` (the model's speed-up over the
//! machine's, pair by pair), and `speeds W0 W1 ...` (each thread's speed relative to the
//! calling thread's, as the THREADS model's pool measured it by the end).
//! `qforge bench` reads these lines and prints the table.
//!
//! Usage: `cargo run --release --example bench -- [ITERATIONS] [THREADS] [COMPARE]`
//!
//! With COMPARE (another thread count), THREADS and COMPARE then run in alternating blocks
//! of 10 timed runs, and each pair of blocks gives a ratio: COMPARE's median time over
//! THREADS'. On a shared machine whose speed drifts, this compares the two under the same
//! conditions; two separate medians do not.
//!
//! Each pair of blocks is followed by a pair of *machine* blocks: qrt's GEMM on data that
//! stays in the L1 cache, looped for a fixed time by THREADS threads at once and then by
//! COMPARE threads (or the other way round), each thread on its own copy of the work. No
//! memory traffic, nothing shared, no joins: its speed-up is what the cores themselves give
//! compute-bound code at that moment (on a virtual machine two vCPUs may share one physical
//! core, or slow down together), a yardstick for the model's.

use std::time::Instant;

fn main() {
    let iterations: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(50).max(1);
    let threads: usize = std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(1).max(1);
    let compare: Option<usize> = std::env::args().nth(3).and_then(|a| a.parse().ok()).map(|c: usize| c.max(1));
    // A fixed pseudo-random input in [-1, 1).
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let input: Vec<f32> = (0..{{crate_ident}}::INPUT_LEN)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect();
    let mut output = vec![0f32; {{crate_ident}}::OUTPUT_LEN];
    let mut model = {{crate_ident}}::Model::with_threads(threads);
    let warmup = (iterations / 10).max(2);
    for _ in 0..warmup {
        model.run(&input, &mut output).expect("run");
    }
    let mut runs = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let t = Instant::now();
        model.run(&input, &mut output).expect("run");
        runs.push(t.elapsed().as_nanos() as u64);
    }
    let layers = {{crate_ident}}::LAYERS.len();
    let mut per_layer = vec![Vec::with_capacity(iterations); layers];
    for _ in 0..iterations {
        let mut last = Instant::now();
        model.run_profiled(&input, &mut output, |i| {
            let now = Instant::now();
            if i > 0 {
                per_layer[i - 1].push((now - last).as_nanos() as u64);
            }
            last = now;
        })
        .expect("run");
    }
    runs.sort_unstable();
    let pick = |v: &[u64], q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    // Paired blocks: A B, then B A, and so on, so neither count always runs first; each
    // block starts with an untimed run (the other model's workers may have gone to sleep).
    let mut ratios = Vec::new();
    let mut machine = Vec::new();
    let mut share = Vec::new();
    if let Some(compare) = compare {
        let mut other = {{crate_ident}}::Model::with_threads(compare);
        let mut block = |m: &mut {{crate_ident}}::Model| {
            m.run(&input, &mut output).expect("run");
            let mut t: Vec<u64> = (0..BLOCK)
                .map(|_| {
                    let t = Instant::now();
                    m.run(&input, &mut output).expect("run");
                    t.elapsed().as_nanos() as u64
                })
                .collect();
            t.sort_unstable();
            t[BLOCK / 2] as f64
        };
        for b in 0..(iterations / BLOCK).max(5) {
            let (mine, theirs) = if b % 2 == 0 {
                let mine = block(&mut model);
                (mine, block(&mut other))
            } else {
                let theirs = block(&mut other);
                (block(&mut model), theirs)
            };
            ratios.push(theirs / mine);
            let (mine, theirs) = if b % 2 == 0 {
                let mine = probe::rate(threads);
                (mine, probe::rate(compare))
            } else {
                let theirs = probe::rate(compare);
                (probe::rate(threads), theirs)
            };
            machine.push(mine / theirs);
            share.push(ratios[ratios.len() - 1] / machine[machine.len() - 1]);
        }
    }
    println!("backend {}", qrt::cpu::backend().name());
    println!("threads {}", model.threads());
    println!("run {} {} {} {}", pick(&runs, 0.5), runs[0], pick(&runs, 0.1), pick(&runs, 0.9));
    for (i, mut t) in per_layer.into_iter().enumerate() {
        t.sort_unstable();
        println!("layer {i} {}", pick(&t, 0.5));
    }
    let speeds: Vec<String> = model.thread_speeds().iter().map(|w| format!("{w:.4}")).collect();
    println!("speeds {}", speeds.join(" "));
    if let Some(compare) = compare {
        for (name, mut v) in [("paired", ratios), ("machine", machine), ("share", share)] {
            v.sort_by(f64::total_cmp);
            let q = |f: f64| v[((v.len() - 1) as f64 * f).round() as usize];
            println!("{name} {compare} {} {:.4} {:.4} {:.4}", v.len(), q(0.5), q(0.1), q(0.9));
        }
    }
}

/// The machine's own speed-up with threads (see the module docs).
mod probe {
    use qrt::gemm::{self, Gemm, GemmQuant};
    use qrt::requant::{OutputQuant, Requant};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    /// How long each measurement loops.
    const WINDOW: Duration = Duration::from_millis(5);
    /// The GEMM: 16 rows, 256 deep, 64 outputs (28 KiB of data in all).
    const ROWS: usize = 16;
    const K: usize = 256;
    const N: usize = 64;

    /// GEMMs per second done by `threads` threads looping together for [`WINDOW`].
    pub fn rate(threads: usize) -> f64 {
        let input: Vec<i8> = (0..ROWS * K).map(|i| (i * 7 % 251) as i8).collect();
        let weights: Vec<i8> = (0..K * N).map(|i| (i * 13 % 255) as i8).collect();
        let mut packed = vec![0i8; gemm::packed_len(K, N)];
        gemm::pack(&weights, K, N, &mut packed);
        let bias = vec![0i32; N];
        let bias_u8: Vec<i32> = (0..N).map(|c| gemm::bias_u8(0, &weights[c * K..(c + 1) * K])).collect();
        let r = Requant::from_f64(1e-3).expect("a valid scale");
        let (multiplier, shift) = (vec![r.multiplier; N], vec![r.shift; N]);
        let q = GemmQuant { bias: &bias, bias_u8: &bias_u8, multiplier: &multiplier, shift: &shift };
        let output = OutputQuant { zero_point: 0, min: -128, max: 127 };
        let g = Gemm { rows: ROWS, k: K, n: N, input_stride: K, output_stride: N, output };
        let (ready, go) = (AtomicUsize::new(0), AtomicBool::new(false));
        let (stop, done) = (AtomicBool::new(false), AtomicUsize::new(0));
        // The other threads loop until `stop`; the calling thread keeps the time and sets it.
        let helper = || {
            let mut out = vec![0i8; ROWS * N];
            ready.fetch_add(1, Ordering::AcqRel);
            while !go.load(Ordering::Acquire) {
                std::hint::spin_loop();
            }
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                gemm::gemm(&g, &input, &packed, &q, &mut out);
                n += 1;
            }
            done.fetch_add(n, Ordering::AcqRel);
        };
        let elapsed = std::thread::scope(|s| {
            for _ in 1..threads {
                s.spawn(helper);
            }
            while ready.load(Ordering::Acquire) + 1 < threads {
                std::hint::spin_loop();
            }
            let mut out = vec![0i8; ROWS * N];
            let start = Instant::now();
            go.store(true, Ordering::Release);
            let mut n = 0;
            let elapsed = loop {
                for _ in 0..8 {
                    gemm::gemm(&g, &input, &packed, &q, &mut out);
                }
                n += 8;
                let t = start.elapsed();
                if t >= WINDOW {
                    break t;
                }
            };
            stop.store(true, Ordering::Relaxed);
            done.fetch_add(n, Ordering::AcqRel);
            elapsed
        });
        done.load(Ordering::Acquire) as f64 / elapsed.as_secs_f64()
    }
}

/// Timed runs per block of the paired comparison.
const BLOCK: usize = 10;
