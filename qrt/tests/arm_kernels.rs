//! The aarch64 kernels (NEON baseline and `sdot`) equal their scalar twins byte for byte on
//! the paths their design adds, beyond the shared suites in `gemm.rs` and `depthwise.rs`:
//!
//! - GEMM: every row tail of the 4-row `sdot` tile and the 2-row baseline tile, every
//!   reduction tail of the 16-byte chunk (including an empty reduction), channel tails of
//!   the 16-wide block, strided rows with untouched padding between them.
//! - The requantizing epilogue on any multiplier (negative, zero, `i32::MIN`, `i32::MAX`),
//!   every shift in `[1, 62]`, biases that make the int32 accumulator wrap, both saturations
//!   and `min > max`; ties rounding upward, pinned to the expected integers.
//! - The int16 pairs of the baseline kernels at their largest sums (`±32,512`).
//! - Depthwise: the table-driven interior and border paths, kernels past the table (more
//!   than 64 taps), fewer than 16 channels, windows wholly in the padding, strides 1 to 3,
//!   and zero points outside int8 (sent to the scalar twin).
//! - The dispatcher: a forced backend is the one `gemm` and `depthwise` run.
//!
//! Each test prints how many cases it compared on which backends.

#![cfg(target_arch = "aarch64")]

mod common;

use common::Rng;
use qrt::cpu::{self, Backend};
use qrt::depthwise::{self, Depthwise};
use qrt::gemm::{self, Gemm, GemmQuant};
use qrt::requant::{ChannelQuant, OutputQuant, Requant};

const FULL: OutputQuant = OutputQuant { zero_point: 0, min: -128, max: 127 };

/// The SIMD backends this CPU runs.
fn simd_backends() -> Vec<Backend> {
    Backend::ALL.into_iter().filter(|b| *b != Backend::Scalar && b.available()).collect()
}

fn report(test: &str, cases: usize) {
    let names: Vec<&str> = simd_backends().iter().map(|b| b.name()).collect();
    eprintln!("{test}: {cases} cases, each on scalar and {names:?}");
}

/// A realistic requantization: a multiplier between about 1e-4 and 0.5.
fn realistic(rng: &mut Rng) -> Requant {
    Requant::from_f64(1e-4 * 5000f64.powf(rng.unit())).expect("in range")
}

/// One GEMM: its inputs, weights (`[n][k]`) and per-channel constants.
struct GemmCase {
    p: Gemm,
    input: Vec<i8>,
    weights: Vec<i8>,
    bias: Vec<i32>,
    multiplier: Vec<i32>,
    shift: Vec<i32>,
}

impl GemmCase {
    /// Random data with realistic requantization.
    fn random(rows: usize, k: usize, n: usize, in_pad: usize, out_pad: usize, out: OutputQuant, rng: &mut Rng) -> Self {
        let p = Gemm { rows, k, n, input_stride: k + in_pad, output_stride: n + out_pad, output: out };
        let rq: Vec<Requant> = (0..n).map(|_| realistic(rng)).collect();
        GemmCase {
            p,
            input: rng.activations(rows * p.input_stride),
            weights: rng.weights(n * k),
            bias: (0..n).map(|_| rng.range(-100_000, 100_000) as i32).collect(),
            multiplier: rq.iter().map(|r| r.multiplier).collect(),
            shift: rq.iter().map(|r| r.shift).collect(),
        }
    }

    /// The scalar twin's output, then every SIMD backend's, compared over the whole output
    /// buffer (rows and the padding between them, which must stay untouched). Returns the
    /// scalar output.
    fn check(&self, what: &str) -> Vec<i8> {
        let (k, n) = (self.p.k, self.p.n);
        let mut packed = vec![0i8; gemm::packed_len(k, n)];
        gemm::pack(&self.weights, k, n, &mut packed);
        let bias_u8: Vec<i32> =
            (0..n).map(|c| gemm::bias_u8(self.bias[c], &self.weights[c * k..(c + 1) * k])).collect();
        let q = GemmQuant { bias: &self.bias, bias_u8: &bias_u8, multiplier: &self.multiplier, shift: &self.shift };
        let len = self.p.rows * self.p.output_stride;
        let mut expected = vec![0x55u8 as i8; len];
        gemm::gemm_scalar(&self.p, &self.input, &packed, &q, &mut expected);
        for b in simd_backends() {
            let mut got = vec![0x55u8 as i8; len];
            gemm::gemm_on(b, &self.p, &self.input, &packed, &q, &mut got);
            assert_eq!(got, expected, "{}: {what}: {:?}", b.name(), self.p);
        }
        expected
    }
}

