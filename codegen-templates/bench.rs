// {{banner}}
//! Times the model: whole runs and each layer, on the backend qrt selects (override with
//! `QRT_BACKEND=scalar|avx2|avxvnni|avx512vnni|neon|dotprod`). Prints one line per measurement:
//! `backend NAME`, `run MEDIAN_NS MIN_NS P10_NS P90_NS`, `layer INDEX MEDIAN_NS`, and with
//! COMPARE, `paired COMPARE BLOCKS RATIO_P50 RATIO_P10 RATIO_P90`.
//! `qforge bench` reads these lines and prints the table.
//!
//! Usage: `cargo run --release --example bench -- [ITERATIONS] [THREADS] [COMPARE]`
//!
//! With COMPARE (another thread count), THREADS and COMPARE then run in alternating blocks
//! of 10 timed runs, and each pair of blocks gives a ratio: COMPARE's median time over
//! THREADS'. On a shared machine whose speed drifts, this compares the two under the same
//! conditions; two separate medians do not.

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
        }
        ratios.sort_by(f64::total_cmp);
    }
    println!("backend {}", qrt::cpu::backend().name());
    println!("threads {}", model.threads());
    println!("run {} {} {} {}", pick(&runs, 0.5), runs[0], pick(&runs, 0.1), pick(&runs, 0.9));
    for (i, mut t) in per_layer.into_iter().enumerate() {
        t.sort_unstable();
        println!("layer {i} {}", pick(&t, 0.5));
    }
    if let (Some(compare), false) = (compare, ratios.is_empty()) {
        let q = |f: f64| ratios[((ratios.len() - 1) as f64 * f).round() as usize];
        println!("paired {compare} {} {:.4} {:.4} {:.4}", ratios.len(), q(0.5), q(0.1), q(0.9));
    }
}

/// Timed runs per block of the paired comparison.
const BLOCK: usize = 10;
