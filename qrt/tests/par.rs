//! Splitting a layer over threads never changes its bytes: GEMM, depthwise, quantize (by
//! elements and by rows of planes), the input's layout change, add and max pool on 2, 3 and 4 threads (every layer split, however small) against one
//! thread, over shapes whose bands start and end in the padding, with equal bands and
//! with bands sized for threads of very different speeds.

use qrt::depthwise::{self, Depthwise};
use qrt::gemm::{self, Gemm, GemmQuant};
use qrt::par::{self, Par};
use qrt::requant::{ChannelQuant, OutputQuant, Requant};
use qrt::threads::Pool;

mod common;
use common::Rng;

fn quant(n: usize) -> (Vec<i32>, Vec<i32>, Vec<i32>) {
    let r = Requant::from_f64(0.003).expect("multiplier");
    ((0..n as i32).map(|c| c * 37 - 500).collect(), vec![r.multiplier; n], vec![r.shift; n])
}

/// Pools of 2, 3 and 4 threads of equal weights, and pools whose workers are weighted as
/// much slower or faster than the caller (so bands are far from equal), with a name.
fn pools() -> Vec<(String, Pool)> {
    let mut pools: Vec<(String, Pool)> =
        [2, 3, 4].into_iter().map(|t| (format!("threads {t}"), Pool::new(t))).collect();
    for weights in [&[1.0, 0.25][..], &[1.0, 4.0], &[1.0, 4.0, 0.3], &[1.0, 0.5, 0.25, 3.0]] {
        let pool = Pool::new(weights.len());
        pool.set_weights(weights);
        pools.push((format!("weights {weights:?}"), pool));
    }
    pools
}

const OUT: OutputQuant = OutputQuant { zero_point: 3, min: -128, max: 127 };

#[test]
fn gemm_bands_match_one_thread() {
    let mut rng = Rng::new(5);
    for (name, pool) in pools() {
        let par = Par::pool(&pool).with_min_work(0);
        for (rows, k, n, extra) in [
            (1, 8, 16, 0),
            (1, 5, 17, 0),
            (1, 33, 100, 0),
            (1, 64, 1000, 0),
            (1, 7, 48, 0),
            (2, 5, 3, 1),
            (7, 33, 20, 2),
            (100, 64, 48, 0),
            (13, 16, 16, 3),
        ] {
            let p = Gemm { rows, k, n, input_stride: k + extra, output_stride: n + extra, output: OUT };
            let input = rng.activations((rows - 1) * p.input_stride + k);
            let w: Vec<i8> = rng.activations(k * n).into_iter().map(|v| v.max(-127)).collect();
            let mut packed = vec![0; gemm::packed_len(k, n)];
            gemm::pack(&w, k, n, &mut packed);
            let (bias, m, s) = quant(n);
            let bu8: Vec<i32> = (0..n).map(|c| gemm::bias_u8(bias[c], &w[c * k..(c + 1) * k])).collect();
            let q = GemmQuant { bias: &bias, bias_u8: &bu8, multiplier: &m, shift: &s };
            let len = (rows - 1) * p.output_stride + n;
            let (mut one, mut many) = (vec![0x11; len], vec![0x11; len]);
            gemm::gemm(&p, &input, &packed, &q, &mut one);
            par::gemm(par, &p, &input, &packed, &q, &mut many);
            assert_eq!(one, many, "{name} rows {rows} k {k} n {n}");
        }
    }
}

#[test]
fn depthwise_bands_match_one_thread() {
    let mut rng = Rng::new(9);
    for (name, pool) in pools() {
        let par = Par::pool(&pool).with_min_work(0);
        for (h, w, c, k, stride, pad) in [
            (2, 3, 5, 3, 1, 1),
            (7, 7, 16, 3, 2, 1),
            (9, 4, 3, 5, 1, 2),
            (13, 11, 24, 3, 2, 0),
            (5, 5, 8, 5, 2, 2),
            (16, 16, 32, 3, 1, 1),
        ] {
            let (out_h, out_w) = common::out_size(h, w, k, stride, pad);
            let input = rng.activations(h * w * c);
            let wts: Vec<i8> = rng.activations(c * k * k).into_iter().map(|v| v.max(-127)).collect();
            let mut packed = vec![0; depthwise::packed_len(k, k, c)];
            depthwise::pack(&wts, k, k, c, &mut packed);
            let (bias, m, s) = quant(c);
            let q = ChannelQuant { bias: &bias, multiplier: &m, shift: &s };
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
                pad_top: pad,
                pad_left: pad,
                input_zero_point: -7,
                output: OUT,
            };
            let (mut one, mut many) = (vec![0; out_h * out_w * c], vec![0; out_h * out_w * c]);
            depthwise::depthwise(&p, &input, &packed, &q, &mut one);
            par::depthwise(par, &p, &input, &packed, &q, &mut many);
            assert_eq!(one, many, "depthwise {name}: {h}x{w}x{c} k{k} s{stride} p{pad}");
        }
    }
}

