//! `qs8_gemm`: [`qrt::gemm::gemm_on`], the int8 GEMM of pointwise convs and fully
//! connected layers (AVX2 6-row tiles over 64-channel chunks and 512-byte reduction chunks;
//! AVX-512 VNNI tiles of 1 to 12 rows over panels of 1 to 8 blocks of 16 channels; AMX
//! tiles of 16 rows by 16 channels in groups of up to 2 x 2; NEON 2-row and `sdot` 4-row
//! tiles), against `gemm_scalar` and the i128 model.

use proptest::prelude::*;
use qrt::cpu::Backend;
use qrt::gemm::{self, Gemm, GemmQuant};
use qrt::requant::OutputQuant;

use super::model::{self, Channels};
use super::params::*;
use super::{guarded, inner, strided_len, Kernel, Placed};
use crate::common::Rng;

/// One GEMM case.
#[derive(Clone, Debug)]
pub struct GemmParams {
    pub rows: usize,
    pub k: usize,
    pub n: usize,
    /// Bytes between input rows beyond `k`, and between output rows beyond `n`.
    pub in_pad: usize,
    pub out_pad: usize,
    /// The input zero point, folded into the bias as the compiler does.
    pub z_in: i32,
    pub out: OutputQuant,
    pub scales: Scales,
    pub values: Values,
    pub bias: Bias,
    pub seed: u64,
}

impl GemmParams {
    /// Typical constants; the seed also varies the strides and the input's alignment.
    pub fn new(rows: usize, k: usize, n: usize, seed: u64) -> GemmParams {
        GemmParams {
            rows,
            k,
            n,
            in_pad: [0, 0, 1, 3, 16][seed as usize % 5],
            out_pad: [0, 2, 0, 16][seed as usize % 4],
            z_in: -3,
            out: OutputQuant { zero_point: 4, ..FULL },
            scales: Scales::Typical,
            values: Values::Random,
            bias: Bias::Typical,
            seed,
        }
    }
}

pub struct GemmCase {
    p: Gemm,
    input: Placed<i8>,
    weights: Vec<i8>,
    packed: Vec<i8>,
    bias: Vec<i32>,
    bias_u8: Vec<i32>,
    raw_bias: Vec<i32>,
    multiplier: Vec<i32>,
    shift: Vec<i32>,
    z_in: i32,
}

impl GemmCase {
    fn quant(&self) -> GemmQuant<'_> {
        GemmQuant { bias: &self.bias, bias_u8: &self.bias_u8, multiplier: &self.multiplier, shift: &self.shift }
    }

    fn out_len(&self) -> usize {
        strided_len(self.p.rows, self.p.output_stride, self.p.n)
    }
}

pub struct QsGemm;

impl Kernel for QsGemm {
    type Params = GemmParams;
    type Case = GemmCase;
    const RANDOM_CASES: u32 = 64;

    fn build(p: &GemmParams) -> GemmCase {
        let mut rng = Rng::new(p.seed);
        let g = Gemm {
            rows: p.rows,
            k: p.k,
            n: p.n,
            input_stride: p.k + p.in_pad,
            output_stride: p.n + p.out_pad,
            output: p.out,
        };
        let input = p.values.activations(&mut rng, strided_len(p.rows, g.input_stride, p.k), p.z_in);
        let weights = p.values.weights(&mut rng, p.n, p.k);
        let (multiplier, shift) = requants(&mut rng, p.scales, p.n);
        let raw_bias = raw_bias(&mut rng, p.bias, &multiplier, &shift);
        let bias = fold(&raw_bias, p.z_in, &weights);
        let bias_u8 = (0..p.n).map(|c| gemm::bias_u8(bias[c], &weights[c * p.k..(c + 1) * p.k])).collect();
        let mut packed = vec![0; gemm::packed_len(p.k, p.n)];
        gemm::pack(&weights, p.k, p.n, &mut packed);
        let at = (p.seed % 61) as usize;
        GemmCase {
            p: g,
            input: Placed::new(input, at),
            weights,
            packed,
            bias,
            bias_u8,
            raw_bias,
            multiplier,
            shift,
            z_in: p.z_in,
        }
    }

    fn definition(c: &GemmCase, poison: i8) -> Vec<i8> {
        let mut out = guarded(c.out_len(), poison);
        gemm::gemm_scalar(&c.p, c.input.get(), &c.packed, &c.quant(), inner(&mut out));
        out
    }

    fn reference(c: &GemmCase, poison: i8) -> Option<Vec<i8>> {
        let mut out = guarded(c.out_len(), poison);
        let q = Channels { raw_bias: &c.raw_bias, multiplier: &c.multiplier, shift: &c.shift };
        let g = &c.p;
        model::gemm(
            g.rows,
            g.k,
            c.input.get(),
            g.input_stride,
            c.z_in,
            &c.weights,
            &q,
            g.output,
            inner(&mut out),
            g.output_stride,
        );
        Some(out)
    }

