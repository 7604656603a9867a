//! `qs8_dwconv{3x3,5x5}s{1,2}` and `qs8_dwconv`: [`qrt::depthwise::depthwise_on`]. The x86
//! and NEON backends have their own code for 3x3 and 5x5 kernels with stride 1 and 2
//! (AVX-512: 64-channel blocks, two pixels per vector for 17 to 32 channels at stride 1;
//! AVX2: 16-channel blocks; NEON: tap tables for the interior and the borders), so each is a
//! kernel of its own here; `qs8_dwconv` is every other kernel and stride (the general
//! paths). Against `depthwise_scalar` and the i128 model.

use proptest::prelude::*;
use qrt::cpu::Backend;
use qrt::depthwise::{self, Depthwise};
use qrt::requant::{ChannelQuant, OutputQuant};

use super::model::{self, Channels, Window};
use super::params::*;
use super::{guarded, inner, Kernel, Placed};
use crate::common::Rng;

/// `(kernel_h, kernel_w, stride_h, stride_w)`.
pub type Shape = (usize, usize, usize, usize);

/// One depthwise case; `pad` is `[top, left, bottom, right]`.
#[derive(Clone, Debug)]
pub struct DwParams {
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub shape: Shape,
    pub pad: [usize; 4],
    /// Output rows and columns left out at the bottom and right (the kernel takes the output
    /// size as given, so it may be smaller than the padded input allows).
    pub crop: [usize; 2],
    pub z_in: i32,
    pub out: OutputQuant,
    pub scales: Scales,
    pub values: Values,
    pub bias: Bias,
    pub seed: u64,
}

impl DwParams {
    pub fn new(h: usize, w: usize, c: usize, shape: Shape, pad: [usize; 4], seed: u64) -> DwParams {
        DwParams {
            h,
            w,
            c,
            shape,
            pad,
            crop: [0, 0],
            z_in: 5,
            out: OutputQuant { zero_point: -2, ..FULL },
            scales: Scales::Typical,
            values: Values::Random,
            bias: Bias::Typical,
            seed,
        }
    }

    /// Output rows and columns (0 when the padded input is smaller than the kernel).
    fn out_size(&self) -> (usize, usize) {
        let (kh, kw, sh, sw) = self.shape;
        let size = |len: usize, k: usize, s: usize| if len < k { 0 } else { (len - k) / s + 1 };
        let out_h = size(self.h + self.pad[0] + self.pad[2], kh, sh);
        let out_w = size(self.w + self.pad[1] + self.pad[3], kw, sw);
        (out_h.saturating_sub(self.crop[0]), out_w.saturating_sub(self.crop[1]))
    }
}

pub struct DwCase {
    p: Depthwise,
    input: Placed<i8>,
    weights: Vec<i8>,
    packed: Vec<i8>,
    bias: Vec<i32>,
    raw_bias: Vec<i32>,
    multiplier: Vec<i32>,
    shift: Vec<i32>,
}

impl DwCase {
    fn quant(&self) -> ChannelQuant<'_> {
        ChannelQuant { bias: &self.bias, multiplier: &self.multiplier, shift: &self.shift }
    }

    fn out_len(&self) -> usize {
        self.p.out_h * self.p.out_w * self.p.channels
    }
}

fn build(d: &DwParams) -> DwCase {
    let mut rng = Rng::new(d.seed);
    let (kh, kw, sh, sw) = d.shape;
    let (out_h, out_w) = d.out_size();
    let p = Depthwise {
        in_h: d.h,
        in_w: d.w,
        channels: d.c,
        out_h,
        out_w,
        kernel_h: kh,
        kernel_w: kw,
        stride_h: sh,
        stride_w: sw,
        pad_top: d.pad[0],
        pad_left: d.pad[1],
        input_zero_point: d.z_in,
        output: d.out,
    };
    let input = d.values.activations(&mut rng, d.h * d.w * d.c, d.z_in);
    let weights = d.values.weights(&mut rng, d.c, kh * kw);
    let (multiplier, shift) = requants(&mut rng, d.scales, d.c);
    let raw_bias = raw_bias(&mut rng, d.bias, &multiplier, &shift);
    let bias = fold(&raw_bias, d.z_in, &weights);
    let mut packed = vec![0; depthwise::packed_len(kh, kw, d.c)];
    depthwise::pack(&weights, kh, kw, d.c, &mut packed);
    let at = (d.seed % 53) as usize;
    DwCase { p, input: Placed::new(input, at), weights, packed, bias, raw_bias, multiplier, shift }
}

