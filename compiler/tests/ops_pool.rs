//! MaxPool / AveragePool / GlobalAveragePool: hand-computed cases and a padded-grid
//! reference written independently of the window arithmetic in `ops::pool`.

use qforge::ir::{Array, AttrValue, Attrs};
use qforge::ops::pool::{Pool2d, PoolKind};
use qforge::ops::{InputInfo, Op};

mod common;
use common::{attrs, int, ints};

fn run(op_type: &str, a: &Attrs, x: &Array) -> Result<Array, String> {
    let op = Op::parse(op_type, a, 17, &[])?.expect("supported");
    let shape = op.infer(&[Some(InputInfo { shape: &x.shape, data: None })])?.remove(0);
    let y = op.eval(&[Some(x)])?.remove(0);
    assert_eq!(y.shape, shape, "eval and infer disagree");
    Ok(y)
}

/// `[[1, 2, 3], [4, 5, 6], [7, 8, 9]]`.
fn x3() -> Array {
    Array::new(vec![1, 1, 3, 3], (1..=9).map(|v| v as f32).collect())
}

#[test]
fn max_pool_by_hand() {
    let k2 = ("kernel_shape", ints(&[2, 2]));
    // Stride 1: maxima of the four 2x2 windows.
    assert_eq!(run("MaxPool", &attrs(std::slice::from_ref(&k2)), &x3()).unwrap().data, vec![5.0, 6.0, 8.0, 9.0]);
    // Stride 2, floor: only the top-left window fits.
    let s2 = ("strides", ints(&[2, 2]));
    let y = run("MaxPool", &attrs(&[k2.clone(), s2.clone()]), &x3()).unwrap();
    assert_eq!((y.shape, y.data), (vec![1, 1, 1, 1], vec![5.0]));
    // ceil_mode: a second window starts at 2, inside the input: [[5, 6], [8, 9]].
    let y = run("MaxPool", &attrs(&[k2.clone(), s2, ("ceil_mode", int(1))]), &x3()).unwrap();
    assert_eq!((y.shape, y.data), (vec![1, 1, 2, 2], vec![5.0, 6.0, 8.0, 9.0]));
    // SAME_UPPER pads one row/column at the end: [[5, 6, 6], [8, 9, 9], [8, 9, 9]].
    let up = ("auto_pad", AttrValue::String("SAME_UPPER".into()));
    let y = run("MaxPool", &attrs(&[k2.clone(), up]), &x3()).unwrap();
    assert_eq!(y.data, vec![5.0, 6.0, 6.0, 8.0, 9.0, 9.0, 8.0, 9.0, 9.0]);
    // SAME_LOWER pads at the start: each window's bottom-right cell is the input cell.
    let low = ("auto_pad", AttrValue::String("SAME_LOWER".into()));
    let y = run("MaxPool", &attrs(&[k2, low]), &x3()).unwrap();
    assert_eq!(y.data, (1..=9).map(|v| v as f32).collect::<Vec<_>>());
    // Padding never wins, even over negative values: 3x3 windows, pads 1, x = -(1..9).
    let neg = Array::new(vec![1, 1, 3, 3], (1..=9).map(|v| -(v as f32)).collect());
    let y = run("MaxPool", &attrs(&[("kernel_shape", ints(&[3, 3])), ("pads", ints(&[1, 1, 1, 1]))]), &neg).unwrap();
    assert_eq!(y.data, vec![-1.0, -1.0, -2.0, -1.0, -1.0, -2.0, -4.0, -4.0, -5.0]);
}