    fn run(b: Backend, c: &GemmCase, poison: i8) -> Vec<i8> {
        let mut out = guarded(c.out_len(), poison);
        gemm::gemm_on(b, &c.p, c.input.get(), &c.packed, &c.quant(), inner(&mut out));
        out
    }

    fn locate(c: &GemmCase, i: usize) -> String {
        let (r, col) = (i / c.p.output_stride, i % c.p.output_stride);
        if col < c.p.n {
            format!("row {r} channel {col}")
        } else {
            format!("the gap after row {r} (byte {})", col - c.p.n)
        }
    }

    fn edge_shapes() -> Vec<GemmParams> {
        let mut cases = Vec::new();
        let mut seed = 0;
        let mut next = || {
            seed += 1;
            seed
        };
        // Every row count of the x86 tiles (AVX-512: 1 to 12 rows, 8-row and 6-row tiles;
        // AVX2: 6) and past them, against channel counts around the 16-wide block, the
        // 64-channel AVX2 chunk and the AVX-512 panels (5, 6, 7, 9, 13 blocks split as
        // 3+2, 3+3, 4+3, 3+3+3, ...; 8 blocks and more with 1 or 2 rows).
        let rows = (1..=13).chain([16, 17, 24, 25]);
        let ns = [1, 2, 8, 15, 16, 17, 31, 32, 33, 48, 63, 64, 65, 80, 96, 112, 127, 128, 129, 144, 160, 208, 257];
        let ks = [1, 3, 4, 5, 8, 17, 33];
        for r in rows {
            for n in ns {
                let s = next();
                cases.push(GemmParams::new(r, ks[s as usize % ks.len()], n, s));
            }
        }
        // Every reduction tail of the 4-wide group and the 16-byte NEON chunk, and the AVX2
        // 512-byte reduction chunk's boundaries.
        let ks = (0..=40).chain([47, 48, 49, 63, 64, 65, 127, 128, 129, 511, 512, 513, 1023, 1024, 1025, 2048]);
        for k in ks {
            for (r, n) in [(1, 1), (3, 17), (6, 16), (7, 33), (12, 64), (13, 129), (2, 130)] {
                cases.push(GemmParams::new(r, k, n, next()));
            }
        }
        // The AMX tiles: 16-row tiles in pairs and alone, the rows after them in a short
        // tile (or, too few for one, on the VNNI kernels: 21 rows of 256 leave 5, 22 leave
        // 6), short tiles alone (4 to 13 rows), blocks in pairs and alone (a last one cut
        // short), reductions of 48 (all of it in the padded last part) and 64, tails of 4
        // to 60 inputs, past 1024; and a reduction that is not a multiple of 4 (VNNI only).
        for (r, k, n) in [
            (4, 576, 40),
            (8, 160, 33),
            (13, 64, 17),
            (12, 1028, 48),
            (21, 256, 32),
            (22, 256, 32),
            (3, 1024, 16),
            (16, 48, 16),
            (32, 64, 32),
            (48, 68, 48),
            (49, 124, 40),
            (17, 128, 33),
            (33, 132, 70),
            (64, 1028, 24),
            (31, 130, 64),
            (16, 52, 1),
            (80, 192, 97),
        ] {
            cases.push(GemmParams::new(r, k, n, next()));
        }
        // Nothing to compute: no rows, no channels.
        for (r, k, n) in [(0, 5, 16), (0, 0, 0), (3, 7, 0), (0, 9, 0)] {
            cases.push(GemmParams::new(r, k, n, next()));
        }
        // A fully connected layer's one row over wide outputs (8-block panels, 2 rows too).
        for (r, k, n) in [(1, 1280, 1000), (2, 1283, 130), (1, 64, 1001), (2, 3, 1024)] {
            cases.push(GemmParams::new(r, k, n, next()));
        }
        cases
    }

    fn zero_point_extremes() -> Vec<GemmParams> {
        let mut cases = Vec::new();
        let mut seed = 1000;
        for z_in in ZERO_POINTS {
            for z_out in ZERO_POINTS {
                for values in [Values::Random, Values::Extreme, Values::ZeroPoint] {
                    for (r, k, n) in [(5, 37, 35), (13, 64, 16), (1, 300, 70), (17, 96, 24)] {
                        seed += 1;
                        let out = OutputQuant { zero_point: z_out, ..FULL };
                        cases.push(GemmParams { z_in, out, values, ..GemmParams::new(r, k, n, seed) });
                    }
                }
            }
        }
        cases
    }

