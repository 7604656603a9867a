//! Times the depthwise convolution on every backend this CPU runs over MobileNetV2's
//! depthwise layers, and the elementwise Add at 56x56x24 (and out of cache). A benchmark,
//! not a test:
//!
//! ```text
//! cargo run -p qrt-core --release --features std --example bench_depthwise [-- --quick]
//! ```
//!
//! `--quick` takes fewer, shorter samples; other arguments select the layers whose label
//! contains one of them (e.g. `112x112x32`), and `add` only the Add.
//!
//! The per-channel multipliers are drawn from `[0.001, 0.2]`, as in the MobileNetV2 we
//! compile, so every block takes the requantization's fast form (shifts of 33 or more), the
//! one the model runs. `--general` draws them from `[0.002, 0.4]` instead, which puts some
//! channels of every block above 0.25 and the whole block on the general form (the figures
//! this benchmark printed before 2026-12-07). Each figure is the median of many timed samples
//! (the machines we share are noisy), all backends of a layer timed in the same run; the
//! speed-up is over the scalar backend's median. Every backend's output is also checked
//! against the scalar one before timing.

use std::time::Instant;

use qrt::add::{add_on, encode_pair, Add};
use qrt::cpu::Backend;
use qrt::depthwise::{depthwise_on, pack, packed_len, Depthwise};
use qrt::requant::{ChannelQuant, OutputQuant, Requant};

/// `(input size, channels, stride, kernel)`: MobileNetV2's depthwise layers at 224x224
/// (each 3x3 with padding 1), then two 5x5 layers of the EfficientNet kind.
const LAYERS: [(usize, usize, usize, usize); 10] = [
    (112, 32, 1, 3),
    (112, 96, 2, 3),
    (56, 144, 1, 3),
    (56, 144, 2, 3),
    (28, 192, 1, 3),
    (14, 384, 1, 3),
    (14, 576, 2, 3),
    (7, 960, 1, 3),
    (28, 240, 1, 5),
    (28, 240, 2, 5),
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
    fn i8s(&mut self, n: usize) -> Vec<i8> {
        (0..n).map(|_| self.next() as i8).collect()
    }
}

struct Layer {
    p: Depthwise,
    input: Vec<i8>,
    packed: Vec<i8>,
    bias: Vec<i32>,
    multiplier: Vec<i32>,
    shift: Vec<i32>,
}

impl Layer {
    fn new(size: usize, c: usize, stride: usize, k: usize, general: bool) -> Layer {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (size * 1000 + c * 10 + stride) as u64);
        let pad = k / 2;
        let out = (size + 2 * pad - k) / stride + 1;
        let w: Vec<i8> = rng.i8s(c * k * k).into_iter().map(|v| v.max(-127)).collect();
        let mut packed = vec![0i8; packed_len(k, k, c)];
        pack(&w, k, k, c, &mut packed);
        let unit = if general { 2e-3 } else { 1e-3 };
        let requants: Vec<Requant> =
            (0..c).map(|_| Requant::from_f64(unit * (1.0 + (rng.next() % 200) as f64)).unwrap()).collect();
        Layer {
            p: Depthwise {
                in_h: size,
                in_w: size,
                channels: c,
                out_h: out,
                out_w: out,
                kernel_h: k,
                kernel_w: k,
                stride_h: stride,
                stride_w: stride,
                pad_top: pad,
                pad_left: pad,
                input_zero_point: -5,
                output: OutputQuant { zero_point: 3, min: -128, max: 127 },
            },
            input: rng.i8s(size * size * c),
            packed,
            bias: (0..c).map(|_| (rng.next() % 20_001) as i32 - 10_000).collect(),
            multiplier: requants.iter().map(|r| r.multiplier).collect(),
            shift: requants.iter().map(|r| r.shift).collect(),
        }
    }

    fn run(&self, b: Backend, out: &mut [i8]) {
        let q = ChannelQuant { bias: &self.bias, multiplier: &self.multiplier, shift: &self.shift };
        depthwise_on(b, &self.p, &self.input, &self.packed, &q, out);
    }

    fn out_len(&self) -> usize {
        self.p.out_h * self.p.out_w * self.p.channels
    }
}

