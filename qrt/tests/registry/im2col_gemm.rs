//! `qs8_im2col_gemm`: [`qrt::im2col::im2col_gemm`], a dense convolution gathered a band of
//! pixels at a time and run through the GEMM on the forced backend (and
//! `qrt::par::im2col_gemm` on 2 and 3 threads). The definition is the whole gather
//! followed by the scalar GEMM; the reference the i128 convolution model.

use proptest::prelude::*;
use qrt::cpu::Backend;
use qrt::gemm::{self, Gemm, GemmQuant};
use qrt::im2col::{self, Im2col, Im2colGemm};
use qrt::par::{self, Par};
use qrt::requant::OutputQuant;

use super::model::{self, Channels, Window};
use super::params::*;
use super::{guarded, inner, on_forced, pool, strided_len, Kernel, Placed};
use crate::common::Rng;

/// Scratch for the bands.
#[derive(Clone, Copy, Debug)]
pub enum Scratch {
    /// Room for this many gathered rows (1 is the least that works).
    Rows(usize),
    /// What the compiler plans (`default_scratch`).
    Default,
    /// The whole gathered matrix.
    Whole,
}

/// One convolution: `h x w x c` to `m` channels, kernel `(kh, kw)`, stride `(sh, sw)`,
/// dilation `(dh, dw)`, `pad = [top, left, bottom, right]`.
#[derive(Clone, Debug)]
pub struct ConvParams {
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub m: usize,
    pub kernel: (usize, usize),
    pub stride: (usize, usize),
    pub dilation: (usize, usize),
    pub pad: [usize; 4],
    pub out_pad: usize,
    pub z_in: i32,
    pub out: OutputQuant,
    pub scales: Scales,
    pub values: Values,
    pub bias: Bias,
    pub scratch: Scratch,
    pub threads: usize,
    pub seed: u64,
}

impl ConvParams {
    pub fn new(h: usize, w: usize, c: usize, m: usize, k: usize, stride: usize, seed: u64) -> ConvParams {
        ConvParams {
            h,
            w,
            c,
            m,
            kernel: (k, k),
            stride: (stride, stride),
            dilation: (1, 1),
            pad: [k / 2; 4],
            out_pad: [0, 0, 3][seed as usize % 3],
            z_in: -7,
            out: OutputQuant { zero_point: 3, ..FULL },
            scales: Scales::Typical,
            values: Values::Random,
            bias: Bias::Typical,
            scratch: [Scratch::Rows(1), Scratch::Rows(5), Scratch::Rows(25), Scratch::Default, Scratch::Whole]
                [seed as usize % 5],
            threads: 1,
            seed,
        }
    }
}

pub struct ConvCase {
    p: Im2colGemm,
    input: Placed<i8>,
    weights: Vec<i8>,
    packed: Vec<i8>,
    bias: Vec<i32>,
    bias_u8: Vec<i32>,
    raw_bias: Vec<i32>,
    multiplier: Vec<i32>,
    shift: Vec<i32>,
    scratch: usize,
    threads: usize,
}

impl ConvCase {
    fn quant(&self) -> GemmQuant<'_> {
        GemmQuant { bias: &self.bias, bias_u8: &self.bias_u8, multiplier: &self.multiplier, shift: &self.shift }
    }

    fn out_len(&self) -> usize {
        strided_len(self.p.gemm.rows, self.p.gemm.output_stride, self.p.gemm.n)
    }
}

pub struct QsIm2colGemm;

impl Kernel for QsIm2colGemm {
    type Params = ConvParams;
    type Case = ConvCase;
    const RANDOM_CASES: u32 = 32;

