//! The depthwise convolution on every backend this machine runs equals the definition
//! (`conv::conv2d` with groups = channels) byte for byte: 3x3 and 5x5, stride 1 and 2,
//! every padding, channel counts around the 16-wide block, zero points and clamps.
//!
//! Below the first tests, the edges of the SIMD kernels: one-pixel-wide inputs, every
//! channel count through the 16- and 64-channel blocks' tails, odd sizes with stride 2,
//! asymmetric and oversized padding, the general path (other kernels and strides),
//! requantization edges (multipliers of 1 and more, zero multipliers, wrapping
//! accumulators, inverted clamps), constants outside the SIMD paths' range (which fall
//! back to the definition), and a proptest over all of it.

use proptest::prelude::*;
use qrt::conv::{conv2d, Conv2d};
use qrt::cpu::Backend;
use qrt::depthwise::{depthwise_on, pack, packed_len, Depthwise};
use qrt::requant::{ChannelQuant, OutputQuant, Requant};

mod common;
use common::Rng;

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
    let mut rng = Rng::new(seed);
    let (pt, pl, pb, pr) = pad;
    if h + pt + pb < k || w + pl + pr < k {
        return;
    }
    let out_h = (h + pt + pb - k) / stride + 1;
    let out_w = (w + pl + pr - k) / stride + 1;
    let input = rng.activations(h * w * c);
    let weights: Vec<i8> = rng.activations(c * k * k).into_iter().map(|v| v.max(-127)).collect();
    let bias: Vec<i32> = (0..c).map(|_| (rng.next_u64() % 20_000) as i32 - 10_000).collect();
    let rq: Vec<Requant> = (0..c)
        .map(|i| {
            Requant::from_f64([2e-3, 0.01, 0.07, 0.4][i % 4] * (1.0 + (rng.next_u64() % 100) as f64 / 100.0)).unwrap()
        })
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

// ---- Edges of the SIMD kernels. ----

/// Kernel, stride and padding (top, left, bottom, right) of one layer.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    h: usize,
    w: usize,
    c: usize,
    kh: usize,
    kw: usize,
    sh: usize,
    sw: usize,
    pad: (usize, usize, usize, usize),
}

impl Geometry {
    fn square(h: usize, w: usize, c: usize, k: usize, stride: usize, pad: (usize, usize, usize, usize)) -> Geometry {
        Geometry { h, w, c, kh: k, kw: k, sh: stride, sw: stride, pad }
    }
}

/// How the per-channel requantization constants are drawn.
#[derive(Clone, Copy, Debug)]
enum Scales {
    /// Real multipliers of trained layers, `[2e-3, 1.6)` (shifts 31 and up, some 30).
    Typical,
    /// Multipliers from 0.5 to `2^29` (shifts 31 down to 1): the accumulator clamp.
    Large,
    /// Each channel one of: zero multiplier, typical, large.
    Mixed,
    /// Below 1/4 (every shift 33 and up), some zero: the SIMD paths' high-dword form.
    Small,
}

/// Inputs and weights: uniform, or all at the extremes (largest accumulators).
#[derive(Clone, Copy, Debug)]
enum Values {
    Random,
    Extreme,
}

struct Params {
    zp_in: i32,
    out: OutputQuant,
    scales: Scales,
    values: Values,
    /// Bias drawn over the whole i32 range (accumulators wrap) instead of `±10_000`.
    wide_bias: bool,
}

const TYPICAL: Params =
    Params { zp_in: -3, out: FULL, scales: Scales::Typical, values: Values::Random, wide_bias: false };

fn requant(rng: &mut Rng, scales: Scales, c: usize) -> Requant {
    let unit = (rng.next_u64() % 1000) as f64 / 1000.0;
    let typical = 2e-3 * 800f64.powf(unit);
    let large = 0.5 * 2f64.powf(29.0 * unit);
    let real = match scales {
        Scales::Typical => typical,
        Scales::Large => large,
        Scales::Mixed => [1e-12, typical, large][c % 3],
        Scales::Small => [1e-12, typical / 7.0, 0.2 * unit, 1e-9 * (1.0 + unit)][c % 4],
    };
    Requant::from_f64(real).unwrap()
}