#[test]
fn gemm_row_tiles_and_reduction_tails() {
    let mut rng = Rng::new(1);
    let mut cases = 0;
    let ks: Vec<usize> = (0..=40).chain([47, 48, 49, 63, 64, 65, 255]).collect();
    for rows in 1..=9 {
        for &k in &ks {
            for n in [1, 4, 8, 9, 15, 16, 17, 32, 33] {
                GemmCase::random(rows, k, n, k % 3, n % 2, FULL, &mut rng).check("tiles");
                cases += 1;
            }
        }
    }
    report("gemm_row_tiles_and_reduction_tails", cases);
}

#[test]
fn gemm_epilogue_on_any_multiplier_and_shift() {
    let mut rng = Rng::new(2);
    let special = [0, 1, -1, i32::MAX, i32::MIN, 1 << 30, (1 << 30) + 1, -(1 << 30)];
    let outs = [
        FULL,
        OutputQuant { zero_point: 127, min: -128, max: 127 },
        OutputQuant { zero_point: -128, min: -128, max: 127 },
        OutputQuant { zero_point: 3, min: 0, max: 6 },
        OutputQuant { zero_point: 0, min: 10, max: -10 },
    ];
    let mut cases = 0;
    for round in 0..400 {
        let (rows, k, n) = (1 + round % 5, 1 + round % 37, 1 + round % 35);
        let mut c = GemmCase::random(rows, k, n, 1, 2, outs[round % outs.len()], &mut rng);
        for ch in 0..n {
            c.multiplier[ch] = if rng.range(0, 2) == 0 {
                special[rng.range(0, special.len() as i64 - 1) as usize]
            } else {
                rng.range(i32::MIN as i64, i32::MAX as i64) as i32
            };
            c.shift[ch] = rng.range(1, 62) as i32;
            // Biases anywhere in i32, so the accumulator can wrap and the epilogue saturate.
            c.bias[ch] = match rng.range(0, 3) {
                0 => i32::MAX - rng.range(0, 100_000) as i32,
                1 => i32::MIN + rng.range(0, 100_000) as i32,
                _ => rng.range(i32::MIN as i64, i32::MAX as i64) as i32,
            };
        }
        c.check("epilogue");
        cases += 1;
    }
    report("gemm_epilogue_on_any_multiplier_and_shift", cases);
}

#[test]
fn gemm_ties_round_upward() {
    // k = 1, x = 1, w = 1: acc = bias + 1 = (2t + 1) * 2^j and M = 2^30 * 2^-(31 + j), so
    // requantize(acc) = t + 1/2 exactly, which rounds to t + 1 (also for negative t).
    let mut cases = 0;
    for j in 0..8 {
        let ts: Vec<i32> = (-100..=100).step_by(7).collect();
        let n = ts.len();
        let c = GemmCase {
            p: Gemm { rows: 5, k: 1, n, input_stride: 1, output_stride: n, output: FULL },
            input: vec![1; 5],
            weights: vec![1; n],
            bias: ts.iter().map(|t| ((2 * t + 1) << j) - 1).collect(),
            multiplier: vec![1 << 30; n],
            shift: vec![31 + j; n],
        };
        let out = c.check("ties");
        let want: Vec<i8> = ts.iter().map(|t| (t + 1) as i8).collect();
        for row in out.chunks(n) {
            assert_eq!(row, &want[..], "ties at 2^-{}", 31 + j);
        }
        cases += 1;
    }
    report("gemm_ties_round_upward", cases);
}

#[test]
fn gemm_int16_pairs_at_their_extremes() {
    let mut cases = 0;
    for k in [4, 8, 12, 16, 17, 64, 1000, 2048] {
        for (i, w) in [-127i8, 127].into_iter().enumerate() {
            // Every product is 128 * 127 = ±16,256 and every int16 pair ±32,512.
            let n = 33;
            let per_channel = Requant::from_f64(100.0 / (k as f64 * 16_256.0)).expect("in range");
            let c = GemmCase {
                p: Gemm { rows: 5, k, n, input_stride: k, output_stride: n, output: FULL },
                input: vec![-128; 5 * k],
                weights: (0..n * k).map(|j| if (j / k) % 3 == 2 { -w } else { w }).collect(),
                bias: vec![17 * i as i32; n],
                multiplier: vec![per_channel.multiplier; n],
                shift: vec![per_channel.shift; n],
            };
            let out = c.check("int16 pairs");
            assert!(out.iter().all(|&v| v.unsigned_abs() >= 90), "the sums did not reach the expected size");
            cases += 1;
        }
    }
    report("gemm_int16_pairs_at_their_extremes", cases);
}