/// The tests every depthwise entry shares, over its kernel shapes.
trait DwShapes {
    const SHAPES: &'static [Shape];
}

/// The 3x3 or 5x5 kernel with stride `S` in both directions.
pub struct Dwconv<const K: usize, const S: usize>;

impl<const K: usize, const S: usize> DwShapes for Dwconv<K, S> {
    const SHAPES: &'static [Shape] = &[(K, K, S, S)];
}

/// Every other kernel and stride: the general paths.
pub struct DwconvOther;

impl DwShapes for DwconvOther {
    const SHAPES: &'static [Shape] = &[
        (1, 1, 1, 1),
        (2, 2, 1, 1),
        (2, 2, 2, 2),
        (1, 3, 1, 1),
        (3, 1, 2, 2),
        (3, 5, 1, 1),
        (5, 3, 2, 1),
        (4, 4, 1, 1),
        (7, 7, 2, 2),
        (9, 9, 1, 1),
        (1, 65, 1, 1),
        (3, 3, 1, 2),
        (3, 3, 2, 1),
        (3, 3, 3, 3),
        (3, 3, 1, 3),
        (5, 5, 1, 2),
        (5, 5, 3, 2),
        (5, 5, 1, 4),
    ];
}

/// Paddings for a kernel `k` high and wide: `same`, none, one side only, `k - 1` and `k`
/// (windows wholly in the padding) on every side, and lopsided.
fn paddings(kh: usize, kw: usize) -> [[usize; 4]; 7] {
    let (h2, w2) = (kh / 2, kw / 2);
    [
        [h2, w2, h2, w2],
        [0, 0, 0, 0],
        [h2, w2, 0, 0],
        [0, 0, h2, w2],
        [kh - 1, kw - 1, kh - 1, kw - 1],
        [kh, kw, kh, kw],
        [0, kw - 1, 1, 0],
    ]
}

/// Paddings of one side for a kernel `k` long: none, 1, half, `k - 1` and `k`.
fn pad_sizes(k: usize) -> Vec<usize> {
    let mut sizes = vec![0, 1, k / 2, k - 1, k];
    sizes.sort();
    sizes.dedup();
    sizes
}

const CHANNELS: [usize; 28] =
    [1, 2, 3, 4, 7, 8, 9, 15, 16, 17, 23, 24, 31, 32, 33, 47, 48, 63, 64, 65, 80, 96, 127, 128, 129, 144, 192, 193];
const SIZES: [(usize, usize); 14] =
    [(1, 1), (1, 2), (2, 1), (1, 9), (9, 1), (2, 3), (3, 3), (4, 4), (5, 7), (7, 5), (8, 8), (9, 9), (6, 16), (3, 17)];

