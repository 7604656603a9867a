//! A dense convolution as im2col + GEMM equals the definition (`conv::conv2d`) byte for
//! byte on every backend: the first layer's 3 channels, 3x3 and 5x5, strides 1 and 2,
//! dilation 2, asymmetric padding, 1x1 with stride 2. The banded form (`im2col_gemm`)
//! equals it too, for every scratch size from one gathered row to the whole matrix and on
//! 1 to 3 threads, each with its own share of the scratch.

use qrt::conv::{conv2d, Conv2d};
use qrt::cpu::Backend;
use qrt::gemm::{bias_u8, gemm_on, pack, packed_len, Gemm, GemmQuant};
use qrt::im2col::{im2col, im2col_gemm, Im2col, Im2colGemm};
use qrt::par::{self, Par};
use qrt::requant::{ChannelQuant, OutputQuant, Requant};
use qrt::threads::Pool;

mod common;
use common::Rng;

/// A gather with a square kernel: `(kernel, stride, dilation)` the same both ways.
fn square(
    h: usize,
    w: usize,
    c: usize,
    (out_h, out_w): (usize, usize),
    (k, stride, dil): (usize, usize, usize),
    (pad_top, pad_left): (usize, usize),
    zero_point: i8,
) -> Im2col {
    Im2col {
        in_h: h,
        in_w: w,
        in_c: c,
        out_h,
        out_w,
        kernel_h: k,
        kernel_w: k,
        stride_h: stride,
        stride_w: stride,
        dilation_h: dil,
        dilation_w: dil,
        pad_top,
        pad_left,
        zero_point,
    }
}

#[allow(clippy::too_many_arguments)]
fn check(
    h: usize,
    w: usize,
    c: usize,
    m: usize,
    k: usize,
    stride: usize,
    dil: usize,
    pads: [usize; 4],
    zp: i32,
    seed: u64,
) {
    let mut rng = Rng::new(seed);
    let span = (k - 1) * dil + 1;
    if h + pads[0] + pads[2] < span || w + pads[1] + pads[3] < span {
        return;
    }
    let out_h = (h + pads[0] + pads[2] - span) / stride + 1;
    let out_w = (w + pads[1] + pads[3] - span) / stride + 1;
    let input: Vec<i8> = (0..h * w * c).map(|_| rng.next_u64() as i8).collect();
    let kk = k * k * c;
    let weights: Vec<i8> = (0..m * kk).map(|_| (rng.next_u64() as i8).max(-127)).collect();
    let bias: Vec<i32> = (0..m).map(|_| (rng.next_u64() % 40_000) as i32 - 20_000).collect();
    let rq: Vec<Requant> = (0..m).map(|i| Requant::from_f64([1e-3, 0.004, 0.03][i % 3]).unwrap()).collect();
    let multiplier: Vec<i32> = rq.iter().map(|r| r.multiplier).collect();
    let shift: Vec<i32> = rq.iter().map(|r| r.shift).collect();
    let out = OutputQuant { zero_point: -3, min: -128, max: 127 };
    let conv = Conv2d {
        in_h: h,
        in_w: w,
        in_c: c,
        out_h,
        out_w,
        out_c: m,
        kernel_h: k,
        kernel_w: k,
        stride_h: stride,
        stride_w: stride,
        dilation_h: dil,
        dilation_w: dil,
        pad_top: pads[0],
        pad_left: pads[1],
        groups: 1,
        input_zero_point: zp,
        output: out,
    };
    let mut expected = vec![0i8; out_h * out_w * m];
    conv2d(
        &conv,
        &input,
        &weights,
        &ChannelQuant { bias: &bias, multiplier: &multiplier, shift: &shift },
        &mut expected,
    );

    let g = square(h, w, c, (out_h, out_w), (k, stride, dil), (pads[0], pads[1]), zp as i8);
    let mut cols = vec![0i8; out_h * out_w * kk];
    im2col(&g, &input, &mut cols);
    let mut packed = vec![0i8; packed_len(kk, m)];
    pack(&weights, kk, m, &mut packed);
    let bu8: Vec<i32> = (0..m).map(|o| bias_u8(bias[o], &weights[o * kk..(o + 1) * kk])).collect();
    let q = GemmQuant { bias: &bias, bias_u8: &bu8, multiplier: &multiplier, shift: &shift };
    let p = Gemm { rows: out_h * out_w, k: kk, n: m, input_stride: kk, output_stride: m, output: out };
    for b in Backend::ALL.into_iter().filter(|b| b.available()) {
        let mut got = vec![0i8; expected.len()];
        gemm_on(b, &p, &cols, &packed, &q, &mut got);
        assert_eq!(got, expected, "{}: {h}x{w}x{c} -> {m}, k{k} s{stride} d{dil} pads {pads:?}", b.name());
    }

    // Banded, on the selected backend: bands of 1 pixel, of a few, of a number that does
    // not divide the pixels, of more than a row tile, and the whole matrix at once.
    // Rows in the scratch are whole groups of 4 apart; the bytes between hold what the
    // scratch held (0x55 here) or what the gather's wide copies left there, and must add
    // nothing.
    let banded = Im2colGemm { gather: g, gemm: p };
    let kp = kk.next_multiple_of(4);
    assert_eq!(banded.row_stride(), kp);
    let whole = banded.scratch_len(usize::MAX);
    assert_eq!(whole, (out_h * out_w * kp).max(kp));
    for pixels in [1, 2, 5, 25, 49, usize::MAX] {
        let scratch_len = banded.scratch_len(pixels.saturating_mul(kp));
        let what = format!("{h}x{w}x{c} -> {m}, k{k} s{stride} d{dil} pads {pads:?}, scratch {scratch_len}");
        let mut scratch = vec![0x55i8; scratch_len];
        let mut got = vec![0i8; expected.len()];
        im2col_gemm(&banded, &input, &packed, &q, &mut scratch, &mut got);
        assert_eq!(got, expected, "banded: {what}");
        for pool in pools() {
            let mut scratch = vec![0x55i8; scratch_len * pool.threads()];
            let mut got = vec![0i8; expected.len()];
            let par = Par::pool(pool).with_min_work(0);
            par::im2col_gemm(par, &banded, &input, &packed, &q, &mut scratch, &mut got);
            assert_eq!(got, expected, "banded on {} threads: {what}", pool.threads());
        }
    }
}

