//! Conv: the im2col + sgemm reference against a naive direct convolution in f64 over a
//! table of shapes, plus `resolved_pads`, shape inference and its error messages.

use qforge::ir::{Array, AttrValue, Attrs};
use qforge::ops::conv::{AutoPad, Conv};
use qforge::ops::{Clamp, InputInfo, Op};

mod common;
use common::{attrs, ints};

/// A small deterministic generator (xorshift) of values in [-1, 1).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    fn array(&mut self, shape: &[usize]) -> Array {
        let n = shape.iter().product();
        Array::new(shape.to_vec(), (0..n).map(|_| self.next()).collect())
    }
}

/// One row of the table.
#[derive(Clone, Debug)]
struct Case {
    n: usize,
    c: usize,
    hw: [usize; 2],
    m: usize,
    group: usize,
    k: [usize; 2],
    strides: [usize; 2],
    dilations: [usize; 2],
    pads: [usize; 4],
    auto_pad: &'static str,
    bias: bool,
}

impl Case {
    fn new(c: usize, hw: [usize; 2], m: usize, k: usize) -> Self {
        Case {
            n: 1,
            c,
            hw,
            m,
            group: 1,
            k: [k, k],
            strides: [1, 1],
            dilations: [1, 1],
            pads: [0; 4],
            auto_pad: "NOTSET",
            bias: true,
        }
    }

    fn attrs(&self) -> Attrs {
        let to_i = |v: &[usize]| ints(&v.iter().map(|&x| x as i64).collect::<Vec<_>>());
        let mut a = attrs(&[
            ("strides", to_i(&self.strides)),
            ("dilations", to_i(&self.dilations)),
            ("group", AttrValue::Int(self.group as i64)),
            ("auto_pad", AttrValue::String(self.auto_pad.into())),
        ]);
        if self.auto_pad == "NOTSET" {
            a.set("pads", to_i(&self.pads));
        }
        a
    }
}

/// Direct convolution with explicit `pads`, in f64: the seven loops of the definition.
/// Returns the output and, per element, the sum of absolute terms (for the tolerance).
fn naive(case: &Case, pads: [usize; 4], x: &Array, w: &Array, b: Option<&Array>) -> (Vec<usize>, Vec<f64>, Vec<f64>) {
    let [h, wd] = case.hw;
    let ext = |axis: usize| (case.k[axis] - 1) * case.dilations[axis] + 1;
    let oh = (h + pads[0] + pads[2] - ext(0)) / case.strides[0] + 1;
    let ow = (wd + pads[1] + pads[3] - ext(1)) / case.strides[1] + 1;
    let (cg, mg) = (case.c / case.group, case.m / case.group);
    let mut out = vec![0.0f64; case.n * case.m * oh * ow];
    let mut mag = vec![0.0f64; out.len()];
    for n in 0..case.n {
        for m in 0..case.m {
            let g = m / mg;
            for y in 0..oh {
                for xo in 0..ow {
                    let o = ((n * case.m + m) * oh + y) * ow + xo;
                    let mut acc = b.map_or(0.0, |b| b.data[m] as f64);
                    let mut abs = acc.abs();
                    for ci in 0..cg {
                        for ki in 0..case.k[0] {
                            for kj in 0..case.k[1] {
                                let iy = (y * case.strides[0] + ki * case.dilations[0]) as isize - pads[0] as isize;
                                let ix = (xo * case.strides[1] + kj * case.dilations[1]) as isize - pads[1] as isize;
                                if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                                    continue;
                                }
                                let c = g * cg + ci;
                                let xv = x.data[((n * case.c + c) * h + iy as usize) * wd + ix as usize] as f64;
                                let wv = w.data[((m * cg + ci) * case.k[0] + ki) * case.k[1] + kj] as f64;
                                acc += xv * wv;
                                abs += (xv * wv).abs();
                            }
                        }
                    }
                    out[o] = acc;
                    mag[o] = abs;
                }
            }
        }
    }
    (vec![case.n, case.m, oh, ow], out, mag)
}

