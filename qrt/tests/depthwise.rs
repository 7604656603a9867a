//! The depthwise convolution on every backend this machine runs equals the definition
//! (`conv::conv2d` with groups = channels) byte for byte: 3x3 and 5x5, stride 1 and 2,
//! every padding, channel counts around the 16-wide block, zero points and clamps.

use proptest::prelude::*;
use qrt::conv::{conv2d, Conv2d};
use qrt::cpu::Backend;
use qrt::depthwise::{depthwise_on, pack, packed_len, Depthwise};
use qrt::requant::{ChannelQuant, OutputQuant, Requant};

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

#[allow(clippy::too_many_arguments)]
fn check_case(
    h: usize,
    w: usize,
    c: usize,
    k: usize,
    stride: usize,
    pad: (usize, usize, usize, usize),
    zp_in: i32,
    out: OutputQuant,
    seed: u64,
) {
    let mut rng = Rng(seed | 1);
    let (pt, pl, pb, pr) = pad;
    if h + pt + pb < k || w + pl + pr < k {
        return;
    }
    let out_h = (h + pt + pb - k) / stride + 1;
    let out_w = (w + pl + pr - k) / stride + 1;
    let input = rng.i8s(h * w * c);
    let weights: Vec<i8> = rng.i8s(c * k * k).into_iter().map(|v| v.max(-127)).collect();
    let bias: Vec<i32> = (0..c).map(|_| (rng.next() % 20_000) as i32 - 10_000).collect();
    let rq: Vec<Requant> = (0..c)
        .map(|i| Requant::from_f64([2e-3, 0.01, 0.07, 0.4][i % 4] * (1.0 + (rng.next() % 100) as f64 / 100.0)).unwrap())
        .collect();
    let multiplier: Vec<i32> = rq.iter().map(|r| r.multiplier).collect();
    let shift: Vec<i32> = rq.iter().map(|r| r.shift).collect();
    let q = ChannelQuant { bias: &bias, multiplier: &multiplier, shift: &shift };

    let conv = Conv2d {
        in_h: h,
        in_w: w,
        in_c: c,
        out_h,
        out_w,
        out_c: c,
        kernel_h: k,
        kernel_w: k,
        stride_h: stride,
        stride_w: stride,
        dilation_h: 1,
        dilation_w: 1,
        pad_top: pt,
        pad_left: pl,
        groups: c,
        input_zero_point: zp_in,
        output: out,
    };
    let mut expected = vec![0i8; out_h * out_w * c];
    conv2d(&conv, &input, &weights, &q, &mut expected);

    let mut packed = vec![0i8; packed_len(k, k, c)];
    pack(&weights, k, k, c, &mut packed);
    let p = Depthwise {
        in_h: h,
        in_w: w,
        channels: c,
        out_h,
        out_w,
        kernel_h: k,
        kernel_w: k,
        stride_h: stride,
        stride_w: stride,
        pad_top: pt,
        pad_left: pl,
        input_zero_point: zp_in,
        output: out,
    };
    for b in Backend::ALL.into_iter().filter(|b| b.available()) {
        let mut got = vec![0i8; expected.len()];
        depthwise_on(b, &p, &input, &packed, &q, &mut got);
        assert_eq!(got, expected, "{}: {h}x{w}x{c} k{k} s{stride} pad {pad:?} zp {zp_in}", b.name());
    }
}

const FULL: OutputQuant = OutputQuant { zero_point: 0, min: -128, max: 127 };

#[test]
fn mobilenet_shapes_on_every_backend() {
    let mut seed = 1;
    for (k, stride, pad) in [
        (3, 1, (1, 1, 1, 1)),
        (3, 2, (1, 1, 1, 1)),
        (3, 2, (0, 0, 1, 1)),
        (5, 1, (2, 2, 2, 2)),
        (5, 2, (2, 2, 2, 2)),
        (3, 1, (0, 0, 0, 0)),
    ] {
        for (h, w) in [(1, 1), (2, 3), (4, 4), (7, 7), (8, 5), (14, 14), (15, 9)] {
            for c in [1, 3, 8, 15, 16, 17, 32, 33, 48, 96, 144] {
                seed += 1;
                check_case(h, w, c, k, stride, pad, 3, FULL, seed);
            }
        }
    }
}

#[test]
fn zero_points_and_clamps() {
    for (i, (zp_in, out)) in [
        (-128, OutputQuant { zero_point: -128, min: -128, max: 127 }),
        (127, OutputQuant { zero_point: 127, min: -128, max: 127 }),
        (0, OutputQuant { zero_point: -5, min: -5, max: 40 }),
        (-7, OutputQuant { zero_point: 10, min: -128, max: -120 }),
    ]
    .into_iter()
    .enumerate()
    {
        check_case(9, 11, 40, 3, 1, (1, 1, 1, 1), zp_in, out, 50 + i as u64);
        check_case(9, 11, 40, 3, 2, (1, 1, 1, 1), zp_in, out, 60 + i as u64);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(150))]
    #[test]
    fn random_geometry(h in 1usize..12, w in 1usize..12, c in 1usize..50, k in prop::sample::select(vec![1usize, 3, 5]), stride in 1usize..3,
                       pt in 0usize..3, pl in 0usize..3, pb in 0usize..3, pr in 0usize..3, zp in -128i32..128, seed: u64) {
        check_case(h, w, c, k, stride, (pt.min(k - 1), pl.min(k - 1), pb.min(k - 1), pr.min(k - 1)), zp, FULL, seed);
    }
}