    fn build(p: &ConvParams) -> ConvCase {
        let mut rng = Rng::new(p.seed);
        let ((kh, kw), (sh, sw), (dh, dw)) = (p.kernel, p.stride, p.dilation);
        let size = |len: usize, k: usize, s: usize, d: usize| {
            let span = (k - 1) * d + 1;
            if len < span {
                0
            } else {
                (len - span) / s + 1
            }
        };
        let out_h = size(p.h + p.pad[0] + p.pad[2], kh, sh, dh);
        let out_w = size(p.w + p.pad[1] + p.pad[3], kw, sw, dw);
        let gather = Im2col {
            in_h: p.h,
            in_w: p.w,
            in_c: p.c,
            out_h,
            out_w,
            kernel_h: kh,
            kernel_w: kw,
            stride_h: sh,
            stride_w: sw,
            dilation_h: dh,
            dilation_w: dw,
            pad_top: p.pad[0],
            pad_left: p.pad[1],
            zero_point: p.z_in as i8,
        };
        let k = gather.row_len();
        let g = Gemm { rows: out_h * out_w, k, n: p.m, input_stride: k, output_stride: p.m + p.out_pad, output: p.out };
        let input = p.values.activations(&mut rng, p.h * p.w * p.c, p.z_in);
        let weights = p.values.weights(&mut rng, p.m, k);
        let (multiplier, shift) = requants(&mut rng, p.scales, p.m);
        let raw_bias = raw_bias(&mut rng, p.bias, &multiplier, &shift);
        let bias = fold(&raw_bias, p.z_in, &weights);
        let bias_u8 = (0..p.m).map(|o| gemm::bias_u8(bias[o], &weights[o * k..(o + 1) * k])).collect();
        let mut packed = vec![0; gemm::packed_len(k, p.m)];
        gemm::pack(&weights, k, p.m, &mut packed);
        let conv = Im2colGemm { gather, gemm: g };
        let scratch = match p.scratch {
            Scratch::Rows(r) => conv.scratch_len(r * k),
            Scratch::Default => conv.default_scratch(),
            Scratch::Whole => conv.scratch_len(usize::MAX),
        };
        let at = (p.seed % 37) as usize;
        ConvCase {
            p: conv,
            input: Placed::new(input, at),
            weights,
            packed,
            bias,
            bias_u8,
            raw_bias,
            multiplier,
            shift,
            scratch,
            threads: p.threads,
        }
    }

    fn definition(c: &ConvCase, poison: i8) -> Vec<i8> {
        let mut cols = vec![0; c.p.gemm.rows * c.p.gemm.k];
        im2col::im2col(&c.p.gather, c.input.get(), &mut cols);
        let mut out = guarded(c.out_len(), poison);
        gemm::gemm_scalar(&c.p.gemm, &cols, &c.packed, &c.quant(), inner(&mut out));
        out
    }

    fn reference(c: &ConvCase, poison: i8) -> Option<Vec<i8>> {
        let (g, m) = (&c.p.gather, &c.p.gemm);
        let window = Window {
            in_h: g.in_h,
            in_w: g.in_w,
            out_h: g.out_h,
            out_w: g.out_w,
            kernel_h: g.kernel_h,
            kernel_w: g.kernel_w,
            stride_h: g.stride_h,
            stride_w: g.stride_w,
            dilation_h: g.dilation_h,
            dilation_w: g.dilation_w,
            pad_top: g.pad_top,
            pad_left: g.pad_left,
        };
        let q = Channels { raw_bias: &c.raw_bias, multiplier: &c.multiplier, shift: &c.shift };
        let mut out = guarded(c.out_len(), poison);
        let z_in = g.zero_point as i32;
        model::dense_conv(
            &window,
            g.in_c,
            c.input.get(),
            z_in,
            &c.weights,
            &q,
            m.output,
            inner(&mut out),
            m.output_stride,
        );
        Some(out)
    }

    fn run(b: Backend, c: &ConvCase, poison: i8) -> Vec<i8> {
        let mut out = guarded(c.out_len(), poison);
        let mut scratch = vec![0x33; c.scratch * c.threads];
        on_forced(b, || {
            let (input, q) = (c.input.get(), c.quant());
            if c.threads == 1 {
                im2col::im2col_gemm(&c.p, input, &c.packed, &q, &mut scratch, inner(&mut out));
            } else {
                let par = Par::pool(pool(c.threads)).with_min_work(0);
                par::im2col_gemm(par, &c.p, input, &c.packed, &q, &mut scratch, inner(&mut out));
            }
        });
        out
    }

    fn locate(c: &ConvCase, i: usize) -> String {
        let (px, ch) = (i / c.p.gemm.output_stride, i % c.p.gemm.output_stride);
        format!("output pixel ({}, {}) channel {ch}", px / c.p.gather.out_w.max(1), px % c.p.gather.out_w.max(1))
    }