fn check(case: &Case, explicit_pads: [usize; 4], seed: u64) {
    let mut rng = Rng(seed);
    let x = rng.array(&[case.n, case.c, case.hw[0], case.hw[1]]);
    let w = rng.array(&[case.m, case.c / case.group, case.k[0], case.k[1]]);
    let b = rng.array(&[case.m]);
    let bias = case.bias.then_some(&b);
    let op = Op::parse("Conv", &case.attrs(), 17, &[]).expect("parse").expect("supported");
    let Op::Conv(conv) = &op else { panic!("not a conv") };
    assert_eq!(conv.resolved_pads(case.hw, case.k), explicit_pads, "{case:?}");
    let inputs: Vec<Option<&Array>> = vec![Some(&x), Some(&w), bias];
    let infos: Vec<Option<InputInfo>> =
        inputs.iter().map(|a| a.map(|a| InputInfo { shape: &a.shape, data: Some(a) })).collect();
    let shape = op.infer(&infos).expect("infer").remove(0);
    let got = op.eval(&inputs).expect("eval").remove(0);
    let (want_shape, want, mag) = naive(case, explicit_pads, &x, &w, bias);
    assert_eq!(shape, want_shape, "{case:?}");
    assert_eq!(got.shape, want_shape, "{case:?}");
    for (i, ((&g, &e), &m)) in got.data.iter().zip(&want).zip(&mag).enumerate() {
        assert!((g as f64 - e).abs() <= 1e-5 * m + 1e-6, "{case:?}: element {i}: got {g}, want {e}");
    }
}

#[test]
fn im2col_matches_direct_convolution() {
    let mut table: Vec<(Case, [usize; 4])> = Vec::new();
    // 1x1, stride 1, no padding: the direct GEMM path.
    table.push((Case::new(8, [5, 6], 4, 1), [0; 4]));
    // 1x1 stride 2 goes through im2col.
    table.push((Case { strides: [2, 2], ..Case::new(8, [5, 6], 4, 1) }, [0; 4]));
    // 3x3, pad 1, no bias.
    table.push((Case { pads: [1; 4], bias: false, ..Case::new(3, [7, 9], 5, 3) }, [1; 4]));
    // Groups 2.
    table.push((Case { group: 2, pads: [1; 4], ..Case::new(4, [6, 5], 6, 3) }, [1; 4]));
    // Depthwise, stride 2, pad 1.
    table.push((Case { group: 5, strides: [2, 2], pads: [1; 4], ..Case::new(5, [9, 8], 5, 3) }, [1; 4]));
    // Depthwise with channel multiplier 2.
    table.push((Case { group: 3, pads: [1; 4], ..Case::new(3, [6, 6], 6, 3) }, [1; 4]));
    // Depthwise, dilation 2, asymmetric pads, stride 1 and 2.
    table.push((Case { group: 4, dilations: [2, 2], pads: [0, 1, 2, 3], ..Case::new(4, [8, 9], 4, 3) }, [0, 1, 2, 3]));
    table.push((
        Case { group: 4, strides: [2, 1], dilations: [2, 1], pads: [2, 0, 1, 1], ..Case::new(4, [8, 9], 4, 3) },
        [2, 0, 1, 1],
    ));
    // Stride 2, dilation 2, asymmetric pads.
    table.push((
        Case { strides: [2, 2], dilations: [2, 2], pads: [0, 1, 2, 3], ..Case::new(3, [9, 10], 4, 3) },
        [0, 1, 2, 3],
    ));
    // Pads larger than the kernel reach into pure padding.
    table.push((Case { pads: [3, 0, 0, 4], ..Case::new(2, [4, 4], 3, 2) }, [3, 0, 0, 4]));
    // Non-square kernel and strides.
    table.push((Case { k: [1, 3], strides: [1, 2], pads: [0, 1, 0, 1], ..Case::new(3, [5, 7], 2, 1) }, [0, 1, 0, 1]));
    // SAME_UPPER: in 8x7, k 3, s 2 -> out 4x4, total pads 8 - ... = (4-1)*2+3-8 = 1 and (4-1)*2+3-7 = 2.
    table.push((Case { strides: [2, 2], auto_pad: "SAME_UPPER", ..Case::new(3, [8, 7], 4, 3) }, [0, 1, 1, 1]));
    // SAME_LOWER: the odd unit goes first.
    table.push((Case { strides: [2, 2], auto_pad: "SAME_LOWER", ..Case::new(3, [8, 7], 4, 3) }, [1, 1, 0, 1]));
    // SAME with an even kernel and stride 1: total 1 per axis.
    table.push((Case { auto_pad: "SAME_UPPER", ..Case::new(2, [5, 5], 3, 2) }, [0, 0, 1, 1]));
    table.push((Case { auto_pad: "SAME_LOWER", ..Case::new(2, [5, 5], 3, 2) }, [1, 1, 0, 0]));
    // SAME with dilation: extent (3 - 1) * 2 + 1 = 5, total 4.
    table.push((Case { dilations: [2, 2], auto_pad: "SAME_UPPER", ..Case::new(2, [6, 6], 2, 3) }, [2, 2, 2, 2]));
    // VALID ignores pads.
    table.push((Case { auto_pad: "VALID", ..Case::new(2, [6, 7], 3, 5) }, [0; 4]));
    // Batch 2 with groups.
    table.push((Case { n: 2, group: 2, strides: [2, 2], pads: [1; 4], ..Case::new(4, [7, 7], 4, 3) }, [1; 4]));
    // Many channels so that the output rows are split into several bands (k * ow > 2^20 / oh).
    table.push((Case { pads: [1; 4], ..Case::new(128, [40, 40], 4, 3) }, [1; 4]));
    for (i, (case, pads)) in table.iter().enumerate() {
        check(case, *pads, 0x9e37_79b9_7f4a_7c15 ^ ((i as u64 + 1) * 7919));
    }
}