fn edge_shapes(shapes: &[Shape]) -> Vec<DwParams> {
    let mut cases = Vec::new();
    let mut seed = 0;
    let mut next = || {
        seed += 1;
        seed
    };
    // Every channel count through the 16- and 64-channel blocks' tails, at every size from
    // one pixel up, with every kind of padding.
    for (i, c) in CHANNELS.into_iter().enumerate() {
        for (j, (h, w)) in SIZES.into_iter().enumerate() {
            let shape = shapes[(i + j) % shapes.len()];
            let pads = paddings(shape.0, shape.1);
            cases.push(DwParams::new(h, w, c, shape, pads[(i + 3 * j) % pads.len()], next()));
        }
    }
    for &shape in shapes {
        let (kh, kw, sh, sw) = shape;
        // Every padding on each side, from none to the kernel's size.
        for pt in pad_sizes(kh) {
            for pl in pad_sizes(kw) {
                for (pb, pr) in [(0, 0), (kh - 1, 1), (1, kw - 1), (kh, kw)] {
                    cases.push(DwParams::new(6, 7, 20, shape, [pt, pl, pb, pr], next()));
                }
            }
        }
        // AVX-512 puts two pixels of 17 to 32 channels in a vector for 3x3 and 5x5 kernels
        // at horizontal stride 1: every output width, odd ones ending with a single pixel.
        if sw == 1 && [3, 5].contains(&kh) && kh == kw {
            for c in [17, 20, 24, 31, 32] {
                for w in 1..=9 {
                    let pads = [[kh / 2, kw / 2, kh / 2, kw / 2], [0, kw - 1, kh - 1, 0]];
                    cases.push(DwParams::new(3, w, c, shape, pads[w % 2], next()));
                }
            }
        }
        // Odd and even sizes with stride 2.
        if sh == 2 || sw == 2 {
            for (h, w) in [(3, 3), (5, 11), (7, 15), (13, 5), (10, 12)] {
                cases.push(DwParams::new(h, w, 24, shape, [kh / 2, kw / 2, kh / 2, kw / 2], next()));
                cases.push(DwParams::new(h, w, 40, shape, [0, 0, kh / 2, kw / 2], next()));
            }
        }
        // Every channel count through both blocks' tails, on a small layer.
        for c in 1..=70 {
            cases.push(DwParams::new(4, 5, c, shape, [kh / 2, kw / 2, kh / 2, kw / 2], next()));
        }
        // Padding wider than the kernel: whole rows and columns of windows in the padding.
        for pad in [[kh + 1, 0, 0, kw + 2], [2 * kh, kw + 3, kh + 4, 2 * kw], [0, 2 * kw, kh + 1, 0]] {
            cases.push(DwParams::new(4, 5, 40, shape, pad, next()));
        }
        // Outputs smaller than the padded input allows: the last input rows and columns,
        // or the right padding, unread.
        for crop in [[0, 1], [1, 0], [2, 3], [0, 4], [3, 5]] {
            for (h, w, c) in [(7, 10, 24), (6, 9, 20), (6, 8, 64), (5, 11, 7)] {
                let p = DwParams::new(h, w, c, shape, [kh / 2, kw / 2, kh / 2, kw / 2], next());
                cases.push(DwParams { crop, ..p });
            }
        }
        // Wide layers, and no channels at all.
        for c in [255, 256, 257, 960, 0] {
            cases.push(DwParams::new(5, 6, c, shape, [kh / 2, kw / 2, kh / 2, kw / 2], next()));
        }
    }
    cases
}

/// Two layers of each shape: a `same`-padded one and a lopsided one, 37 and 70 channels.
fn layers(shapes: &[Shape], seed: u64) -> Vec<DwParams> {
    shapes
        .iter()
        .flat_map(|&shape| {
            let (kh, kw, _, _) = shape;
            [
                DwParams::new(6, 7, 37, shape, [kh / 2, kw / 2, kh / 2, kw / 2], seed),
                DwParams::new(7, 6, 70, shape, [kh - 1, 0, 0, kw / 2], seed + 1),
            ]
        })
        .collect()
}

fn zero_point_extremes(shapes: &[Shape]) -> Vec<DwParams> {
    let mut cases = Vec::new();
    for z_in in ZERO_POINTS {
        for z_out in ZERO_POINTS {
            for values in [Values::Random, Values::Extreme, Values::ZeroPoint] {
                let seed = (cases.len() as u64 + 1) * 7;
                for p in layers(&[shapes[cases.len() / 2 % shapes.len()]], seed) {
                    cases.push(DwParams { z_in, out: OutputQuant { zero_point: z_out, ..FULL }, values, ..p });
                }
            }
        }
    }
    cases
}

fn multiplier_extremes(shapes: &[Shape]) -> Vec<DwParams> {
    let mut cases = Vec::new();
    for (values, bias) in ACCUMULATORS {
        for &shape in shapes {
            let (kh, kw, _, _) = shape;
            let seed = cases.len() as u64 + 100;
            let p = DwParams::new(5, 6, 80, shape, [kh / 2, kw / 2, kh / 2, kw / 2], seed);
            cases.push(DwParams { scales: Scales::Grid, values, bias, ..p });
        }
    }
    // Each pair alone in every channel, so that whole SIMD blocks take the same form.
    for (i, (m, s)) in grid().into_iter().chain(encodable_extremes()).enumerate() {
        for (j, (values, bias)) in FIXED_ACCUMULATORS.into_iter().enumerate() {
            let shape = shapes[(i + j) % shapes.len()];
            let pad = [shape.0 / 2, shape.1 / 2, shape.0 / 2, shape.1 / 2];
            let p = DwParams::new(4, 5, 33, shape, pad, 200 + 3 * i as u64 + j as u64);
            cases.push(DwParams { scales: Scales::Fixed(m, s), values, bias, ..p });
        }
    }
    cases
}

