//! Gemm (alpha, beta, transB, every C broadcast) and MatMul with a constant right operand,
//! against hand-computed products and a naive triple loop.

use qforge::ir::{Array, AttrValue, Attrs};
use qforge::ops::{Clamp, Op};

mod common;
use common::{arr, attrs, eval, infos};

fn gemm(list: &[(&str, AttrValue)]) -> Op {
    Op::parse("Gemm", &attrs(list), 13, &[]).unwrap().unwrap()
}

// A = [[1, 2, 3], [4, 5, 6]], B = [[1, 0], [0, 1], [1, 1]]: A * B = [[4, 5], [10, 11]].
fn a() -> Array {
    arr(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
}
fn b() -> Array {
    arr(&[3, 2], &[1.0, 0.0, 0.0, 1.0, 1.0, 1.0])
}
fn bt() -> Array {
    arr(&[2, 3], &[1.0, 0.0, 1.0, 0.0, 1.0, 1.0])
}

#[test]
fn gemm_by_hand() {
    let op = gemm(&[]);
    assert_eq!(eval(&op, &[&a(), &b()]).unwrap().data, vec![4.0, 5.0, 10.0, 11.0]);
    assert_eq!(op.infer(&infos(&[&a(), &b()], &[false, true])).unwrap(), vec![vec![2, 2]]);
    // alpha 2, beta 0.5, C = [1, 2] per column: 2 * AB + [0.5, 1] = [[8.5, 11], [20.5, 23]].
    let c = arr(&[2], &[1.0, 2.0]);
    let alpha_beta = [("alpha", AttrValue::Float(2.0)), ("beta", AttrValue::Float(0.5))];
    let op = gemm(&alpha_beta);
    assert_eq!(eval(&op, &[&a(), &b(), &c]).unwrap().data, vec![8.5, 11.0, 20.5, 23.0]);
    // transB = 1 reads B stored as [N, K].
    let mut with_t = alpha_beta.to_vec();
    with_t.push(("transB", AttrValue::Int(1)));
    let op_t = gemm(&with_t);
    assert_eq!(eval(&op_t, &[&a(), &bt(), &c]).unwrap().data, vec![8.5, 11.0, 20.5, 23.0]);
    assert_eq!(op_t.infer(&infos(&[&a(), &bt(), &c], &[false, true, true])).unwrap(), vec![vec![2, 2]]);
    // C as a scalar, [M, 1] and [1, N], [M, N] (beta 0.5 halves it).
    for (shape, data, add) in [
        (&[][..], &[2.0][..], [1.0, 1.0, 1.0, 1.0]),
        (&[1][..], &[2.0][..], [1.0, 1.0, 1.0, 1.0]),
        (&[2, 1][..], &[2.0, 4.0][..], [1.0, 1.0, 2.0, 2.0]),
        (&[1, 2][..], &[2.0, 4.0][..], [1.0, 2.0, 1.0, 2.0]),
        (&[2, 2][..], &[2.0, 4.0, 6.0, 8.0][..], [1.0, 2.0, 3.0, 4.0]),
    ] {
        let c = arr(shape, data);
        let want: Vec<f32> = [8.0, 10.0, 20.0, 22.0].iter().zip(add).map(|(x, y)| x + y).collect();
        assert_eq!(eval(&op, &[&a(), &b(), &c]).unwrap().data, want, "C shape {shape:?}");
    }
    // beta 0 ignores C.
    let op0 = gemm(&[("beta", AttrValue::Float(0.0))]);
    assert_eq!(eval(&op0, &[&a(), &b(), &arr(&[2], &[100.0, 100.0])]).unwrap().data, vec![4.0, 5.0, 10.0, 11.0]);
}

#[test]
fn gemm_matches_a_triple_loop() {
    let (m, k, n) = (3, 37, 19);
    let av: Vec<f32> = (0..m * k).map(|i| ((i * 7 % 13) as f32 - 6.0) / 4.0).collect();
    let bv: Vec<f32> = (0..n * k).map(|i| ((i * 5 % 11) as f32 - 5.0) / 3.0).collect();
    let cv: Vec<f32> = (0..n).map(|i| i as f32).collect();
    let (aa, bb, cc) = (arr(&[m, k], &av), arr(&[n, k], &bv), arr(&[n], &cv));
    let op = gemm(&[("transB", AttrValue::Int(1)), ("alpha", AttrValue::Float(0.5)), ("beta", AttrValue::Float(-1.0))]);
    let got = eval(&op, &[&aa, &bb, &cc]).unwrap();
    for i in 0..m {
        for j in 0..n {
            let dot: f64 = (0..k).map(|p| av[i * k + p] as f64 * bv[j * k + p] as f64).sum();
            let want = 0.5 * dot - cv[j] as f64;
            assert!((got.data[i * n + j] as f64 - want).abs() < 1e-4, "({i}, {j})");
        }
    }
}

#[test]
fn gemm_and_mat_mul_apply_their_fused_clamp() {
    let Op::Gemm(mut g) = gemm(&[]) else { unreachable!() };
    g.act = Clamp { min: 4.5, max: 10.5 };
    assert_eq!(g.eval(&[Some(&a()), Some(&b())]).unwrap()[0].data, vec![4.5, 5.0, 10.0, 10.5]);
    let mm = qforge::ops::mat_mul::MatMul { act: Clamp { min: 0.0, max: f32::INFINITY } };
    let w = arr(&[3, 2], &[1.0, -1.0, 1.0, -1.0, 1.0, -1.0]);
    assert_eq!(mm.eval(&[Some(&a()), Some(&w)]).unwrap()[0].data, vec![6.0, 0.0, 15.0, 0.0]);
}

#[test]
fn gemm_errors() {
    assert_eq!(
        Op::parse("Gemm", &attrs(&[("transA", AttrValue::Int(1))]), 13, &[]).unwrap_err(),
        "transA = 1 is not supported (the activation must be [M, K])"
    );
    let op = gemm(&[]);
    let a3 = Array::zeros(vec![1, 2, 3]);
    assert_eq!(
        op.infer(&infos(&[&a3, &b()], &[false, true])).unwrap_err(),
        "A has shape [1, 2, 3]; Gemm needs a 2-D input [M, K]"
    );
    assert_eq!(
        op.infer(&infos(&[&a(), &b()], &[false, false])).unwrap_err(),
        "B (the weights, input 1) must be a constant"
    );
    assert_eq!(
        op.infer(&infos(&[&a(), &bt()], &[false, true])).unwrap_err(),
        "A has 3 columns but B (shape [2, 3], transB = 0) expects 2"
    );
    let c = Array::zeros(vec![3]);
    assert_eq!(
        op.infer(&infos(&[&a(), &b(), &c], &[false, true, true])).unwrap_err(),
        "C has shape [3], which does not broadcast to the output [2, 2]"
    );
    assert_eq!(
        eval(&op, &[&a(), &b(), &c]).unwrap_err(),
        "C has shape [3], which does not broadcast to the output [2, 2]"
    );
}

#[test]
fn mat_mul_by_hand() {
    let op = Op::parse("MatMul", &Attrs::default(), 13, &[]).unwrap().unwrap();
    // [1, 2, 3] rows times B: a batch of leading dims is kept.
    let x = arr(&[1, 2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let y = eval(&op, &[&x, &b()]).unwrap();
    assert_eq!((y.shape, y.data), (vec![1, 2, 2], vec![4.0, 5.0, 10.0, 11.0]));
    assert_eq!(op.infer(&infos(&[&x, &b()], &[false, true])).unwrap(), vec![vec![1, 2, 2]]);
    // A vector: [1, 2, 3] * B = [4, 5].
    let v = arr(&[3], &[1.0, 2.0, 3.0]);
    let y = eval(&op, &[&v, &b()]).unwrap();
    assert_eq!((y.shape, y.data), (vec![2], vec![4.0, 5.0]));
}

#[test]
fn mat_mul_errors() {
    let op = Op::parse("MatMul", &Attrs::default(), 13, &[]).unwrap().unwrap();
    let x = a();
    assert_eq!(
        op.infer(&infos(&[&x, &b()], &[false, false])).unwrap_err(),
        "the right operand (weights) must be a constant 2-D matrix, but it is computed by the graph"
    );
    let w3 = Array::zeros(vec![1, 3, 2]);
    assert_eq!(
        op.infer(&infos(&[&x, &w3], &[false, true])).unwrap_err(),
        "the right operand (weights) must be a constant 2-D matrix, got shape [1, 3, 2]"
    );
    assert_eq!(
        eval(&op, &[&x, &bt()]).unwrap_err(),
        "the input has shape [2, 3] (K = 3) but the weights have shape [2, 3]"
    );
}

/// Past bug (found by `ops_robust`): with N = 0 and a C input, broadcasting C split the
/// output into chunks of size 0 and panicked.
#[test]
fn gemm_with_no_output_columns_and_c() {
    let op = gemm(&[]);
    let (x, w, c) = (Array::zeros(vec![2, 3]), Array::zeros(vec![3, 0]), Array::zeros(vec![1]));
    let y = eval(&op, &[&x, &w, &c]).unwrap();
    assert_eq!((y.shape, y.data), (vec![2, 0], vec![]));
}

/// Found by the robustness proptest: a MatMul with a folded bias and zero output columns
/// must not panic (it once split its output into chunks of zero length).
#[test]
fn matmul_with_bias_and_no_columns_is_empty_not_a_panic() {
    let op = Op::parse("MatMul", &Attrs::default(), 13, &[]).unwrap().unwrap();
    let x = arr(&[2, 3], &[1.0; 6]);
    let w = arr(&[3, 0], &[]);
    let b = arr(&[0], &[]);
    let y = op.eval(&[Some(&x), Some(&w), Some(&b)]).unwrap().remove(0);
    assert_eq!(y.shape, vec![2, 0]);
}