/// Median seconds per call of `f`: `samples` samples of enough calls to last about `ms`.
fn time(samples: usize, ms: f64, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut calls = 0usize;
    while start.elapsed().as_secs_f64() < 0.01 || calls < 2 {
        f();
        calls += 1;
    }
    let per_call = start.elapsed().as_secs_f64() / calls as f64;
    let reps = ((ms * 1e-3 / per_call) as usize).max(1);
    let mut t: Vec<f64> = (0..samples)
        .map(|_| {
            let s = Instant::now();
            for _ in 0..reps {
                f();
            }
            s.elapsed().as_secs_f64() / reps as f64
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[samples / 2]
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let general = std::env::args().any(|a| a == "--general");
    let (samples, ms) = if quick { (9, 2.0) } else { (31, 10.0) };
    let backends: Vec<Backend> = Backend::ALL.into_iter().filter(|b| b.available()).collect();
    let filters: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let add_only = filters.iter().any(|f| f == "add");
    println!("medians of {samples} samples of about {ms} ms each; speed-up over scalar in brackets");
    let form = if general { "general (some above 0.25)" } else { "fast (MobileNetV2's)" };
    println!("requantization: multipliers up to {}, the {form} form", if general { 0.4 } else { 0.2 });
    if !add_only {
        println!();
        print!("{:<22}", "depthwise layer");
        for b in &backends {
            print!(" {:>20}", format!("{} us", b.name()));
        }
        println!();
    }
    let mut totals = vec![0.0; backends.len()];
    for (size, c, stride, k) in LAYERS.into_iter().filter(|_| !add_only) {
        let label = format!("{size}x{size}x{c} s{stride} {k}x{k}");
        if !filters.is_empty() && !filters.iter().any(|f| label.contains(f.as_str())) {
            continue;
        }
        let layer = Layer::new(size, c, stride, k, general);
        let mut reference = vec![0i8; layer.out_len()];
        layer.run(Backend::Scalar, &mut reference);
        let mut out = vec![0i8; layer.out_len()];
        print!("{label:<22}");
        let mut scalar = f64::NAN;
        for (i, &b) in backends.iter().enumerate() {
            out.fill(0x55);
            layer.run(b, &mut out);
            assert!(out == reference, "{} differs from scalar on {size}x{size}x{c} s{stride}", b.name());
            let t = time(samples, ms, || layer.run(b, &mut out));
            if b == Backend::Scalar {
                scalar = t;
            }
            if k == 3 {
                totals[i] += t;
            }
            print!(" {:>20}", format!("{:.1} [{:.1}x]", t * 1e6, scalar / t));
        }
        println!();
    }
    if totals[0] > 0.0 {
        print!("{:<22}", "MobileNetV2 3x3 total");
        for t in &totals {
            print!(" {:>20}", format!("{:.1} [{:.1}x]", t * 1e6, totals[0] / t));
        }
        println!();
    }

    // Add at 56x56x24 (MobileNetV2's first residual; the three tensors fit in L2), and at
    // 16M elements (out of cache), each with a plain copy of one input as a memory-speed
    // reference.
    for (len, what) in [(56 * 56 * 24, "56x56x24"), (1 << 24, "16M elements")] {
        bench_add(&backends, len, what, samples, ms);
    }
}

fn bench_add(backends: &[Backend], len: usize, what: &str, samples: usize, ms: f64) {
    let mut rng = Rng(7);
    let (a, b) = (rng.i8s(len), rng.i8s(len));
    let (a_multiplier, b_multiplier, shift) = encode_pair(0.7, 0.4).unwrap();
    let p = Add {
        len,
        a_zero_point: -3,
        a_multiplier,
        b_zero_point: 9,
        b_multiplier,
        shift,
        output: OutputQuant { zero_point: 1, min: -128, max: 127 },
    };
    let mut reference = vec![0i8; len];
    add_on(Backend::Scalar, &p, &a, &b, &mut reference);
    let mut out = vec![0i8; len];
    println!();
    println!("add {what} ({len} elements; GB/s counts both inputs and the output)");
    let mut scalar = f64::NAN;
    for &bk in backends {
        out.fill(0x55);
        add_on(bk, &p, &a, &b, &mut out);
        assert!(out == reference, "add: {} differs from scalar", bk.name());
        let t = time(samples, ms, || add_on(bk, &p, &a, &b, &mut out));
        if bk == Backend::Scalar {
            scalar = t;
        }
        let gbs = 3.0 * len as f64 / t / 1e9;
        println!("  {:<11} {:>9.2} us  {:>6.1} GB/s  [{:.1}x]", bk.name(), t * 1e6, gbs, scalar / t);
    }
    let t = time(samples, ms, || out.copy_from_slice(std::hint::black_box(&a)));
    let gbs = 2.0 * len as f64 / t / 1e9;
    println!("  {:<11} {:>9.2} us  {:>6.1} GB/s  (copy of one input: reads one, writes one)", "memcpy", t * 1e6, gbs);
}