fn clamps(shapes: &[Shape]) -> Vec<DwParams> {
    let mut cases = Vec::new();
    for (i, out) in clamped_outputs().into_iter().enumerate() {
        for p in layers(&[shapes[i % shapes.len()]], 300 + 2 * i as u64) {
            cases.push(DwParams { out, ..p });
        }
    }
    cases
}

fn per_channel(shapes: &[Shape]) -> Vec<DwParams> {
    let mut cases = Vec::new();
    for scales in [Scales::AnyPerChannel, Scales::PerTensor, Scales::Typical, Scales::Small] {
        for bias in [Bias::Typical, Bias::Wide, Bias::Edges] {
            for c in [17, 33, 70, 130] {
                let seed = 400 + cases.len() as u64;
                let shape = shapes[cases.len() % shapes.len()];
                let p = DwParams::new(5, 5, c, shape, [shape.0 / 2, shape.1 / 2, shape.0 / 2, shape.1 / 2], seed);
                cases.push(DwParams { scales, bias, ..p });
            }
        }
    }
    cases
}

fn random(shapes: &'static [Shape]) -> BoxedStrategy<DwParams> {
    let shape = (1usize..12, 1usize..12, 0usize..100, 0..shapes.len(), [0usize..6, 0usize..6, 0usize..6, 0usize..6]);
    let quant = (any::<i8>(), any_output(), any_scales(), any_values(), any_bias(), any::<u64>());
    (shape, quant)
        .prop_map(move |((h, w, c, s, pad), (z_in, out, scales, values, bias, seed))| {
            let shape = shapes[s];
            // Padding up to the kernel's size on each side.
            let pad = [pad[0] % (shape.0 + 1), pad[1] % (shape.1 + 1), pad[2] % (shape.0 + 1), pad[3] % (shape.1 + 1)];
            let crop = [(seed % 7) as usize / 5, (seed % 11) as usize / 8];
            DwParams { h, w, c, shape, pad, crop, z_in: z_in as i32, out, scales, values, bias, seed }
        })
        .boxed()
}

impl<T: DwShapes> Kernel for T {
    type Params = DwParams;
    type Case = DwCase;
    const RANDOM_CASES: u32 = 48;

    fn build(p: &DwParams) -> DwCase {
        build(p)
    }

    fn definition(c: &DwCase, poison: i8) -> Vec<i8> {
        let mut out = guarded(c.out_len(), poison);
        depthwise::depthwise_scalar(&c.p, c.input.get(), &c.packed, &c.quant(), inner(&mut out));
        out
    }

    fn reference(c: &DwCase, poison: i8) -> Option<Vec<i8>> {
        let p = &c.p;
        let g = Window {
            in_h: p.in_h,
            in_w: p.in_w,
            out_h: p.out_h,
            out_w: p.out_w,
            kernel_h: p.kernel_h,
            kernel_w: p.kernel_w,
            stride_h: p.stride_h,
            stride_w: p.stride_w,
            dilation_h: 1,
            dilation_w: 1,
            pad_top: p.pad_top,
            pad_left: p.pad_left,
        };
        let q = Channels { raw_bias: &c.raw_bias, multiplier: &c.multiplier, shift: &c.shift };
        let mut out = guarded(c.out_len(), poison);
        model::depthwise(&g, c.input.get(), p.input_zero_point, &c.weights, &q, p.output, inner(&mut out));
        Some(out)
    }

    fn run(b: Backend, c: &DwCase, poison: i8) -> Vec<i8> {
        let mut out = guarded(c.out_len(), poison);
        depthwise::depthwise_on(b, &c.p, c.input.get(), &c.packed, &c.quant(), inner(&mut out));
        out
    }

    fn locate(c: &DwCase, i: usize) -> String {
        let (pixel, ch) = (i / c.p.channels, i % c.p.channels);
        format!("output pixel ({}, {}) channel {ch}", pixel / c.p.out_w, pixel % c.p.out_w)
    }

    fn edge_shapes() -> Vec<DwParams> {
        edge_shapes(T::SHAPES)
    }

    fn zero_point_extremes() -> Vec<DwParams> {
        zero_point_extremes(T::SHAPES)
    }

    fn multiplier_extremes() -> Vec<DwParams> {
        multiplier_extremes(T::SHAPES)
    }

    fn clamps() -> Vec<DwParams> {
        clamps(T::SHAPES)
    }

    fn per_channel() -> Vec<DwParams> {
        per_channel(T::SHAPES)
    }

    fn random() -> BoxedStrategy<DwParams> {
        random(T::SHAPES)
    }
}