#[test]
fn fused_clamp_is_applied() {
    let x = Array::new(vec![1, 1, 1, 3], vec![-2.0, 0.5, 9.0]);
    let w = Array::new(vec![1, 1, 1, 1], vec![1.0]);
    let mut conv = Conv::parse(&Attrs::default()).unwrap();
    conv.act = Clamp { min: 0.0, max: 6.0 };
    let y = conv.eval(&[Some(&x), Some(&w)]).unwrap().remove(0);
    assert_eq!(y.data, vec![0.0, 0.5, 6.0]);
}

#[test]
fn hand_computed_3x3_with_padding() {
    // x = [[1, 2], [3, 4]], w = all ones 3x3, pad 1, bias 10: every output sees all 4 inputs.
    // y = 10 + 1 + 2 + 3 + 4 = 20 everywhere.
    let x = Array::new(vec![1, 1, 2, 2], vec![1.0, 2.0, 3.0, 4.0]);
    let w = Array::new(vec![1, 1, 3, 3], vec![1.0; 9]);
    let b = Array::new(vec![1], vec![10.0]);
    let conv = Conv::parse(&attrs(&[("pads", ints(&[1, 1, 1, 1]))])).unwrap();
    let y = conv.eval(&[Some(&x), Some(&w), Some(&b)]).unwrap().remove(0);
    assert_eq!(y.shape, vec![1, 1, 2, 2]);
    assert_eq!(y.data, vec![20.0; 4]);
    // Stride 2 with pads [0, 0, 1, 1]: one output at the top-left, sees all four: 20.
    // Weights [[1, 0, 0], [0, 1, 0], [0, 0, 0]] pick x[0][0] + x[1][1] = 5.
    let w = Array::new(vec![1, 1, 3, 3], vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0]);
    let conv = Conv::parse(&attrs(&[("pads", ints(&[0, 0, 1, 1])), ("strides", ints(&[2, 2]))])).unwrap();
    let y = conv.eval(&[Some(&x), Some(&w)]).unwrap().remove(0);
    assert_eq!((y.shape, y.data), (vec![1, 1, 1, 1], vec![5.0]));
}