#[test]
fn quantize_ranges_match_one_thread() {
    let mut rng = Rng::new(13);
    for (name, pool) in pools() {
        let par = Par::pool(&pool).with_min_work(0);
        // Lengths around the 4096-element ranges: one short range, exact multiples, a tail.
        for len in [0, 1, 4095, 4096, 4097, 8192, 3 * 224 * 224] {
            let input: Vec<f32> = (0..len).map(|_| (rng.unit() * 6.0 - 3.0) as f32).collect();
            let (mut one, mut many) = (vec![0x11; len], vec![0x22; len]);
            qrt::quant::quantize(0.021, -5, &input, &mut one);
            par::quantize(par, 0.021, -5, &input, &mut many);
            assert_eq!(one, many, "{name} len {len}");
        }
    }
}

#[test]
fn quantize_planes_and_nchw_to_nhwc_bands_match_one_thread() {
    let mut rng = Rng::new(19);
    for (name, pool) in pools() {
        let par = Par::pool(&pool).with_min_work(0);
        // An image of 1, 3 or 4 channels, 5 channels (more planes than the split takes: the
        // element ranges), a single row, and rows that leave a tail band.
        for (c, h, w) in [(3, 224, 224), (1, 7, 5), (4, 9, 3), (5, 6, 4), (3, 1, 17), (3, 2, 1), (2, 13, 11)] {
            let len = c * h * w;
            let input: Vec<f32> = (0..len).map(|_| (rng.unit() * 6.0 - 3.0) as f32).collect();
            let (mut one, mut many) = (vec![0x11; len], vec![0x22; len]);
            qrt::quant::quantize(0.021, -5, &input, &mut one);
            par::quantize_planes(par, c, w, 0.021, -5, &input, &mut many);
            assert_eq!(one, many, "quantize {name}: {c}x{h}x{w}");
            let (mut one_nhwc, mut many_nhwc) = (vec![0x11; len], vec![0x22; len]);
            qrt::layout::nchw_to_nhwc(c, h, w, &one, &mut one_nhwc);
            par::nchw_to_nhwc(par, c, h, w, &one, &mut many_nhwc);
            assert_eq!(one_nhwc, many_nhwc, "nchw_to_nhwc {name}: {c}x{h}x{w}");
        }
    }
}

#[test]
fn add_ranges_match_one_thread() {
    let mut rng = Rng::new(17);
    let (m_a, m_b, shift) = qrt::add::encode_pair(0.7, 1.3).expect("encodable");
    for (name, pool) in pools() {
        let par = Par::pool(&pool).with_min_work(0);
        for len in [0, 1, 4095, 4096, 4097, 8192, 56 * 56 * 24] {
            let p = qrt::add::Add {
                len,
                a_zero_point: -7,
                a_multiplier: m_a,
                b_zero_point: 11,
                b_multiplier: m_b,
                shift,
                output: OUT,
            };
            let (a, b) = (rng.activations(len), rng.activations(len));
            let (mut one, mut many) = (vec![0x11; len], vec![0x22; len]);
            qrt::add::add(&p, &a, &b, &mut one);
            par::add(par, &p, &a, &b, &mut many);
            assert_eq!(one, many, "{name} len {len}");
        }
    }
}

#[test]
fn max_pool_bands_match_one_thread() {
    let mut rng = Rng::new(17);
    for (name, pool) in pools() {
        let par = Par::pool(&pool).with_min_work(0);
        // (in, channels, kernel, stride, pad top/left, pad bottom/right): bands starting in
        // the top padding, windows reaching past the input, channel blocks and tails.
        for (h, w, c, k, s, pad, pad_end) in [
            (112, 9, 64, 3, 2, 1, 1),
            (9, 9, 70, 3, 2, 1, 1),
            (8, 5, 3, 2, 2, 0, 0),
            (7, 7, 130, 3, 1, 1, 1),
            (5, 6, 16, 3, 3, 2, 2),
            (3, 4, 8, 2, 1, 1, 1),
        ] {
            let (out_h, out_w) = ((h + pad + pad_end - k) / s + 1, (w + pad + pad_end - k) / s + 1);
            let p = qrt::pool::Pool2d {
                in_h: h,
                in_w: w,
                channels: c,
                out_h,
                out_w,
                kernel_h: k,
                kernel_w: k,
                stride_h: s,
                stride_w: s,
                pad_top: pad,
                pad_left: pad,
                pad_bottom: pad_end,
                pad_right: pad_end,
                count_include_pad: false,
                zero_point: 0,
            };
            let input = rng.activations(h * w * c);
            let (mut one, mut many) = (vec![0x11; out_h * out_w * c], vec![0x22; out_h * out_w * c]);
            qrt::pool::max_pool(&p, &input, &mut one);
            par::max_pool(par, &p, &input, &mut many);
            assert_eq!(one, many, "{name} {p:?}");
        }
    }
}
