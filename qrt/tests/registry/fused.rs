//! `qs8_expand_dwconv`: [`qrt::fused::expand_depthwise`], a pointwise GEMM feeding a
//! depthwise conv band by band through a small scratch, on the forced backend (and
//! `qrt::par::expand_depthwise` on 2 and 3 threads). The definition is the two scalar
//! layers one after the other; the reference the two i128 models.

use proptest::prelude::*;
use qrt::cpu::Backend;
use qrt::depthwise::{self, Depthwise};
use qrt::fused::{self, ExpandDepthwise};
use qrt::gemm::{self, Gemm, GemmQuant};
use qrt::par::{self, Par};
use qrt::requant::{ChannelQuant, OutputQuant};

use super::model::{self, Channels, Window};
use super::params::*;
use super::{guarded, inner, on_forced, pool, Kernel, Placed};
use crate::common::Rng;

/// Scratch for the bands.
#[derive(Clone, Copy, Debug)]
pub enum Scratch {
    /// The least that works (one output row's window) plus this many bytes.
    Least(usize),
    /// Room for this many input rows.
    Lines(usize),
    /// What the whole layer needs.
    Whole,
}

/// `h x w x k` expanded to `c` channels, then a `kernel x kernel` depthwise conv with
/// `stride` and `pad = [top, left, bottom, right]`. The GEMM's output quantization `mid`
/// is the depthwise layer's input (its zero point is the padding value).
#[derive(Clone, Debug)]
pub struct FusedParams {
    pub h: usize,
    pub w: usize,
    pub k: usize,
    pub c: usize,
    pub kernel: usize,
    pub stride: usize,
    pub pad: [usize; 4],
    pub in_pad: usize,
    pub z_in: i32,
    pub mid: OutputQuant,
    pub out: OutputQuant,
    pub scales: Scales,
    pub values: Values,
    pub bias: Bias,
    pub scratch: Scratch,
    pub threads: usize,
    pub seed: u64,
}

impl FusedParams {
    pub fn new(h: usize, w: usize, k: usize, c: usize, kernel: usize, stride: usize, seed: u64) -> FusedParams {
        FusedParams {
            h,
            w,
            k,
            c,
            kernel,
            stride,
            pad: [kernel / 2; 4],
            in_pad: seed as usize % 3,
            z_in: -128,
            // A ReLU6-like expansion, as in MobileNetV2.
            mid: OutputQuant { zero_point: -128, min: -128, max: 100 },
            out: OutputQuant { zero_point: 5, ..FULL },
            scales: Scales::Typical,
            values: Values::Random,
            bias: Bias::Typical,
            scratch: [Scratch::Least(0), Scratch::Lines(4), Scratch::Least(3), Scratch::Whole][seed as usize % 4],
            threads: 1,
            seed,
        }
    }
}

pub struct FusedCase {
    p: ExpandDepthwise,
    input: Placed<i8>,
    z_in: i32,
    gemm_weights: Vec<i8>,
    gemm_packed: Vec<i8>,
    bias: Vec<i32>,
    bias_u8: Vec<i32>,
    gemm_raw: Vec<i32>,
    gemm_m: Vec<i32>,
    gemm_s: Vec<i32>,
    dw_weights: Vec<i8>,
    dw_packed: Vec<i8>,
    dw_bias: Vec<i32>,
    dw_raw: Vec<i32>,
    dw_m: Vec<i32>,
    dw_s: Vec<i32>,
    scratch: usize,
    threads: usize,
}

impl FusedCase {
    fn quant(&self) -> (GemmQuant<'_>, ChannelQuant<'_>) {
        (
            GemmQuant { bias: &self.bias, bias_u8: &self.bias_u8, multiplier: &self.gemm_m, shift: &self.gemm_s },
            ChannelQuant { bias: &self.dw_bias, multiplier: &self.dw_m, shift: &self.dw_s },
        )
    }

    fn out_len(&self) -> usize {
        self.p.dw.out_h * self.p.dw.out_w * self.p.dw.channels
    }
}

pub struct ExpandDwconv;