#[test]
fn average_pool_count_include_pad_at_borders() {
    let a = |cip: i64| {
        attrs(&[("kernel_shape", ints(&[3, 3])), ("pads", ints(&[1, 1, 1, 1])), ("count_include_pad", int(cip))])
    };
    // Corner: 1 + 2 + 4 + 5 = 12; edge: 1 + 2 + 3 + 4 + 5 + 6 = 21; centre: 45.
    // Excluding padding the divisors are 4, 6, 9; including it they are all 9.
    let y = run("AveragePool", &a(0), &x3()).unwrap();
    assert_eq!(y.data[0], 3.0);
    assert_eq!(y.data[1], 3.5);
    assert_eq!(y.data[4], 5.0);
    assert_eq!(y.data[8], (5.0 + 6.0 + 8.0 + 9.0) / 4.0);
    let y = run("AveragePool", &a(1), &x3()).unwrap();
    assert_eq!(y.data[0], 12.0 / 9.0);
    assert_eq!(y.data[1], 21.0 / 9.0);
    assert_eq!(y.data[4], 5.0);
    // The default is count_include_pad = 0.
    let y =
        run("AveragePool", &attrs(&[("kernel_shape", ints(&[3, 3])), ("pads", ints(&[1, 1, 1, 1]))]), &x3()).unwrap();
    assert_eq!(y.data[0], 3.0);
}

#[test]
fn average_pool_ceil_mode() {
    // x = [1, 2, 3, 4, 5], kernel 2, stride 2, ceil: windows [1, 2], [3, 4], [5 | overhang].
    // The overhang is outside the padded input, so it never counts: [1.5, 3.5, 5].
    let x = Array::new(vec![1, 1, 1, 5], vec![1.0, 2.0, 3.0, 4.0, 5.0]);
    for cip in [0, 1] {
        let a = attrs(&[
            ("kernel_shape", ints(&[1, 2])),
            ("strides", ints(&[1, 2])),
            ("ceil_mode", int(1)),
            ("count_include_pad", int(cip)),
        ]);
        assert_eq!(run("AveragePool", &a, &x).unwrap().data, vec![1.5, 3.5, 5.0]);
    }
    // x = [1, ..., 6], kernel 3, stride 2, pads 1/1, ceil: padded length 8,
    // ceil((8 - 3) / 2) + 1 = 4 windows over [-1, 2), [1, 4), [3, 6), [5, 8).
    // The last one holds x[5] = 6, one pad cell (index 6) and one overhang cell (7).
    // Including padding: 3 / 3, 9 / 3, 15 / 3, 6 / 2. Excluding: 3 / 2, 3, 5, 6.
    let x = Array::new(vec![1, 1, 1, 6], (1..=6).map(|v| v as f32).collect());
    let a = |cip: i64| {
        attrs(&[
            ("kernel_shape", ints(&[1, 3])),
            ("strides", ints(&[1, 2])),
            ("pads", ints(&[0, 1, 0, 1])),
            ("ceil_mode", int(1)),
            ("count_include_pad", int(cip)),
        ])
    };
    assert_eq!(run("AveragePool", &a(1), &x).unwrap().data, vec![1.0, 3.0, 5.0, 3.0]);
    assert_eq!(run("AveragePool", &a(0), &x).unwrap().data, vec![1.5, 3.0, 5.0, 6.0]);
    // A window that would start in the right padding is dropped: x of 4, kernel 2,
    // stride 2, pad end 1: ceil((5 - 2) / 2) + 1 = 3, but window 2 starts at 4 >= 4.
    let x = Array::new(vec![1, 1, 1, 4], vec![1.0, 2.0, 3.0, 4.0]);
    let a = attrs(&[
        ("kernel_shape", ints(&[1, 2])),
        ("strides", ints(&[1, 2])),
        ("pads", ints(&[0, 0, 0, 1])),
        ("ceil_mode", int(1)),
    ]);
    assert_eq!(run("AveragePool", &a, &x).unwrap().data, vec![1.5, 3.5]);
}

/// A cell of the padded grid.
#[derive(Clone, Copy, PartialEq)]
enum Cell {
    Value(f32),
    Pad,
    Outside,
}

