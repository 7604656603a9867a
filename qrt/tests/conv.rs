//! `conv2d` against an independent reference: the input is first materialised as a
//! zero-point-padded NCHW copy, then a naive i64 loop runs over OIHW-indexed weights.

mod common;

use common::{finish_model, requantize_model, Rng};
use proptest::prelude::*;
use qrt::conv::{conv2d, Conv2d};
use qrt::{ChannelQuant, OutputQuant, Requant};

/// Per-channel constants owned by a test.
struct Quant {
    bias: Vec<i32>,
    multiplier: Vec<i32>,
    shift: Vec<i32>,
}

impl Quant {
    fn view(&self) -> ChannelQuant<'_> {
        ChannelQuant { bias: &self.bias, multiplier: &self.multiplier, shift: &self.shift }
    }
}

/// The reference: padded NCHW input, OIHW weights, i64 accumulation, i128 requantization.
fn reference(p: &Conv2d, input: &[i8], weights: &[i8], q: &Quant) -> Vec<i8> {
    let span = |out: usize, stride: usize, kernel: usize, dilation: usize| {
        (out.max(1) - 1) * stride + (kernel - 1) * dilation + 1
    };
    let ph = (p.pad_top + p.in_h).max(span(p.out_h, p.stride_h, p.kernel_h, p.dilation_h));
    let pw = (p.pad_left + p.in_w).max(span(p.out_w, p.stride_w, p.kernel_w, p.dilation_w));
    let mut padded = vec![p.input_zero_point as i64; p.in_c * ph * pw];
    for y in 0..p.in_h {
        for x in 0..p.in_w {
            for c in 0..p.in_c {
                padded[(c * ph + y + p.pad_top) * pw + x + p.pad_left] = input[(y * p.in_w + x) * p.in_c + c] as i64;
            }
        }
    }
    let cpg = p.in_c / p.groups;
    let opg = p.out_c / p.groups;
    // Weights arrive as [o][kh][kw][i]; the reference reads them as [o][i][kh][kw].
    let mut oihw = vec![0i64; weights.len()];
    for o in 0..p.out_c {
        for ky in 0..p.kernel_h {
            for kx in 0..p.kernel_w {
                for i in 0..cpg {
                    oihw[((o * cpg + i) * p.kernel_h + ky) * p.kernel_w + kx] =
                        weights[((o * p.kernel_h + ky) * p.kernel_w + kx) * cpg + i] as i64;
                }
            }
        }
    }
    let mut out = vec![0i8; p.output_len()];
    for o in 0..p.out_c {
        let group = o / opg;
        for oy in 0..p.out_h {
            for ox in 0..p.out_w {
                let mut acc = q.bias[o] as i64;
                for i in 0..cpg {
                    let channel = group * cpg + i;
                    for ky in 0..p.kernel_h {
                        for kx in 0..p.kernel_w {
                            let y = oy * p.stride_h + ky * p.dilation_h;
                            let x = ox * p.stride_w + kx * p.dilation_w;
                            acc += padded[(channel * ph + y) * pw + x]
                                * oihw[((o * cpg + i) * p.kernel_h + ky) * p.kernel_w + kx];
                        }
                    }
                }
                let v = requantize_model(acc, q.multiplier[o], q.shift[o]);
                out[(oy * p.out_w + ox) * p.out_c + o] =
                    finish_model(v, p.output.zero_point, p.output.min, p.output.max);
            }
        }
    }
    out
}

/// Random data for `p`: weights, and per-channel constants whose multipliers differ by
/// channel and are scaled so that outputs spread past both int8 ends.
fn random_layer(p: &Conv2d, rng: &mut Rng) -> (Vec<i8>, Vec<i8>, Quant) {
    let input = rng.activations(p.input_len());
    let weights = rng.weights(p.weight_len());
    let filter_len = p.weight_len() / p.out_c.max(1);
    let typical_acc = 5400.0 * (filter_len as f64).sqrt();
    let mut q = Quant { bias: vec![], multiplier: vec![], shift: vec![] };
    for o in 0..p.out_c {
        let filter = &weights[o * filter_len..][..filter_len];
        let folded = -p.input_zero_point * filter.iter().map(|&w| w as i32).sum::<i32>();
        q.bias.push(folded + rng.range(-3000, 3000) as i32);
        let real = 150.0 / typical_acc * (0.5 + 1.5 * rng.unit());
        let r = Requant::from_f64(real).unwrap();
        q.multiplier.push(r.multiplier);
        q.shift.push(r.shift);
    }
    (input, weights, q)
}