/// Compares every backend with `conv2d` on one layer; `q` overrides the drawn constants.
fn check_layer(g: Geometry, prm: &Params, seed: u64, q_override: Option<(&[i32], &[i32], &[i32])>) {
    let mut rng = Rng::new(seed);
    let (pt, pl, pb, pr) = g.pad;
    if g.h + pt + pb < g.kh || g.w + pl + pr < g.kw {
        return;
    }
    let out_h = (g.h + pt + pb - g.kh) / g.sh + 1;
    let out_w = (g.w + pl + pr - g.kw) / g.sw + 1;
    let c = g.c;
    let (input, weights) = match prm.values {
        Values::Random => (
            rng.activations(g.h * g.w * c),
            rng.activations(c * g.kh * g.kw).into_iter().map(|v| v.max(-127)).collect(),
        ),
        Values::Extreme => (
            (0..g.h * g.w * c)
                .map(|i| if rng.next_u64().is_multiple_of(8) { 127 } else { -128 + (i % 2) as i8 })
                .collect(),
            (0..c * g.kh * g.kw)
                .map(|i| if (i / (g.kh * g.kw)).is_multiple_of(2) { 127 } else { -127 })
                .collect::<Vec<i8>>(),
        ),
    };
    let bias: Vec<i32> = (0..c)
        .map(|_| if prm.wide_bias { rng.next_u64() as i32 } else { (rng.next_u64() % 20_000) as i32 - 10_000 })
        .collect();
    let rq: Vec<Requant> = (0..c).map(|i| requant(&mut rng, prm.scales, i)).collect();
    let multiplier: Vec<i32> = rq.iter().map(|r| r.multiplier).collect();
    let shift: Vec<i32> = rq.iter().map(|r| r.shift).collect();
    let q = match q_override {
        Some((bias, multiplier, shift)) => ChannelQuant { bias, multiplier, shift },
        None => ChannelQuant { bias: &bias, multiplier: &multiplier, shift: &shift },
    };
    let conv = Conv2d {
        in_h: g.h,
        in_w: g.w,
        in_c: c,
        out_h,
        out_w,
        out_c: c,
        kernel_h: g.kh,
        kernel_w: g.kw,
        stride_h: g.sh,
        stride_w: g.sw,
        dilation_h: 1,
        dilation_w: 1,
        pad_top: pt,
        pad_left: pl,
        groups: c,
        input_zero_point: prm.zp_in,
        output: prm.out,
    };
    let mut expected = vec![0i8; out_h * out_w * c];
    conv2d(&conv, &input, &weights, &q, &mut expected);
    let mut packed = vec![0i8; packed_len(g.kh, g.kw, c)];
    pack(&weights, g.kh, g.kw, c, &mut packed);
    let p = Depthwise {
        in_h: g.h,
        in_w: g.w,
        channels: c,
        out_h,
        out_w,
        kernel_h: g.kh,
        kernel_w: g.kw,
        stride_h: g.sh,
        stride_w: g.sw,
        pad_top: pt,
        pad_left: pl,
        input_zero_point: prm.zp_in,
        output: prm.out,
    };
    for b in Backend::ALL.into_iter().filter(|b| b.available()) {
        // A poisoned output shows any byte a backend forgets to write.
        for poison in [0x55, -0x56] {
            let mut got = vec![poison; expected.len()];
            depthwise_on(b, &p, &input, &packed, &q, &mut got);
            if let Some(i) = (0..got.len()).find(|&i| got[i] != expected[i]) {
                let (pixel, ch) = (i / c, i % c);
                panic!(
                    "{}: {g:?} zp {} {:?} {:?} {:?}: output pixel ({}, {}) channel {ch}: got {} expected {}",
                    b.name(),
                    prm.zp_in,
                    prm.out,
                    prm.scales,
                    prm.values,
                    pixel / out_w,
                    pixel % out_w,
                    got[i],
                    expected[i]
                );
            }
        }
    }
}