    fn multiplier_extremes() -> Vec<GemmParams> {
        let mut cases = Vec::new();
        let mut seed = 2000;
        // Every (multiplier, shift) of the grid side by side (80 channels), with
        // accumulators from small to ±2^25 (K = 2048, extreme values) and at exact ties.
        for (values, bias) in ACCUMULATORS {
            for (r, k) in [(1, 1), (5, 64), (12, 2048), (13, 33), (32, 2048), (16, 68), (7, 1024)] {
                seed += 1;
                cases.push(GemmParams { scales: Scales::Grid, values, bias, ..GemmParams::new(r, k, 80, seed) });
            }
        }
        // Short reductions on and off the folded form (off where `|z| * 2^(s - 32)` reaches
        // 2^29: shifts of 59 and 62 here): the AVX-512 row-by-row loop leaves a column group
        // with such a block to the tiles.
        for s in [33, 45, 59, 62] {
            for z in [4, 100, -128] {
                seed += 1;
                let out = OutputQuant { zero_point: z, ..FULL };
                cases.push(GemmParams { scales: Scales::Fixed(1 << 30, s), out, ..GemmParams::new(70, 24, 300, seed) });
            }
        }
        // Each pair alone in every channel, so that whole SIMD blocks take the same form.
        let pairs = grid().into_iter().chain(encodable_extremes());
        for (m, s) in pairs {
            for (values, bias) in FIXED_ACCUMULATORS {
                seed += 1;
                cases.push(GemmParams {
                    scales: Scales::Fixed(m, s),
                    values,
                    bias,
                    ..GemmParams::new(7, 45, 35, seed)
                });
            }
        }
        cases
    }

    fn clamps() -> Vec<GemmParams> {
        let mut cases = Vec::new();
        let mut seed = 3000;
        for out in clamped_outputs() {
            for (r, k, n) in [(7, 37, 35), (2, 20, 130)] {
                seed += 1;
                cases.push(GemmParams { out, ..GemmParams::new(r, k, n, seed) });
            }
            for (r, k, n) in [(7, 16, 48), (10, 32, 64), (33, 64, 48)] {
                seed += 1;
                cases.push(GemmParams { out, scales: Scales::Small, ..GemmParams::new(r, k, n, seed) });
            }
        }
        cases
    }

    fn per_channel() -> Vec<GemmParams> {
        let mut cases = Vec::new();
        let mut seed = 4000;
        // With `Small` scales whole blocks take the x86 fast form, and short reductions
        // (16 to 32 inputs) the AVX-512 row-by-row loop: every group count, panels of 1
        // to 4 blocks, a last block cut short, rows left over after steps of 2 and 4.
        for scales in [Scales::AnyPerChannel, Scales::PerTensor, Scales::Typical, Scales::Small] {
            for bias in [Bias::Typical, Bias::Wide, Bias::Edges, Bias::InRange] {
                for (r, k, n) in [
                    (3, 24, 17),
                    (8, 40, 33),
                    (12, 16, 70),
                    (1, 100, 130),
                    (6, 513, 64),
                    (5, 20, 96),
                    (13, 28, 144),
                    (50, 32, 48),
                    (4, 16, 16),
                    (9, 12, 64),
                    (7, 24, 64),
                    (6, 20, 50),
                    (5, 32, 16),
                    (11, 28, 40),
                    // The row-by-row loop's blocks of 128 rows (a last one of 44, and one
                    // row past a block), its column groups of 16 blocks (19 as 16 + 3),
                    // and 7 or 8 groups in panels of 3 (12 blocks) or 2 + 2.
                    (300, 20, 48),
                    (129, 16, 20),
                    (70, 24, 300),
                    (9, 32, 192),
                    (6, 28, 64),
                    // AVX-512's pairs of rows for 17 to 24 channels: one tile of 8 pairs, a
                    // row left over, a reduction's tail inside a 64-byte unit, the longest
                    // reduction, tiles evened out (25 pairs as 7 + 6 + 6 + 6).
                    (16, 64, 24),
                    (17, 100, 17),
                    (50, 144, 24),
                    (33, 512, 20),
                    (200, 96, 23),
                ] {
                    seed += 1;
                    cases.push(GemmParams { scales, bias, ..GemmParams::new(r, k, n, seed) });
                }
            }
        }
        cases
    }

    fn random() -> BoxedStrategy<GemmParams> {
        let shape = (0usize..30, 0usize..300, 0usize..150, 0usize..5, 0usize..5);
        let quant = (any::<i8>(), any_output(), any_scales(), any_values(), any_bias(), any::<u64>());
        (shape, quant)
            .prop_map(|((rows, k, n, in_pad, out_pad), (z_in, out, scales, values, bias, seed))| GemmParams {
                rows,
                k,
                n,
                in_pad,
                out_pad,
                z_in: z_in as i32,
                out,
                scales,
                values,
                bias,
                seed,
            })
            .boxed()
    }
}