#[test]
fn resolved_pads_follow_auto_pad() {
    let mut conv =
        Conv::parse(&attrs(&[("strides", ints(&[2, 2])), ("auto_pad", AttrValue::String("SAME_UPPER".into()))]))
            .unwrap();
    assert_eq!(conv.auto_pad, AutoPad::SameUpper);
    // 224, stride 2, kernel 3: out 112, total (112 - 1) * 2 + 3 - 224 = 1: at the end.
    assert_eq!(conv.resolved_pads([224, 224], [3, 3]), [0, 0, 1, 1]);
    conv.auto_pad = AutoPad::SameLower;
    assert_eq!(conv.resolved_pads([224, 224], [3, 3]), [1, 1, 0, 0]);
    // 225, stride 2, kernel 3: out 113, total 224 + 3 - 225 = 2.
    assert_eq!(conv.resolved_pads([225, 225], [3, 3]), [1, 1, 1, 1]);
}

fn info<'a>(a: &'a Array, constant: bool) -> Option<InputInfo<'a>> {
    Some(InputInfo { shape: &a.shape, data: constant.then_some(a) })
}

fn infer_err(conv_attrs: &Attrs, x: &[usize], w: &[usize], w_const: bool, b: Option<&[usize]>) -> String {
    let xa = Array::zeros(x.to_vec());
    let wa = Array::zeros(w.to_vec());
    let ba = b.map(|b| Array::zeros(b.to_vec()));
    let mut inputs = vec![info(&xa, false), info(&wa, w_const)];
    if let Some(ba) = &ba {
        inputs.push(info(ba, true));
    }
    let conv = Conv::parse(conv_attrs).unwrap();
    let err = conv.infer(&inputs).expect_err("should fail");
    // eval reports the same problems instead of panicking (except constness, which it cannot see).
    if w_const {
        let arrays: Vec<Option<&Array>> = std::iter::once(&xa).chain([&wa]).chain(ba.as_ref()).map(Some).collect();
        assert_eq!(conv.eval(&arrays).expect_err("eval should fail"), err);
    }
    err
}

#[test]
fn shape_errors_are_clear() {
    let none = Attrs::default();
    assert_eq!(
        infer_err(&none, &[1, 16, 8, 8], &[4, 8, 3, 3], true, None),
        "input has 16 channels but the weights expect 8 (group 1)"
    );
    let g2 = attrs(&[("group", AttrValue::Int(2))]);
    assert_eq!(
        infer_err(&g2, &[1, 6, 8, 8], &[4, 4, 3, 3], true, None),
        "input has 6 channels but the weights expect 8 (group 2)"
    );
    assert_eq!(
        infer_err(&g2, &[1, 8, 8, 8], &[5, 4, 3, 3], true, None),
        "the weights have 5 output channels, which is not a multiple of group 2"
    );
    assert_eq!(infer_err(&none, &[1, 3, 8, 8], &[4, 3, 3, 3], false, None), "weights must be a constant");
    assert_eq!(
        infer_err(&none, &[1, 3, 8, 8], &[4, 3, 3, 3], true, Some(&[5])),
        "bias has shape [5] but the weights have 4 output channels"
    );
    assert_eq!(
        infer_err(&attrs(&[("kernel_shape", ints(&[5, 5]))]), &[1, 3, 8, 8], &[4, 3, 3, 3], true, None),
        "kernel_shape is 5x5 but the weights have shape [4, 3, 3, 3] (a 3x3 kernel)"
    );
    assert_eq!(
        infer_err(&none, &[1, 3, 8], &[4, 3, 3], true, None),
        "only 2-D convolution is supported: the input has shape [1, 3, 8], expected 4 dims [N, C, H, W]"
    );
    assert_eq!(
        infer_err(&none, &[1, 3, 8, 8], &[4, 3, 9], true, None),
        "weights have shape [4, 3, 9], expected 4 dims [M, C/group, kh, kw]"
    );
    assert_eq!(
        infer_err(&attrs(&[("pads", ints(&[1, 0, 0, 0]))]), &[1, 3, 2, 2], &[4, 3, 4, 2], true, None),
        "the kernel (4x2 with dilation) is larger than the padded input (3x2)"
    );
}

