// {{banner}}
//! Times the model: whole runs and each layer, on the backend qrt selects (override with
//! `QRT_BACKEND=scalar|avx2|avx512vnni|neon|dotprod`). Prints one line per measurement:
//! `backend NAME`, `run MEDIAN_NS MIN_NS P10_NS P90_NS`, `layer INDEX MEDIAN_NS`.
//! `qforge bench` reads these lines and prints the table.
//!
//! Usage: `cargo run --release --example bench -- [ITERATIONS] [THREADS]`

use std::time::Instant;

fn main() {
    let iterations: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(50).max(1);
    let threads: usize = std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(1).max(1);
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
    println!("backend {}", qrt::cpu::backend().name());
    println!("threads {}", model.threads());
    println!("run {} {} {} {}", pick(&runs, 0.5), runs[0], pick(&runs, 0.1), pick(&runs, 0.9));
    for (i, mut t) in per_layer.into_iter().enumerate() {
        t.sort_unstable();
        println!("layer {i} {}", pick(&t, 0.5));
    }
}