impl Kernel for ExpandDwconv {
    type Params = FusedParams;
    type Case = FusedCase;
    const RANDOM_CASES: u32 = 32;

    fn build(p: &FusedParams) -> FusedCase {
        let mut rng = Rng::new(p.seed);
        let g =
            Gemm { rows: p.h * p.w, k: p.k, n: p.c, input_stride: p.k + p.in_pad, output_stride: p.c, output: p.mid };
        let size = |len: usize| (len - p.kernel) / p.stride + 1;
        let dw = Depthwise {
            in_h: p.h,
            in_w: p.w,
            channels: p.c,
            out_h: size(p.h + p.pad[0] + p.pad[2]),
            out_w: size(p.w + p.pad[1] + p.pad[3]),
            kernel_h: p.kernel,
            kernel_w: p.kernel,
            stride_h: p.stride,
            stride_w: p.stride,
            pad_top: p.pad[0],
            pad_left: p.pad[1],
            input_zero_point: p.mid.zero_point,
            output: p.out,
        };
        let input = p.values.activations(&mut rng, (g.rows - 1) * g.input_stride + p.k, p.z_in);
        let gemm_weights = p.values.weights(&mut rng, p.c, p.k);
        let (gemm_m, gemm_s) = requants(&mut rng, p.scales, p.c);
        let gemm_raw = raw_bias(&mut rng, p.bias, &gemm_m, &gemm_s);
        let bias = fold(&gemm_raw, p.z_in, &gemm_weights);
        let bias_u8 = (0..p.c).map(|i| gemm::bias_u8(bias[i], &gemm_weights[i * p.k..(i + 1) * p.k])).collect();
        let mut gemm_packed = vec![0; gemm::packed_len(p.k, p.c)];
        gemm::pack(&gemm_weights, p.k, p.c, &mut gemm_packed);
        let taps = p.kernel * p.kernel;
        let dw_weights = p.values.weights(&mut rng, p.c, taps);
        let (dw_m, dw_s) = requants(&mut rng, p.scales, p.c);
        let dw_raw = raw_bias(&mut rng, p.bias, &dw_m, &dw_s);
        let dw_bias = fold(&dw_raw, p.mid.zero_point, &dw_weights);
        let mut dw_packed = vec![0; depthwise::packed_len(p.kernel, p.kernel, p.c)];
        depthwise::pack(&dw_weights, p.kernel, p.kernel, p.c, &mut dw_packed);
        let pair = ExpandDepthwise { gemm: g, dw };
        let scratch = match p.scratch {
            Scratch::Least(extra) => pair.min_scratch() + extra,
            Scratch::Lines(rows) => pair.scratch_len(rows * pair.line()),
            Scratch::Whole => pair.scratch_len(usize::MAX),
        };
        FusedCase {
            p: pair,
            input: Placed::new(input, (p.seed % 29) as usize),
            z_in: p.z_in,
            gemm_weights,
            gemm_packed,
            bias,
            bias_u8,
            gemm_raw,
            gemm_m,
            gemm_s,
            dw_weights,
            dw_packed,
            dw_bias,
            dw_raw,
            dw_m,
            dw_s,
            scratch,
            threads: p.threads,
        }
    }

    fn definition(c: &FusedCase, poison: i8) -> Vec<i8> {
        let (gq, dq) = c.quant();
        let (g, d) = (&c.p.gemm, &c.p.dw);
        let mut mid = vec![0; g.rows * g.n];
        gemm::gemm_scalar(g, c.input.get(), &c.gemm_packed, &gq, &mut mid);
        let mut out = guarded(c.out_len(), poison);
        depthwise::depthwise_scalar(d, &mid, &c.dw_packed, &dq, inner(&mut out));
        out
    }