/// Runs `conv2d` and the reference on random data and compares every byte.
fn check(p: &Conv2d, seed: u64) -> Vec<i8> {
    let mut rng = Rng::new(seed);
    let (input, weights, q) = random_layer(p, &mut rng);
    let mut got = vec![0x55u8 as i8; p.output_len()];
    conv2d(p, &input, &weights, &q.view(), &mut got);
    assert_eq!(got, reference(p, &input, &weights, &q), "{p:?}");
    got
}

/// One row of the edge-shape table; output sizes follow from the four paddings.
#[derive(Clone, Copy, Debug)]
struct Shape {
    in_h: usize,
    in_w: usize,
    in_c: usize,
    out_c: usize,
    kernel: (usize, usize),
    stride: (usize, usize),
    dilation: (usize, usize),
    /// Top, left, bottom, right.
    pad: (usize, usize, usize, usize),
    groups: usize,
}

impl Shape {
    const fn new(in_h: usize, in_w: usize, in_c: usize, out_c: usize, kernel: usize) -> Shape {
        Shape {
            in_h,
            in_w,
            in_c,
            out_c,
            kernel: (kernel, kernel),
            stride: (1, 1),
            dilation: (1, 1),
            pad: (0, 0, 0, 0),
            groups: 1,
        }
    }
    const fn stride(self, h: usize, w: usize) -> Shape {
        Shape { stride: (h, w), ..self }
    }
    const fn dilation(self, d: usize) -> Shape {
        Shape { dilation: (d, d), ..self }
    }
    const fn pad(self, top: usize, left: usize, bottom: usize, right: usize) -> Shape {
        Shape { pad: (top, left, bottom, right), ..self }
    }
    const fn groups(self, groups: usize) -> Shape {
        Shape { groups, ..self }
    }
    const fn kernel(self, h: usize, w: usize) -> Shape {
        Shape { kernel: (h, w), ..self }
    }

    fn conv(self, input_zero_point: i32, output: OutputQuant) -> Conv2d {
        let out = |extent: usize, before: usize, after: usize, kernel: usize, dilation: usize, stride: usize| {
            (extent + before + after - ((kernel - 1) * dilation + 1)) / stride + 1
        };
        let (top, left, bottom, right) = self.pad;
        Conv2d {
            in_h: self.in_h,
            in_w: self.in_w,
            in_c: self.in_c,
            out_h: out(self.in_h, top, bottom, self.kernel.0, self.dilation.0, self.stride.0),
            out_w: out(self.in_w, left, right, self.kernel.1, self.dilation.1, self.stride.1),
            out_c: self.out_c,
            kernel_h: self.kernel.0,
            kernel_w: self.kernel.1,
            stride_h: self.stride.0,
            stride_w: self.stride.1,
            dilation_h: self.dilation.0,
            dilation_w: self.dilation.1,
            pad_top: top,
            pad_left: left,
            groups: self.groups,
            input_zero_point,
            output,
        }
    }
}