/// Reference pooling over an explicitly padded grid (one plane, pads as given).
fn reference(
    kind: PoolKind,
    cip: bool,
    ceil: bool,
    k: [usize; 2],
    s: [usize; 2],
    p: [usize; 4],
    h: usize,
    w: usize,
    x: &[f32],
) -> (usize, usize, Vec<f32>) {
    let out_len = |axis: usize, input: usize| {
        let span = (input + p[axis] + p[axis + 2] - k[axis]) as f64 / s[axis] as f64;
        let mut o = if ceil { span.ceil() as usize + 1 } else { span.floor() as usize + 1 };
        // Windows starting in the right padding are ignored.
        if (o - 1) * s[axis] >= input + p[axis] {
            o -= 1;
        }
        o
    };
    let (oh, ow) = (out_len(0, h), out_len(1, w));
    // The grid covers every window, with room to spare.
    let gh = oh * s[0] + k[0] + 1;
    let gw = ow * s[1] + k[1] + 1;
    let mut grid = vec![Cell::Outside; gh * gw];
    for gy in 0..gh {
        for gx in 0..gw {
            let (y, xx) = (gy as isize - p[0] as isize, gx as isize - p[1] as isize);
            grid[gy * gw + gx] = if y >= 0 && xx >= 0 && (y as usize) < h && (xx as usize) < w {
                Cell::Value(x[y as usize * w + xx as usize])
            } else if y < (h + p[2]) as isize && xx < (w + p[3]) as isize {
                Cell::Pad
            } else {
                Cell::Outside
            };
        }
    }
    let mut out = Vec::new();
    for oy in 0..oh {
        for ox in 0..ow {
            let cells: Vec<Cell> = (0..k[0])
                .flat_map(|i| (0..k[1]).map(move |j| (oy * s[0] + i, ox * s[1] + j)))
                .map(|(gy, gx)| grid[gy * gw + gx])
                .collect();
            let values: Vec<f32> =
                cells.iter().filter_map(|c| if let Cell::Value(v) = c { Some(*v) } else { None }).collect();
            out.push(match kind {
                PoolKind::Max => values.iter().copied().fold(f32::NEG_INFINITY, f32::max),
                PoolKind::Average => {
                    let count = if cip { cells.iter().filter(|c| **c != Cell::Outside).count() } else { values.len() };
                    (values.iter().map(|&v| v as f64).sum::<f64>() / count as f64) as f32
                }
            });
        }
    }
    (oh, ow, out)
}

#[test]
fn pools_match_a_padded_grid_reference() {
    let mut seed = 12345u64;
    let mut next = || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((seed >> 33) as f32 / (1u64 << 31) as f32) * 4.0 - 2.0
    };
    let mut cases = 0;
    for kind in [PoolKind::Max, PoolKind::Average] {
        for cip in [false, true] {
            for ceil in [false, true] {
                for (k, s, p) in [
                    ([2, 2], [2, 2], [0, 0, 0, 0]),
                    ([3, 3], [2, 2], [1, 1, 1, 1]),
                    ([3, 3], [2, 2], [0, 1, 2, 0]),
                    ([3, 2], [1, 3], [2, 1, 0, 1]),
                    ([3, 3], [3, 3], [1, 1, 2, 2]),
                    ([1, 1], [2, 2], [0, 0, 0, 0]),
                    ([5, 4], [2, 3], [4, 3, 4, 3]),
                ] {
                    for (h, w) in [(7, 7), (8, 6), (5, 9)] {
                        let x: Vec<f32> = (0..2 * h * w).map(|_| next()).collect();
                        let pool = Pool2d {
                            kind,
                            kernel: k,
                            strides: s,
                            pads: p,
                            auto_pad: qforge::ops::conv::AutoPad::NotSet,
                            ceil_mode: ceil,
                            count_include_pad: cip,
                        };
                        let xa = Array::new(vec![1, 2, h, w], x.clone());
                        let y = pool.eval(&[Some(&xa)]).unwrap().remove(0);
                        for plane in 0..2 {
                            let (oh, ow, want) =
                                reference(kind, cip, ceil, k, s, p, h, w, &x[plane * h * w..][..h * w]);
                            assert_eq!(y.shape, vec![1, 2, oh, ow]);
                            let got = &y.data[plane * oh * ow..][..oh * ow];
                            for (g, e) in got.iter().zip(&want) {
                                assert!((g - e).abs() <= 1e-6, "{kind:?} cip {cip} ceil {ceil} k {k:?} s {s:?} p {p:?} {h}x{w}: {got:?} vs {want:?}");
                            }
                        }
                        cases += 1;
                    }
                }
            }
        }
    }
    assert_eq!(cases, 2 * 2 * 2 * 7 * 3);
}