#[test]
fn simd_backends_are_under_test() {
    // Without `std`, qrt cannot detect the CPU and every comparison here would be scalar
    // against scalar. Run these tests with `--features std`.
    #[cfg(target_arch = "x86_64")]
    {
        assert_eq!(
            Backend::Avx2.available(),
            std::is_x86_feature_detected!("avx2"),
            "the AVX2 backend is not under test: build qrt's tests with `--features std`"
        );
        let avx512 = ["avx512f", "avx512bw", "avx512vl", "avx512vnni"];
        let has_avx512 = std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512vl")
            && std::is_x86_feature_detected!("avx512vnni");
        assert_eq!(
            Backend::Avx512Vnni.available(),
            has_avx512,
            "{avx512:?} backend not under test: use `--features std`"
        );
        assert_eq!(
            Backend::AvxVnni.available(),
            std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("avxvnni"),
            "the AVX-VNNI backend (AVX2 depthwise kernels) is not under test: use `--features std`"
        );
    }
}

#[test]
fn one_pixel_wide_or_tall() {
    let mut seed = 1000;
    for (h, w) in [(1, 1), (1, 9), (9, 1), (1, 2), (2, 1), (5, 1), (1, 5)] {
        for (k, stride, pad) in [
            (3, 1, (1, 1, 1, 1)),
            (3, 2, (1, 1, 1, 1)),
            (3, 1, (0, 1, 2, 1)),
            (5, 1, (2, 2, 2, 2)),
            (5, 2, (2, 2, 2, 2)),
            (5, 1, (4, 4, 4, 4)),
        ] {
            for c in [1, 7, 16, 33, 64, 80] {
                seed += 1;
                check_layer(Geometry::square(h, w, c, k, stride, pad), &TYPICAL, seed, None);
            }
        }
    }
}

#[test]
fn every_channel_count_through_both_block_tails() {
    for c in 1..=70 {
        for (k, stride) in [(3, 1), (3, 2), (5, 1)] {
            let pad = (k / 2, k / 2, k / 2, k / 2);
            check_layer(Geometry::square(6, 5, c, k, stride, pad), &TYPICAL, 2000 + c as u64 * 7 + k as u64, None);
        }
        check_layer(Geometry::square(4, 4, c, 2, 1, (0, 0, 1, 1)), &TYPICAL, 2500 + c as u64, None);
    }
    for c in [127, 128, 129, 191, 192, 193, 255, 960] {
        check_layer(Geometry::square(5, 6, c, 3, 1, (1, 1, 1, 1)), &TYPICAL, 2600 + c as u64, None);
        check_layer(Geometry::square(7, 5, c, 3, 2, (1, 1, 1, 1)), &TYPICAL, 2700 + c as u64, None);
    }
}

#[test]
fn pixel_pairs_at_every_width() {
    // The AVX-512 kernels put two pixels of 17 to 32 channels in one vector with stride 1:
    // every output width (odd ones end with a single pixel), borders of every width, and
    // the channel counts at both ends of that range.
    let mut seed = 2800;
    for c in [17, 24, 31, 32] {
        for w in 1..=9 {
            for (k, pad) in
                [(3, (1, 1, 1, 1)), (3, (0, 2, 2, 0)), (5, (2, 2, 2, 2)), (5, (1, 3, 0, 4)), (3, (0, 0, 0, 0))]
            {
                seed += 1;
                check_layer(Geometry::square(3, w, c, k, 1, pad), &TYPICAL, seed, None);
            }
        }
        // Rows of other strides keep the pairs.
        let g = Geometry { h: 9, w: 8, c, kh: 3, kw: 3, sh: 2, sw: 1, pad: (1, 1, 1, 1) };
        check_layer(g, &TYPICAL, seed + 100, None);
    }
}