const EDGE_SHAPES: &[(&str, Shape)] = &[
    ("1x1", Shape::new(4, 5, 3, 4, 1)),
    ("1x1 single pixel", Shape::new(1, 1, 8, 3, 1)),
    ("1x1 stride 2", Shape::new(5, 6, 3, 2, 1).stride(2, 2)),
    ("3x3 stride 1 same", Shape::new(5, 5, 3, 6, 3).pad(1, 1, 1, 1)),
    ("3x3 stride 1 valid", Shape::new(6, 5, 2, 3, 3)),
    ("3x3 stride 2 same", Shape::new(7, 6, 4, 5, 3).stride(2, 2).pad(1, 1, 1, 1)),
    (
        "3x3 stride 2 implied bottom/right pad (TF SAME, even input)",
        Shape::new(6, 6, 3, 4, 3).stride(2, 2).pad(0, 0, 1, 1),
    ),
    ("3x3 asymmetric pad, more on top/left", Shape::new(5, 4, 3, 2, 3).pad(2, 2, 0, 0)),
    ("3x3 asymmetric pad, bottom only", Shape::new(4, 5, 2, 3, 3).pad(0, 1, 2, 1)),
    ("5x5 kernel larger than input", Shape::new(3, 2, 2, 2, 5).pad(2, 2, 2, 2)),
    ("3x3 on a single pixel", Shape::new(1, 1, 3, 2, 3).pad(1, 1, 1, 1)),
    ("1x1 with padding (border pixels read only padding)", Shape::new(3, 3, 2, 2, 1).pad(1, 2, 1, 0)),
    ("dilation 2", Shape::new(7, 7, 3, 4, 3).dilation(2).pad(2, 2, 2, 2)),
    ("dilation 2 stride 2", Shape::new(9, 8, 2, 3, 3).dilation(2).stride(2, 2).pad(1, 2, 2, 1)),
    ("1x3 kernel, stride (1, 2)", Shape::new(4, 7, 3, 2, 1).kernel(1, 3).stride(1, 2).pad(0, 1, 0, 1)),
    ("3x1 kernel, stride (2, 1)", Shape::new(7, 4, 3, 2, 1).kernel(3, 1).stride(2, 1).pad(1, 0, 1, 0)),
    ("groups 2", Shape::new(5, 5, 4, 6, 3).groups(2).pad(1, 1, 1, 1)),
    ("groups 3, odd channels per group", Shape::new(4, 5, 9, 3, 3).groups(3).pad(1, 0, 1, 2)),
    ("depthwise 3x3, 5 channels", Shape::new(6, 6, 5, 5, 3).groups(5).pad(1, 1, 1, 1)),
    ("depthwise 3x3 stride 2", Shape::new(7, 8, 4, 4, 3).groups(4).stride(2, 2).pad(1, 1, 1, 1)),
    ("depthwise multiplier 2", Shape::new(5, 4, 3, 6, 3).groups(3).pad(1, 1, 1, 1)),
    ("odd channel counts", Shape::new(5, 3, 7, 5, 3).pad(1, 1, 1, 1)),
    ("wide input channels", Shape::new(3, 3, 33, 3, 3).pad(1, 1, 1, 1)),
];

const INPUT_ZERO_POINTS: [i32; 3] = [-128, 0, 127];

const OUTPUTS: [OutputQuant; 3] = [
    OutputQuant { zero_point: 0, min: -128, max: 127 },
    OutputQuant { zero_point: -5, min: -5, max: 127 },
    OutputQuant { zero_point: 17, min: -100, max: 60 },
];

#[test]
fn edge_shapes_match_the_reference() {
    let mut seed = 1;
    for &(name, shape) in EDGE_SHAPES {
        let mut low = false;
        let mut high = false;
        for z_in in INPUT_ZERO_POINTS {
            for out in OUTPUTS {
                let p = shape.conv(z_in, out);
                assert!(p.out_h > 0 && p.out_w > 0, "{name}");
                seed += 1;
                let got = check(&p, seed);
                low |= got.contains(&out.min);
                high |= got.contains(&out.max);
            }
        }
        assert!(low && high, "{name}: the clamps were not reached at both ends");
    }
}

#[test]
fn hand_derived_one_row() {
    // Input 1x2, one channel, x = [10, 20], z_in = 5; kernel 1x2, w = [1, 2]; pad_left 1,
    // out_w 3 (so one column of implied right padding). bias = -z_in * Σw = -15; M = 0.5.
    //   ox = 0 reads [5(pad), 10]: 5 + 20 = 25, acc 10, 10 * 0.5 = 5
    //   ox = 1 reads [10, 20]: 10 + 40 = 50, acc 35, 17.5 rounds up to 18
    //   ox = 2 reads [20, 5(pad)]: 20 + 10 = 30, acc 15, 7.5 rounds up to 8
    // With z_out = -3: [2, 15, 5].
    let p = Conv2d {
        in_h: 1,
        in_w: 2,
        in_c: 1,
        out_h: 1,
        out_w: 3,
        out_c: 1,
        kernel_h: 1,
        kernel_w: 2,
        stride_h: 1,
        stride_w: 1,
        dilation_h: 1,
        dilation_w: 1,
        pad_top: 0,
        pad_left: 1,
        groups: 1,
        input_zero_point: 5,
        output: OutputQuant { zero_point: -3, min: -128, max: 127 },
    };
    let q = ChannelQuant { bias: &[-15], multiplier: &[1 << 30], shift: &[31] };
    let mut out = [0i8; 3];
    conv2d(&p, &[10, 20], &[1, 2], &q, &mut out);
    assert_eq!(out, [2, 15, 5]);
}