fn pools() -> &'static [Pool] {
    static POOLS: std::sync::OnceLock<Vec<Pool>> = std::sync::OnceLock::new();
    POOLS.get_or_init(|| [2, 3].into_iter().map(Pool::new).collect())
}

#[test]
fn bands_are_whole_row_tiles_and_fit_the_scratch() {
    let gather = Im2col {
        in_h: 56,
        in_w: 56,
        in_c: 64,
        out_h: 56,
        out_w: 56,
        kernel_h: 3,
        kernel_w: 3,
        stride_h: 1,
        stride_w: 1,
        dilation_h: 1,
        dilation_w: 1,
        pad_top: 1,
        pad_left: 1,
        zero_point: 0,
    };
    let out = OutputQuant { zero_point: 0, min: -128, max: 127 };
    let gemm = Gemm { rows: 56 * 56, k: 576, n: 64, input_stride: 576, output_stride: 64, output: out };
    let p = Im2colGemm { gather, gemm };
    assert_eq!(p.min_scratch(), 576);
    assert_eq!(p.band_pixels(576), 1);
    assert_eq!(p.band_pixels(2 * 576 - 1), 1);
    assert_eq!(p.band_pixels(24 * 576), 24);
    // Past one tile quantum (24 rows) bands are whole multiples of it.
    assert_eq!(p.band_pixels(47 * 576), 24);
    assert_eq!(p.band_pixels(48 * 576), 48);
    assert_eq!(p.scratch_len(0), 576);
    assert_eq!(p.scratch_len(usize::MAX), 56 * 56 * 576);
    // 96 KiB holds 170 rows of 576 bytes: the default band is 168 pixels.
    assert_eq!(p.default_scratch(), 96 * 1024);
    assert_eq!(p.band_pixels(p.default_scratch()), 168);
    // Rows of 4,608 bytes (3x3 over 512 channels) get 96 pixels, 442,368 bytes.
    let deep = Im2colGemm {
        gather: Im2col { in_c: 512, ..gather },
        gemm: Gemm { k: 4608, input_stride: 4608, n: 512, output_stride: 512, ..gemm },
    };
    assert_eq!(deep.default_scratch(), 96 * 4608);
    assert_eq!(deep.band_pixels(deep.default_scratch()), 96);
    // A scratch that holds every pixel makes one band, whatever the quantum.
    let small = Im2colGemm {
        gather: Im2col { in_h: 7, in_w: 7, out_h: 7, out_w: 7, ..deep.gather },
        gemm: Gemm { rows: 49, ..deep.gemm },
    };
    assert_eq!(small.band_pixels(49 * 4608), 49);
    assert_eq!(small.band_pixels(usize::MAX), 49);
    assert_eq!(small.band_pixels(48 * 4608), 48);
}

