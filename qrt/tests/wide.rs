//! The kernels compiled once per vector width (`wide.rs`: dequantize, layout changes,
//! pooling; quantize is in the kernel registry) return on every backend this CPU runs
//! exactly the bytes of the scalar backend, on random shapes including one-element and
//! odd ones. The scalar copies themselves are checked against independent references in
//! `pool.rs`, `layout.rs` and `quant.rs`.

mod common;

use common::Rng;
use proptest::prelude::*;
use qrt::cpu::Backend;
use qrt::pool::{GlobalAveragePool, Pool2d};
use qrt::Requant;

fn backends() -> impl Iterator<Item = Backend> {
    Backend::ALL.into_iter().filter(|b| b.available() && *b != Backend::Scalar)
}

/// Runs `f` on every backend and asserts each output equals the scalar one.
fn same_on_every_backend<T: PartialEq + std::fmt::Debug + Clone>(
    what: &str,
    init: Vec<T>,
    f: impl Fn(Backend, &mut [T]),
) {
    let mut want = init.clone();
    f(Backend::Scalar, &mut want);
    for b in backends() {
        let mut got = init.clone();
        f(b, &mut got);
        assert_eq!(got, want, "{what} on {}", b.name());
    }
}

fn pool_shape(rng: &mut Rng) -> Pool2d {
    let kernel_h = rng.range(1, 4) as usize;
    let kernel_w = rng.range(1, 4) as usize;
    let (stride_h, stride_w) = (rng.range(1, 3) as usize, rng.range(1, 3) as usize);
    let pad = |rng: &mut Rng, k: usize| rng.range(0, k as i64 - 1) as usize;
    let (pad_top, pad_bottom, pad_left, pad_right) =
        (pad(rng, kernel_h), pad(rng, kernel_h), pad(rng, kernel_w), pad(rng, kernel_w));
    let in_h = rng.range(kernel_h.saturating_sub(pad_top + pad_bottom).max(1) as i64, 12) as usize;
    let in_w = rng.range(kernel_w.saturating_sub(pad_left + pad_right).max(1) as i64, 12) as usize;
    Pool2d {
        in_h,
        in_w,
        channels: [1, 3, 8, 15, 16, 17, 31, 32, 33, 64, 65, 130][rng.range(0, 11) as usize],
        out_h: (in_h + pad_top + pad_bottom - kernel_h) / stride_h + 1,
        out_w: (in_w + pad_left + pad_right - kernel_w) / stride_w + 1,
        kernel_h,
        kernel_w,
        stride_h,
        stride_w,
        pad_top,
        pad_left,
        pad_bottom,
        pad_right,
        count_include_pad: rng.range(0, 1) == 1,
        zero_point: rng.range(-128, 127) as i32,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn pools_match_scalar(seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        let p = pool_shape(&mut rng);
        let input = rng.i8s(p.in_h * p.in_w * p.channels, -128, 127);
        let out = vec![0x55i8; p.out_h * p.out_w * p.channels];
        same_on_every_backend(&format!("max_pool {p:?}"), out.clone(), |b, o| qrt::pool::max_pool_on(b, &p, &input, o));
        same_on_every_backend(&format!("average_pool {p:?}"), out, |b, o| qrt::pool::average_pool_on(b, &p, &input, o));
    }

    #[test]
    fn global_average_pool_matches_scalar(seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        let (pixels, channels) = (rng.range(1, 60) as usize, rng.range(1, 200) as usize);
        let real = (0.5 + rng.unit()) / pixels as f64 * [1.0, 0.01, 30.0][rng.range(0, 2) as usize];
        let p = GlobalAveragePool {
            pixels,
            channels,
            in_zero_point: rng.range(-128, 127) as i32,
            requant: Requant::from_f64(real).expect("multiplier in range"),
            out_zero_point: rng.range(-128, 127) as i32,
        };
        let input = rng.i8s(pixels * channels, -128, 127);
        same_on_every_backend(&format!("{p:?}"), vec![0x55i8; channels], |b, o| {
            qrt::pool::global_average_pool_on(b, &p, &input, o)
        });
    }

    #[test]
    fn layouts_match_scalar(seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        let c = [1, 2, 3, 4, 5, 15, 16, 17, 33, 64][rng.range(0, 9) as usize];
        let (h, w) = (rng.range(1, 9) as usize, rng.range(1, 40) as usize);
        let input = rng.i8s(c * h * w, -128, 127);
        let out = vec![0x55i8; c * h * w];
        same_on_every_backend("nchw_to_nhwc", out.clone(), |b, o| qrt::layout::nchw_to_nhwc_on(b, c, h, w, &input, o));
        same_on_every_backend("nhwc_to_nchw", out, |b, o| qrt::layout::nhwc_to_nchw_on(b, c, h, w, &input, o));
        // A band of rows equals the same rows of the whole.
        let first = rng.range(0, h as i64 - 1) as usize;
        let rows = rng.range(1, (h - first) as i64) as usize;
        let mut whole = vec![0i8; c * h * w];
        qrt::layout::nchw_to_nhwc(c, h, w, &input, &mut whole);
        let mut band = vec![0x55i8; rows * w * c];
        qrt::layout::nchw_to_nhwc_rows_on(Backend::Scalar, c, h, w, first, &input, &mut band);
        prop_assert_eq!(&band[..], &whole[first * w * c..(first + rows) * w * c]);
        same_on_every_backend("nchw_to_nhwc_rows", band, |b, o| qrt::layout::nchw_to_nhwc_rows_on(b, c, h, w, first, &input, o));
    }

    #[test]
    fn dequantize_matches_scalar(seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        let len = rng.range(0, 300) as usize;
        let scale = (rng.unit() * 0.2) as f32 + f32::MIN_POSITIVE;
        let zero_point = rng.range(-128, 127) as i32;
        let input = rng.i8s(len, -128, 127);
        // Compared as bits: the same float operations give the same bits.
        same_on_every_backend("dequantize", vec![0u32; len], |b, o| {
            let mut f = vec![0f32; len];
            qrt::quant::dequantize_on(b, scale, zero_point, &input, &mut f);
            o.iter_mut().zip(&f).for_each(|(o, f)| *o = f.to_bits());
        });
    }
}