/// One depthwise layer with random data; compares every SIMD backend with the scalar twin.
fn check_depthwise(
    (h, w, c): (usize, usize, usize),
    (kh, kw): (usize, usize),
    stride: usize,
    (pt, pl, pb, pr): (usize, usize, usize, usize),
    zp_in: i32,
    out: OutputQuant,
    rng: &mut Rng,
) -> bool {
    if h + pt + pb < kh || w + pl + pr < kw {
        return false;
    }
    let p = Depthwise {
        in_h: h,
        in_w: w,
        channels: c,
        out_h: (h + pt + pb - kh) / stride + 1,
        out_w: (w + pl + pr - kw) / stride + 1,
        kernel_h: kh,
        kernel_w: kw,
        stride_h: stride,
        stride_w: stride,
        pad_top: pt,
        pad_left: pl,
        input_zero_point: zp_in,
        output: out,
    };
    let input = rng.activations(h * w * c);
    let weights = rng.weights(c * kh * kw);
    let mut packed = vec![0i8; depthwise::packed_len(kh, kw, c)];
    depthwise::pack(&weights, kh, kw, c, &mut packed);
    let bias: Vec<i32> = (0..c).map(|_| rng.range(-50_000, 50_000) as i32).collect();
    let rq: Vec<Requant> = (0..c).map(|_| realistic(rng)).collect();
    let multiplier: Vec<i32> = rq.iter().map(|r| r.multiplier).collect();
    let shift: Vec<i32> = rq.iter().map(|r| r.shift).collect();
    let q = ChannelQuant { bias: &bias, multiplier: &multiplier, shift: &shift };
    let mut expected = vec![0i8; p.out_h * p.out_w * c];
    depthwise::depthwise_scalar(&p, &input, &packed, &q, &mut expected);
    for b in simd_backends() {
        let mut got = vec![0i8; expected.len()];
        depthwise::depthwise_on(b, &p, &input, &packed, &q, &mut got);
        assert_eq!(got, expected, "{}: {p:?}", b.name());
    }
    true
}

#[test]
fn depthwise_interior_border_and_fallback_paths() {
    let mut rng = Rng::new(3);
    let mut cases = 0;
    let kernels = [(1, 1), (2, 2), (3, 3), (5, 5), (7, 7), (1, 7), (7, 1), (8, 8), (9, 9), (1, 65)];
    for (kh, kw) in kernels {
        for stride in 1..=3 {
            let big = (kh - 1, kw - 1, kh - 1, kw - 1);
            let pads = [(0, 0, 0, 0), big, (kh / 2, kw.min(2) - 1, 0, kw / 2), (kh, kw, kh, kw)];
            for pad in pads {
                for (h, w) in [(1, 1), (2, 3), (6, 5), (10, 12)] {
                    for c in [1, 3, 15, 16, 17, 31, 40] {
                        let zp = [-128, 0, 127, 5][cases % 4];
                        cases += check_depthwise((h, w, c), (kh, kw), stride, pad, zp, FULL, &mut rng) as usize;
                    }
                }
            }
        }
    }
    report("depthwise_interior_border_and_fallback_paths", cases);
}

#[test]
fn depthwise_zero_points_and_clamps() {
    let mut rng = Rng::new(4);
    let mut cases = 0;
    // Zero points outside int8 are outside the contract; the NEON path hands them to the
    // scalar twin, and the bytes still agree.
    for zp_in in [-128, -1, 0, 127, 300, -1000] {
        for out in [
            FULL,
            OutputQuant { zero_point: -128, min: -128, max: 127 },
            OutputQuant { zero_point: 127, min: -128, max: 127 },
            OutputQuant { zero_point: -5, min: -5, max: 40 },
            OutputQuant { zero_point: 0, min: 10, max: -10 },
        ] {
            for c in [5, 16, 24] {
                cases += check_depthwise((7, 9, c), (3, 3), 1, (1, 1, 1, 1), zp_in, out, &mut rng) as usize;
                cases += check_depthwise((7, 9, c), (5, 5), 2, (2, 1, 2, 2), zp_in, out, &mut rng) as usize;
            }
        }
    }
    report("depthwise_zero_points_and_clamps", cases);
}

#[test]
fn forced_backend_is_the_one_dispatched() {
    let mut rng = Rng::new(5);
    let c = GemmCase::random(7, 53, 37, 2, 3, FULL, &mut rng);
    let expected = c.check("dispatch");
    let mut packed = vec![0i8; gemm::packed_len(c.p.k, c.p.n)];
    gemm::pack(&c.weights, c.p.k, c.p.n, &mut packed);
    let bias_u8: Vec<i32> =
        (0..c.p.n).map(|ch| gemm::bias_u8(c.bias[ch], &c.weights[ch * c.p.k..(ch + 1) * c.p.k])).collect();
    let q = GemmQuant { bias: &c.bias, bias_u8: &bias_u8, multiplier: &c.multiplier, shift: &c.shift };
    for b in Backend::ALL.into_iter().filter(|b| b.available()) {
        assert!(cpu::force(b));
        assert_eq!(cpu::backend(), b);
        let mut got = vec![0x55u8 as i8; expected.len()];
        gemm::gemm(&c.p, &c.input, &packed, &q, &mut got);
        assert_eq!(got, expected, "gemm forced to {}", b.name());
    }
    assert!(cpu::force(cpu::best()));
}