    fn reference(c: &FusedCase, poison: i8) -> Option<Vec<i8>> {
        let (g, d) = (&c.p.gemm, &c.p.dw);
        let gq = Channels { raw_bias: &c.gemm_raw, multiplier: &c.gemm_m, shift: &c.gemm_s };
        let mut mid = vec![0; g.rows * g.n];
        model::gemm(g.rows, g.k, c.input.get(), g.input_stride, c.z_in, &c.gemm_weights, &gq, g.output, &mut mid, g.n);
        let window = Window {
            in_h: d.in_h,
            in_w: d.in_w,
            out_h: d.out_h,
            out_w: d.out_w,
            kernel_h: d.kernel_h,
            kernel_w: d.kernel_w,
            stride_h: d.stride_h,
            stride_w: d.stride_w,
            dilation_h: 1,
            dilation_w: 1,
            pad_top: d.pad_top,
            pad_left: d.pad_left,
        };
        let dq = Channels { raw_bias: &c.dw_raw, multiplier: &c.dw_m, shift: &c.dw_s };
        let mut out = guarded(c.out_len(), poison);
        model::depthwise(&window, &mid, d.input_zero_point, &c.dw_weights, &dq, d.output, inner(&mut out));
        Some(out)
    }

    fn run(b: Backend, c: &FusedCase, poison: i8) -> Vec<i8> {
        let (gq, dq) = c.quant();
        let mut out = guarded(c.out_len(), poison);
        let mut scratch = vec![0x33; c.scratch * c.threads];
        let (input, gp, dp) = (c.input.get(), &c.gemm_packed, &c.dw_packed);
        on_forced(b, || {
            if c.threads == 1 {
                fused::expand_depthwise(&c.p, input, gp, &gq, dp, &dq, &mut scratch, inner(&mut out));
            } else {
                let par = Par::pool(pool(c.threads)).with_min_work(0);
                par::expand_depthwise(par, &c.p, input, gp, &gq, dp, &dq, &mut scratch, inner(&mut out));
            }
        });
        out
    }

    fn locate(c: &FusedCase, i: usize) -> String {
        let (px, ch) = (i / c.p.dw.channels, i % c.p.dw.channels);
        format!("output pixel ({}, {}) channel {ch}", px / c.p.dw.out_w, px % c.p.dw.out_w)
    }

    fn edge_shapes() -> Vec<FusedParams> {
        let mut cases = Vec::new();
        let mut seed = 0;
        let mut next = || {
            seed += 1;
            seed
        };
        // Expansions to channel counts around the blocks, one-pixel-wide and tall layers,
        // 3x3 and 5x5 with strides 1 and 2 (and 3), every scratch from the least up.
        let layers = [
            (9, 7, 16, 96),
            (5, 6, 8, 20),
            (1, 4, 3, 17),
            (4, 1, 5, 33),
            (8, 3, 32, 64),
            (6, 6, 4, 1),
            (3, 5, 24, 144),
        ];
        for (h, w, k, c) in layers {
            for (kernel, stride) in [(3, 1), (3, 2), (5, 1), (5, 2), (3, 3)] {
                if h + 2 * (kernel / 2) < kernel || w + 2 * (kernel / 2) < kernel {
                    continue;
                }
                cases.push(FusedParams::new(h, w, k, c, kernel, stride, next()));
            }
        }
        // Padding on one side only, none, or more than the kernel's half.
        for pad in [[0, 0, 0, 0], [0, 0, 1, 1], [1, 1, 0, 0], [2, 0, 1, 2], [2, 2, 2, 2]] {
            for (kernel, stride) in [(3, 1), (3, 2), (5, 2)] {
                cases.push(FusedParams { pad, ..FusedParams::new(8, 7, 12, 40, kernel, stride, next()) });
            }
        }
        // Scratch from the least to the whole layer, on 1 to 3 threads.
        for scratch in [
            Scratch::Least(0),
            Scratch::Least(1),
            Scratch::Lines(4),
            Scratch::Lines(5),
            Scratch::Lines(7),
            Scratch::Whole,
        ] {
            for threads in [1, 2, 3] {
                for (kernel, stride) in [(3, 1), (3, 2)] {
                    let p = FusedParams::new(12, 10, 8, 24, kernel, stride, next());
                    cases.push(FusedParams { scratch, threads, ..p });
                }
            }
        }
        cases
    }