#[test]
fn parse_errors_are_clear() {
    let err = |a: Attrs| Conv::parse(&a).expect_err("should fail");
    assert!(err(attrs(&[("kernel_shape", ints(&[3, 3, 3]))])).starts_with("only 2-D operations are supported"));
    assert!(err(attrs(&[("pads", ints(&[1, 1]))])).starts_with("only 2-D operations are supported"));
    assert_eq!(err(attrs(&[("strides", ints(&[0, 1]))])), "'strides' must be positive, got [0, 1]");
    assert!(err(attrs(&[("auto_pad", AttrValue::String("SAME".into()))])).starts_with("unknown auto_pad 'SAME'"));
    assert_eq!(err(attrs(&[("group", AttrValue::Int(0))])), "'group' must be at least 1, got 0");
    assert!(err(attrs(&[("pads", ints(&[1, -1, 1, 1]))])).starts_with("negative pads"));
}

/// Speed of the reference conv (run with `--ignored --nocapture`).
#[test]
#[ignore]
fn conv_speed() {
    let mut rng = Rng(7);
    let x = rng.array(&[1, 64, 224, 224]);
    let w = rng.array(&[64, 64, 3, 3]);
    let b = rng.array(&[64]);
    let conv = Conv::parse(&attrs(&[("pads", ints(&[1, 1, 1, 1]))])).unwrap();
    conv.eval(&[Some(&x), Some(&w), Some(&b)]).unwrap();
    let runs = 5;
    let t = std::time::Instant::now();
    for _ in 0..runs {
        std::hint::black_box(conv.eval(&[Some(&x), Some(&w), Some(&b)]).unwrap());
    }
    let ms = t.elapsed().as_secs_f64() * 1000.0 / runs as f64;
    let gflops = 2.0 * 64.0 * 576.0 * 224.0 * 224.0 / (ms * 1e6);
    println!("3x3 64->64 conv at 224x224: {ms:.1} ms per call ({gflops:.1} GFLOP/s)");

    let dw = rng.array(&[32, 1, 3, 3]);
    let xd = rng.array(&[1, 32, 112, 112]);
    let conv = Conv::parse(&attrs(&[("pads", ints(&[1, 1, 1, 1])), ("group", AttrValue::Int(32))])).unwrap();
    let t = std::time::Instant::now();
    for _ in 0..runs {
        std::hint::black_box(conv.eval(&[Some(&xd), Some(&dw)]).unwrap());
    }
    let ms = t.elapsed().as_secs_f64() * 1000.0 / runs as f64;
    println!("3x3 depthwise 32 channels at 112x112: {ms:.2} ms per call");

    // The 13 convolutions of VGG16 at 224x224 (about 15.3 GMAC).
    let layers = [
        (3, 64, 224),
        (64, 64, 224),
        (64, 128, 112),
        (128, 128, 112),
        (128, 256, 56),
        (256, 256, 56),
        (256, 256, 56),
        (256, 512, 28),
        (512, 512, 28),
        (512, 512, 28),
        (512, 512, 14),
        (512, 512, 14),
        (512, 512, 14),
    ];
    let conv = Conv::parse(&attrs(&[("pads", ints(&[1, 1, 1, 1]))])).unwrap();
    let mut total = 0.0;
    for (cin, cout, hw) in layers {
        let x = rng.array(&[1, cin, hw, hw]);
        let w = rng.array(&[cout, cin, 3, 3]);
        let b = rng.array(&[cout]);
        let t = std::time::Instant::now();
        std::hint::black_box(conv.eval(&[Some(&x), Some(&w), Some(&b)]).unwrap());
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        total += ms;
        println!("  {cin:>3} -> {cout:>3} at {hw:>3}: {ms:6.1} ms");
    }
    println!("VGG16 convolutions at 224x224: {total:.0} ms per image");
}