#[test]
fn stride_2_with_odd_sizes() {
    let mut seed = 3000;
    for h in [3, 5, 7, 9, 13] {
        for w in [3, 5, 11, 15] {
            for (k, pad) in [
                (3, (1, 1, 1, 1)),
                (3, (0, 0, 1, 1)),
                (3, (1, 1, 0, 0)),
                (3, (0, 1, 1, 0)),
                (5, (2, 2, 2, 2)),
                (5, (1, 2, 2, 1)),
            ] {
                seed += 1;
                check_layer(Geometry::square(h, w, 24, k, 2, pad), &TYPICAL, seed, None);
            }
        }
    }
}

#[test]
fn every_asymmetric_padding() {
    let mut seed = 4000;
    for k in [3, 5] {
        for stride in [1, 2] {
            for pt in 0..k {
                for pl in 0..k {
                    for pb in [0, k - 1] {
                        for pr in [0, 1, k - 1] {
                            seed += 1;
                            check_layer(Geometry::square(6, 7, 20, k, stride, (pt, pl, pb, pr)), &TYPICAL, seed, None);
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn padding_wider_than_the_kernel() {
    // Whole output rows and columns read nothing but the zero point.
    for (k, stride) in [(3, 1), (3, 2), (5, 1), (5, 2), (2, 1)] {
        for pad in [(3, 0, 0, 3), (4, 5, 6, 7), (0, 6, 5, 0)] {
            check_layer(Geometry::square(4, 5, 40, k, stride, pad), &TYPICAL, 5000 + k as u64, None);
        }
    }
}

#[test]
fn other_kernels_and_strides_take_the_general_path() {
    let mut seed = 6000;
    for (kh, kw) in [(1, 1), (2, 2), (1, 3), (3, 1), (3, 5), (5, 3), (4, 4), (7, 7), (9, 2)] {
        for (sh, sw) in [(1, 1), (2, 2), (1, 2), (2, 1), (3, 3)] {
            for c in [5, 16, 70] {
                seed += 1;
                let pad = (kh / 2, kw / 2, kh / 2, (kw - 1) / 2);
                let g = Geometry { h: 9, w: 8, c, kh, kw, sh, sw, pad };
                check_layer(g, &TYPICAL, seed, None);
            }
        }
    }
    // 3x3 and 5x5 with other horizontal strides or different vertical strides.
    for (k, sh, sw) in [(3, 1, 3), (3, 3, 1), (3, 2, 1), (3, 1, 2), (5, 3, 2), (5, 1, 4)] {
        let g = Geometry { h: 11, w: 10, c: 36, kh: k, kw: k, sh, sw, pad: (1, 1, 1, 1) };
        check_layer(g, &TYPICAL, 6500 + sh as u64 * 10 + sw as u64, None);
    }
}

#[test]
fn requantization_edges() {
    let mut seed = 7000;
    let clamps = [
        FULL,
        OutputQuant { zero_point: -128, min: -128, max: 127 },
        OutputQuant { zero_point: 127, min: -128, max: 127 },
        OutputQuant { zero_point: -20, min: -20, max: 60 },
        OutputQuant { zero_point: 5, min: 30, max: -30 },
    ];
    for scales in [Scales::Typical, Scales::Large, Scales::Mixed, Scales::Small] {
        for values in [Values::Random, Values::Extreme] {
            for wide_bias in [false, true] {
                for (i, out) in clamps.into_iter().enumerate() {
                    seed += 1;
                    let zp_in = [-128, 127, 0, -1, 64][i];
                    let prm = Params { zp_in, out, scales, values, wide_bias };
                    check_layer(Geometry::square(6, 7, 37, 3, 1, (1, 1, 1, 1)), &prm, seed, None);
                    check_layer(Geometry::square(7, 6, 70, 5, 2, (2, 2, 2, 2)), &prm, seed, None);
                    check_layer(Geometry::square(5, 5, 19, 2, 1, (1, 0, 0, 1)), &prm, seed, None);
                }
            }
        }
    }
}

#[test]
fn accumulators_at_the_clamp_boundaries() {
    // For shifts up to 30 the SIMD paths clamp the accumulator to `±2^s` first: biases
    // around those bounds put accumulators on both sides of them. With the smallest
    // multiplier the SIMD paths take (256) and the largest output zero point, a clamp
    // bound off by one would show: `r(1 - 2^s)` is then `-128`, and `-128 + 127` is no
    // longer saturated.
    let c = 48;
    let top = OutputQuant { zero_point: 127, min: -128, max: 127 };
    for (s, out) in [1, 2, 8, 17, 30, 31, 32, 40, 62].into_iter().flat_map(|s| [(s, FULL), (s, top)]) {
        for m in [0, 256, 1 << 20, 1 << 30, i32::MAX] {
            for offset in [-70_000i64, -1, 0, 1, 70_000] {
                let base = if s <= 30 { 1i64 << s } else { 1i64 << 30 };
                let bias: Vec<i32> = (0..c)
                    .map(|i| {
                        (if i % 2 == 0 { base } else { -base } + offset + i as i64)
                            .clamp(i32::MIN as i64, i32::MAX as i64) as i32
                    })
                    .collect();
                let multiplier = vec![m; c];
                let shift = vec![s; c];
                let prm = Params { zp_in: 0, out, scales: Scales::Typical, values: Values::Random, wide_bias: false };
                let g = Geometry::square(3, 4, c, 3, 1, (1, 1, 1, 1));
                check_layer(g, &prm, 7500 + s as u64, Some((&bias, &multiplier, &shift)));
            }
        }
    }
}

#[test]
fn constants_outside_the_simd_range_fall_back_to_the_definition() {
    let c = 20;
    let bias = vec![1000; c];
    let g = Geometry::square(5, 5, c, 3, 1, (1, 1, 1, 1));
    // Small multipliers with small shifts, a negative multiplier with shift 31, shifts 0
    // and 63 are outside what the SIMD paths take; the definition handles them.
    for (m, s) in [(100, 5), (255, 30), (-(1 << 30), 31)] {
        let (multiplier, shift) = (vec![m; c], vec![s; c]);
        check_layer(g, &TYPICAL, 8000, Some((&bias, &multiplier, &shift)));
    }
    // Zero points outside int8.
    for (zp_in, zp_out) in [(200, 0), (0, 300), (-1000, -200)] {
        let prm = Params {
            zp_in,
            out: OutputQuant { zero_point: zp_out, min: -128, max: 127 },
            scales: Scales::Typical,
            values: Values::Random,
            wide_bias: false,
        };
        check_layer(g, &prm, 8100, None);
    }
}

fn scales() -> impl Strategy<Value = Scales> {
    prop_oneof![Just(Scales::Typical), Just(Scales::Large), Just(Scales::Mixed), Just(Scales::Small)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn random_layers_of_any_shape(
        h in 1usize..10, w in 1usize..12, c in 1usize..140,
        kh in prop::sample::select(vec![1usize, 2, 3, 3, 3, 5, 5, 7]), square in any::<bool>(), kw_other in 1usize..6,
        sh in 1usize..4, sw in prop::sample::select(vec![1usize, 1, 2, 2, 3]),
        pt in 0usize..6, pl in 0usize..6, pb in 0usize..6, pr in 0usize..6,
        zp_in in any::<i8>(), zp_out in any::<i8>(), min in any::<i8>(), max in any::<i8>(),
        scales in scales(), extreme in any::<bool>(), wide_bias in any::<bool>(), seed: u64,
    ) {
        let kw = if square { kh } else { kw_other };
        let g = Geometry { h, w, c, kh, kw, sh, sw, pad: (pt, pl, pb, pr) };
        let values = if extreme { Values::Extreme } else { Values::Random };
        let out = OutputQuant { zero_point: zp_out as i32, min, max };
        check_layer(g, &Params { zp_in: zp_in as i32, out, scales, values, wide_bias }, seed, None);
    }
}