    fn edge_shapes() -> Vec<ConvParams> {
        let mut cases = Vec::new();
        let mut seed = 0;
        let mut next = || {
            seed += 1;
            seed
        };
        // First layers (1 to 5 channels), channel counts around the GEMM's blocks, every
        // usual kernel, stride and padding, bands from one pixel to the whole image.
        let layers =
            [(16, 16, 3, 32), (9, 7, 3, 8), (8, 8, 16, 24), (5, 6, 5, 17), (7, 7, 1, 1), (6, 5, 4, 33), (1, 1, 3, 16)];
        let kernels = [(3, 1), (3, 2), (5, 1), (1, 2), (7, 2), (1, 1), (2, 2)];
        for (h, w, c, m) in layers {
            for (k, s) in kernels {
                cases.push(ConvParams::new(h, w, c, m, k, s, next()));
            }
        }
        // Dilation, asymmetric and oversized padding, rectangular kernels and strides.
        for (kernel, stride, dilation, pad) in [
            ((3, 3), (1, 1), (2, 2), [2, 2, 2, 2]),
            ((3, 3), (2, 1), (1, 3), [0, 3, 1, 0]),
            ((3, 3), (2, 2), (1, 1), [0, 0, 1, 1]),
            ((1, 5), (1, 2), (1, 1), [0, 2, 0, 2]),
            ((5, 1), (3, 1), (1, 1), [4, 0, 4, 0]),
            ((3, 3), (1, 1), (1, 1), [3, 3, 3, 3]),
        ] {
            for (h, w, c, m) in [(9, 8, 3, 16), (6, 7, 8, 20)] {
                let p = ConvParams::new(h, w, c, m, 3, 1, next());
                cases.push(ConvParams { kernel, stride, dilation, pad, ..p });
            }
        }
        // Band widths around the 24-row quantum and the tiles, one gathered row up, on 1 to
        // 3 threads (each with its own share of the scratch).
        for rows in [1, 2, 5, 11, 12, 13, 23, 24, 25, 47, 48, 49] {
            for threads in [1, 2, 3] {
                let p = ConvParams::new(10, 9, 3, 20, 3, 1, next());
                cases.push(ConvParams { scratch: Scratch::Rows(rows), threads, ..p });
            }
        }
        cases
    }

    fn zero_point_extremes() -> Vec<ConvParams> {
        let mut cases = Vec::new();
        for z_in in ZERO_POINTS {
            for z_out in ZERO_POINTS {
                for values in [Values::Random, Values::Extreme, Values::ZeroPoint] {
                    let p = ConvParams::new(7, 6, 3, 20, 3, 1 + cases.len() % 2, 100 + cases.len() as u64);
                    let out = OutputQuant { zero_point: z_out, ..FULL };
                    cases.push(ConvParams { z_in, out, values, ..p });
                }
            }
        }
        cases
    }

    fn multiplier_extremes() -> Vec<ConvParams> {
        let mut cases = Vec::new();
        for (values, bias) in ACCUMULATORS {
            for (c, k) in [(3, 3), (64, 3)] {
                let p = ConvParams::new(4, 5, c, 80, k, 1, 200 + cases.len() as u64);
                cases.push(ConvParams { scales: Scales::Grid, values, bias, ..p });
            }
        }
        for (i, (m, s)) in grid().into_iter().chain(encodable_extremes()).enumerate() {
            for (j, (values, bias)) in FIXED_ACCUMULATORS.into_iter().enumerate() {
                let p = ConvParams::new(4, 4, 3, 17, 3, 1, 300 + 3 * i as u64 + j as u64);
                cases.push(ConvParams { scales: Scales::Fixed(m, s), values, bias, ..p });
            }
        }
        cases
    }

    fn clamps() -> Vec<ConvParams> {
        clamped_outputs()
            .into_iter()
            .enumerate()
            .map(|(i, out)| ConvParams { out, ..ConvParams::new(6, 5, 3, 20, 3, 1 + i % 2, 400 + i as u64) })
            .collect()
    }

    fn per_channel() -> Vec<ConvParams> {
        let mut cases = Vec::new();
        for scales in [Scales::AnyPerChannel, Scales::PerTensor, Scales::Typical] {
            for bias in [Bias::Typical, Bias::Wide, Bias::Edges] {
                for m in [17, 40, 130] {
                    let p = ConvParams::new(5, 6, 4, m, 3, 1, 500 + cases.len() as u64);
                    cases.push(ConvParams { scales, bias, ..p });
                }
            }
        }
        cases
    }

    fn random() -> BoxedStrategy<ConvParams> {
        let shape = (1usize..10, 1usize..10, 1usize..9, 1usize..40, 1usize..6, 1usize..6, 1usize..4, 1usize..3);
        let rest = ([0usize..4, 0usize..4, 0usize..4, 0usize..4], 0usize..4, 1usize..60, 1usize..=3);
        let quant = (any::<i8>(), any_output(), any_scales(), any_values(), any_bias(), any::<u64>());
        (shape, rest, quant)
            .prop_map(
                |(
                    (h, w, c, m, kh, kw, s, d),
                    (pad, out_pad, rows, threads),
                    (z_in, out, scales, values, bias, seed),
                )| {
                    ConvParams {
                        h,
                        w,
                        c,
                        m,
                        kernel: (kh, kw),
                        stride: (s, 1 + seed as usize % 2),
                        dilation: (d, 1),
                        pad,
                        out_pad,
                        z_in: z_in as i32,
                        out,
                        scales,
                        values,
                        bias,
                        scratch: Scratch::Rows(rows),
                        threads,
                        seed,
                    }
                },
            )
            .boxed()
    }
}
