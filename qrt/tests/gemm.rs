//! The GEMM on every backend this machine runs equals the definition
//! (`fc::fully_connected`, itself tested against an i128 model) byte for byte: edge shapes
//! around the 16-channel block and the 4-wide reduction group, zero points and clamps at
//! both ends, multipliers differing per channel, strided rows, and a proptest.

use proptest::prelude::*;
use qrt::cpu::Backend;
use qrt::fc::{fully_connected, FullyConnected};
use qrt::gemm::{bias_u8, gemm_on, pack, packed_len, Gemm, GemmQuant};
use qrt::requant::{ChannelQuant, OutputQuant, Requant};

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
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }
}

fn backends() -> Vec<Backend> {
    Backend::ALL.into_iter().filter(|b| b.available()).collect()
}

/// One case: compares every backend with the definition; returns how many backends ran.
fn check_case(
    rows: usize,
    k: usize,
    n: usize,
    in_pad: usize,
    out_pad: usize,
    out: OutputQuant,
    seed: u64,
    extreme: bool,
) -> usize {
    let mut rng = Rng(seed | 1);
    let (input_stride, output_stride) = (k + in_pad, n + out_pad);
    let mut input = rng.i8s(rows * input_stride);
    let mut w = rng.i8s(n * k);
    if extreme {
        input.iter_mut().for_each(|v| *v = -128);
        w.iter_mut().enumerate().for_each(|(i, v)| *v = if i % 2 == 0 { -127 } else { 127 });
    }
    for v in &mut w {
        *v = (*v).max(-127);
    }
    let bias: Vec<i32> = (0..n).map(|_| rng.range(-50_000, 50_000) as i32).collect();
    let requants: Vec<Requant> = (0..n)
        .map(|c| {
            Requant::from_f64([1e-4, 3e-3, 0.02, 0.5, 1.7][c % 5] * (1.0 + (rng.next() % 1000) as f64 / 1000.0))
                .unwrap()
        })
        .collect();
    let multiplier: Vec<i32> = requants.iter().map(|r| r.multiplier).collect();
    let shift: Vec<i32> = requants.iter().map(|r| r.shift).collect();
    let bu8: Vec<i32> = (0..n).map(|c| bias_u8(bias[c], &w[c * k..(c + 1) * k])).collect();

    // The definition, row by row on contiguous copies.
    let dense: Vec<i8> = (0..rows).flat_map(|r| input[r * input_stride..r * input_stride + k].to_vec()).collect();
    let mut expected = vec![0i8; rows * n];
    let fc = FullyConnected { rows, in_features: k, out_features: n, output: out };
    let cq = ChannelQuant { bias: &bias, multiplier: &multiplier, shift: &shift };
    fully_connected(&fc, &dense, &w, &cq, &mut expected);

    let mut packed = vec![0i8; packed_len(k, n)];
    pack(&w, k, n, &mut packed);
    let q = GemmQuant { bias: &bias, bias_u8: &bu8, multiplier: &multiplier, shift: &shift };
    let p = Gemm { rows, k, n, input_stride, output_stride, output: out };
    let all = backends();
    for &b in &all {
        let mut got = vec![0x55u8 as i8; rows * output_stride];
        gemm_on(b, &p, &input, &packed, &q, &mut got);
        for r in 0..rows {
            assert_eq!(
                &got[r * output_stride..r * output_stride + n],
                &expected[r * n..(r + 1) * n],
                "{}: rows {rows} k {k} n {n} row {r}",
                b.name()
            );
            // Bytes between output rows are left alone.
            assert!(
                got[r * output_stride + n..(r + 1) * output_stride].iter().all(|&v| v == 0x55),
                "{}: wrote padding",
                b.name()
            );
        }
    }
    all.len()
}

const FULL: OutputQuant = OutputQuant { zero_point: 0, min: -128, max: 127 };

#[test]
fn edge_shapes_on_every_backend() {
    let mut seed = 1;
    for rows in [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 33] {
        for k in [1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 31, 32, 33, 64, 96, 144, 320] {
            for n in [1, 3, 8, 15, 16, 17, 24, 31, 32, 33, 48, 64, 96] {
                seed += 1;
                check_case(rows, k, n, 0, 0, FULL, seed, false);
            }
        }
    }
}

#[test]
fn strided_rows_and_quantization_extremes() {
    for (i, (zp, lo, hi)) in
        [(-128, -128, 127), (127, -128, 127), (0, 0, 127), (-20, -20, 40), (5, -128, -100), (3, 120, 127)]
            .into_iter()
            .enumerate()
    {
        let out = OutputQuant { zero_point: zp, min: lo, max: hi };
        check_case(9, 37, 35, 3, 5, out, 100 + i as u64, false);
        check_case(4, 64, 16, 0, 16, out, 200 + i as u64, true);
    }
}

#[test]
fn large_reduction_cannot_overflow_differently() {
    // K = 2048 with every product at its extreme: |acc| ~ 2048 * 128 * 127 stays in i32.
    check_case(3, 2048, 20, 0, 0, FULL, 7, true);
    check_case(2, 1280, 33, 0, 0, FULL, 8, false);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn random_shapes(rows in 1usize..20, k in 1usize..200, n in 1usize..70, in_pad in 0usize..5, out_pad in 0usize..5, zp in -128i32..128, seed: u64) {
        let out = OutputQuant { zero_point: zp, min: -128, max: 127 };
        check_case(rows, k, n, in_pad, out_pad, out, seed, false);
    }
}

#[test]
fn report_backends() {
    let names: Vec<&str> = backends().iter().map(|b| b.name()).collect();
    eprintln!("gemm backends tested on this machine: {names:?}");
    assert!(names.contains(&"scalar"));
}