    fn zero_point_extremes() -> Vec<FusedParams> {
        let mut cases = Vec::new();
        for z_in in ZERO_POINTS {
            for z_mid in ZERO_POINTS {
                for z_out in ZERO_POINTS {
                    let values = [Values::Random, Values::Extreme, Values::ZeroPoint][cases.len() % 3];
                    let p = FusedParams::new(6, 5, 8, 20, 3, 1 + cases.len() % 2, 100 + cases.len() as u64);
                    let mid = OutputQuant { zero_point: z_mid, ..FULL };
                    let out = OutputQuant { zero_point: z_out, ..FULL };
                    cases.push(FusedParams { z_in, mid, out, values, ..p });
                }
            }
        }
        cases
    }

    fn multiplier_extremes() -> Vec<FusedParams> {
        let mut cases = Vec::new();
        for (values, bias) in ACCUMULATORS {
            let p = FusedParams::new(5, 4, 16, 80, 3, 1, 200 + cases.len() as u64);
            cases.push(FusedParams { scales: Scales::Grid, values, bias, mid: FULL, ..p });
        }
        for (i, (m, s)) in grid().into_iter().chain(encodable_extremes()).enumerate() {
            for (j, (values, bias)) in FIXED_ACCUMULATORS.into_iter().enumerate() {
                let p = FusedParams::new(4, 4, 8, 20, 3, 1 + (i + j) % 2, 300 + 3 * i as u64 + j as u64);
                cases.push(FusedParams { scales: Scales::Fixed(m, s), values, bias, mid: FULL, ..p });
            }
        }
        cases
    }

    fn clamps() -> Vec<FusedParams> {
        let outs = clamped_outputs();
        outs.iter()
            .enumerate()
            .map(|(i, &out)| {
                // The expansion's clamp too, from another entry of the list.
                let mid = outs[(i * 7 + 3) % outs.len()];
                FusedParams { mid, out, ..FusedParams::new(5, 6, 8, 20, 3, 1 + i % 2, 400 + i as u64) }
            })
            .collect()
    }

    fn per_channel() -> Vec<FusedParams> {
        let mut cases = Vec::new();
        for scales in [Scales::AnyPerChannel, Scales::PerTensor, Scales::Typical, Scales::Small] {
            for bias in [Bias::Typical, Bias::Wide, Bias::Edges] {
                for c in [17, 40, 70] {
                    let p = FusedParams::new(5, 5, 8, c, 3, 1 + cases.len() % 2, 500 + cases.len() as u64);
                    cases.push(FusedParams { scales, bias, mid: FULL, ..p });
                }
            }
        }
        cases
    }

    fn random() -> BoxedStrategy<FusedParams> {
        let shape = (1usize..9, 1usize..9, 1usize..20, 1usize..50, prop::sample::select(vec![1usize, 3, 5]), 1usize..4);
        let rest = ([0usize..3, 0usize..3, 0usize..3, 0usize..3], 0usize..3, 0usize..12, 1usize..=3);
        let quant = (any::<i8>(), any_output(), any_output(), any_scales(), any_values(), any_bias(), any::<u64>());
        (shape, rest, quant)
            .prop_map(|((h, w, k, c, kernel, stride), (pad, in_pad, lines, threads), quant)| {
                let (z_in, mid, out, scales, values, bias, seed) = quant;
                // Enough bottom and right padding that the padded input holds one window.
                let pad = [
                    pad[0],
                    pad[1],
                    pad[2].max(kernel.saturating_sub(h + pad[0])),
                    pad[3].max(kernel.saturating_sub(w + pad[1])),
                ];
                let scratch = if lines == 0 { Scratch::Whole } else { Scratch::Lines(lines) };
                FusedParams {
                    h,
                    w,
                    k,
                    c,
                    kernel,
                    stride,
                    pad,
                    in_pad,
                    z_in: z_in as i32,
                    mid,
                    out,
                    scales,
                    values,
                    bias,
                    scratch,
                    threads,
                    seed,
                }
            })
            .boxed()
    }
}