#[test]
fn hand_derived_depthwise_with_per_channel_multipliers() {
    // Two channels, 1x1 input, 3x3 kernel with pad 1: only the centre tap sees the input,
    // the other eight read z_in = 2. Channel 0: all weights 1, x = 6 -> 6 + 8 * 2 = 22,
    // bias -18 (= -z_in * 9) -> acc 4, M = 0.5 -> 2. Channel 1: centre weight -3, others 0,
    // x = -7 -> 21, bias 6 (= -2 * -3) -> acc 27, M = 0.25 -> 6.75 -> 7. z_out = 0.
    let p = Conv2d {
        in_h: 1,
        in_w: 1,
        in_c: 2,
        out_h: 1,
        out_w: 1,
        out_c: 2,
        kernel_h: 3,
        kernel_w: 3,
        stride_h: 1,
        stride_w: 1,
        dilation_h: 1,
        dilation_w: 1,
        pad_top: 1,
        pad_left: 1,
        groups: 2,
        input_zero_point: 2,
        output: OutputQuant { zero_point: 0, min: -128, max: 127 },
    };
    let mut weights = [0i8; 18];
    weights[..9].fill(1);
    weights[9 + 4] = -3;
    let q = ChannelQuant { bias: &[-18, 6], multiplier: &[1 << 30, 1 << 30], shift: &[31, 32] };
    let mut out = [0i8; 2];
    conv2d(&p, &[6, -7], &weights, &q, &mut out);
    assert_eq!(out, [2, 7]);
}

#[test]
#[should_panic(expected = "input length")]
fn wrong_input_length_is_caught_at_entry() {
    let p = Shape::new(2, 2, 1, 1, 1).conv(0, OUTPUTS[0]);
    let q = ChannelQuant { bias: &[0], multiplier: &[0], shift: &[1] };
    conv2d(&p, &[0; 3], &[1], &q, &mut [0; 4]);
}

fn arbitrary_conv() -> impl Strategy<Value = (Conv2d, u64)> {
    let geometry = (1..=3usize, 1..=3usize, 1..=3usize, 1..=3usize, 1..=3usize, 1..=3usize, 1..=3usize);
    let window = (1..=2usize, 1..=2usize, 0..=2usize, 0..=2usize, 1..=6usize, 1..=6usize, 1..=4usize, 1..=4usize);
    let quant = (any::<i8>(), any::<i8>(), any::<i8>(), any::<i8>(), any::<u64>());
    (geometry, window, quant).prop_map(
        |(
            (groups, cpg, opg, kh, kw, sh, sw),
            (dh, dw, pt, pl, in_h, in_w, out_h, out_w),
            (z_in, z_out, a, b, seed),
        )| {
            let p = Conv2d {
                in_h,
                in_w,
                in_c: groups * cpg,
                // Any output size is defined: taps past the input read the zero point.
                out_h,
                out_w,
                out_c: groups * opg,
                kernel_h: kh,
                kernel_w: kw,
                stride_h: sh,
                stride_w: sw,
                dilation_h: dh,
                dilation_w: dw,
                pad_top: pt,
                pad_left: pl,
                groups,
                input_zero_point: z_in as i32,
                output: OutputQuant { zero_point: z_out as i32, min: a.min(b), max: a.max(b) },
            };
            (p, seed)
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn random_small_shapes_match_the_reference((p, seed) in arbitrary_conv()) {
        check(&p, seed);
    }
}