#[test]
fn dense_convolutions_through_im2col() {
    let mut seed = 0;
    for (h, w, c, m) in [(16, 16, 3, 32), (9, 7, 3, 8), (8, 8, 16, 24), (5, 6, 5, 17), (7, 7, 64, 64)] {
        for (k, stride, dil, pads) in [
            (3, 2, 1, [1, 1, 1, 1]),
            (3, 1, 1, [1, 1, 1, 1]),
            (3, 2, 1, [0, 0, 1, 1]),
            (5, 1, 1, [2, 2, 2, 2]),
            (3, 1, 2, [2, 2, 2, 2]),
            (1, 2, 1, [0, 0, 0, 0]),
            (7, 2, 1, [3, 3, 3, 3]),
        ] {
            for zp in [-128, 0, 100] {
                seed += 1;
                check(h, w, c, m, k, stride, dil, pads, zp, seed);
            }
        }
    }
}

/// The window of pixel `(oy, ox)`, tap by tap: the definition [`qrt::im2col::gather`]
/// must match.
fn window(g: &Im2col, input: &[i8], oy: usize, ox: usize) -> Vec<i8> {
    let mut taps = Vec::with_capacity(g.row_len());
    for ky in 0..g.kernel_h {
        for kx in 0..g.kernel_w {
            let iy = (oy * g.stride_h + ky * g.dilation_h) as isize - g.pad_top as isize;
            let ix = (ox * g.stride_w + kx * g.dilation_w) as isize - g.pad_left as isize;
            let inside = (0..g.in_h as isize).contains(&iy) && (0..g.in_w as isize).contains(&ix);
            for c in 0..g.in_c {
                taps.push(if inside { input[(iy as usize * g.in_w + ix as usize) * g.in_c + c] } else { g.zero_point });
            }
        }
    }
    taps
}

#[test]
fn gathered_windows_equal_the_taps_for_every_band() {
    // Kernel rows of 9, 15, 16 and 21 bytes (moved as 16- and 32-byte blocks inside the
    // input) and of 64 (moved kernel row by kernel row), bands that start and end anywhere.
    let mut rng = Rng::new(77);
    for (h, w, c, k, stride, pad) in [
        (16, 16, 3, 3, 2, 1),
        (9, 7, 3, 5, 1, 2),
        (6, 6, 16, 1, 1, 0),
        (12, 13, 3, 7, 2, 3),
        (5, 5, 64, 3, 1, 1),
        (4, 20, 3, 3, 1, 0),
    ] {
        let (out_h, out_w) = common::out_size(h, w, k, stride, pad);
        let g = square(h, w, c, (out_h, out_w), (k, stride, 1), (pad, pad), -7);
        let input: Vec<i8> = (0..h * w * c).map(|_| rng.next_u64() as i8).collect();
        let len = g.row_len();
        let pixels = out_h * out_w;
        for band in [1, 2, 3, 7, out_w, out_w + 1, pixels] {
            let mut first = 0;
            while first < pixels {
                let count = band.min(pixels - first);
                let mut got = vec![0x55i8; count * len];
                qrt::im2col::gather(&g, &input, first, &mut got);
                for (i, row) in got.chunks_exact(len).enumerate() {
                    let (oy, ox) = ((first + i) / out_w, (first + i) % out_w);
                    assert_eq!(
                        row,
                        window(&g, &input, oy, ox),
                        "{h}x{w}x{c} k{k} s{stride}: pixel {} of band {band}",
                        first + i
                    );
                }
                first += count;
            }
        }
    }
}