#[test]
fn global_average_pool() {
    // Channel 0: (1 + 2 + 3 + 4) / 4 = 2.5; channel 1: (-1 + 1 + 0 + 8) / 4 = 2.
    let x = Array::new(vec![1, 2, 2, 2], vec![1.0, 2.0, 3.0, 4.0, -1.0, 1.0, 0.0, 8.0]);
    let y = run("GlobalAveragePool", &Attrs::default(), &x).unwrap();
    assert_eq!((y.shape, y.data), (vec![1, 2, 1, 1], vec![2.5, 2.0]));
    let err = run("GlobalAveragePool", &Attrs::default(), &Array::zeros(vec![4, 2])).unwrap_err();
    assert_eq!(err, "the input has shape [4, 2]; expected [N, C, H, W]");
}

#[test]
fn pool_attribute_errors() {
    let k = ("kernel_shape", ints(&[2, 2]));
    let err = |op: &str, a: Attrs| Op::parse(op, &a, 17, &[]).expect_err("should fail");
    assert_eq!(err("MaxPool", Attrs::default()), "the 'kernel_shape' attribute is required");
    assert_eq!(
        err("MaxPool", attrs(&[k.clone(), ("dilations", ints(&[2, 2]))])),
        "dilations other than 1 are not supported, got [2, 2]"
    );
    assert_eq!(
        err("MaxPool", attrs(&[k.clone(), ("storage_order", int(1))])),
        "storage_order 1 (column-major indices) is not supported"
    );
    assert!(err("AveragePool", attrs(&[("kernel_shape", ints(&[2, 2, 2]))])).starts_with("only 2-D operations"));
    // dilations of 1 are fine.
    assert!(Op::parse("MaxPool", &attrs(&[k.clone(), ("dilations", ints(&[1, 1]))]), 17, &[]).is_ok());
    // Rank 3 input, kernel larger than the input, pads as large as the kernel.
    assert_eq!(
        run("MaxPool", &attrs(std::slice::from_ref(&k)), &Array::zeros(vec![1, 3, 5])).unwrap_err(),
        "only 2-D pooling is supported: the input has shape [1, 3, 5], expected 4 dims [N, C, H, W]"
    );
    assert_eq!(
        run("MaxPool", &attrs(&[("kernel_shape", ints(&[3, 3]))]), &Array::zeros(vec![1, 1, 2, 5])).unwrap_err(),
        "the kernel 3x3 is larger than the padded input 2x5"
    );
    assert!(run("MaxPool", &attrs(&[k.clone(), ("pads", ints(&[2, 0, 0, 0]))]), &x3())
        .unwrap_err()
        .starts_with("pads [2, 0, 0, 0] must be smaller than the kernel"));
    // The Indices output of MaxPool is refused.
    let op = Op::parse("MaxPool", &attrs(&[k]), 17, &[]).unwrap().unwrap();
    assert_eq!(op.check_outputs(2).unwrap_err(), "MaxPool's second output (Indices) is not supported");
    assert!(op.check_outputs(1).is_ok());
}
