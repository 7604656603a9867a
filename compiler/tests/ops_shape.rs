//! Flatten, Reshape and Concat: shapes and data order by hand, and their error messages.

use qforge::ir::{Array, AttrValue, Attrs};
use qforge::ops::{InputInfo, Op};

mod common;
use common::{arr, attrs};

fn infer(op: &Op, shapes: &[&[usize]]) -> Result<Vec<usize>, String> {
    let infos: Vec<Option<InputInfo>> = shapes.iter().map(|s| Some(InputInfo { shape: s, data: None })).collect();
    op.infer(&infos).map(|mut v| v.remove(0))
}

fn flatten(axis: i64) -> Op {
    Op::parse("Flatten", &attrs(&[("axis", AttrValue::Int(axis))]), 13, &[]).unwrap().unwrap()
}

#[test]
fn flatten_axes() {
    let s: &[usize] = &[2, 3, 4, 5];
    assert_eq!(infer(&flatten(1), &[s]).unwrap(), vec![2, 60]);
    assert_eq!(infer(&flatten(0), &[s]).unwrap(), vec![1, 120]);
    assert_eq!(infer(&flatten(4), &[s]).unwrap(), vec![120, 1]);
    assert_eq!(infer(&flatten(-1), &[s]).unwrap(), vec![24, 5]);
    assert_eq!(infer(&flatten(-4), &[s]).unwrap(), vec![1, 120]);
    assert_eq!(infer(&flatten(5), &[s]).unwrap_err(), "axis 5 is out of range for an input of shape [2, 3, 4, 5]");
    assert_eq!(infer(&flatten(-5), &[s]).unwrap_err(), "axis -5 is out of range for an input of shape [2, 3, 4, 5]");
    // The default axis is 1; data keep their order.
    let op = Op::parse("Flatten", &Attrs::default(), 13, &[]).unwrap().unwrap();
    let x = arr(&[1, 2, 1, 2], &[1.0, 2.0, 3.0, 4.0]);
    let y = op.eval(&[Some(&x)]).unwrap().remove(0);
    assert_eq!((y.shape, y.data), (vec![1, 4], vec![1.0, 2.0, 3.0, 4.0]));
}

fn reshape(spec: &[f32], allow_zero: bool) -> Result<Op, String> {
    let shape = arr(&[spec.len()], spec);
    let a = attrs(&[("allowzero", AttrValue::Int(allow_zero as i64))]);
    Op::parse("Reshape", &a, 14, &[None, Some(&shape)]).map(|o| o.unwrap())
}

#[test]
fn reshape_targets() {
    let s: &[usize] = &[1, 512, 7, 7];
    // 0 copies the input dim, -1 takes the rest.
    assert_eq!(infer(&reshape(&[0.0, -1.0], false).unwrap(), &[s]).unwrap(), vec![1, 25088]);
    assert_eq!(infer(&reshape(&[-1.0], false).unwrap(), &[s]).unwrap(), vec![25088]);
    assert_eq!(infer(&reshape(&[1.0, -1.0, 49.0], false).unwrap(), &[s]).unwrap(), vec![1, 512, 49]);
    assert_eq!(infer(&reshape(&[0.0, 0.0, 49.0], false).unwrap(), &[s]).unwrap(), vec![1, 512, 49]);
    // With allowzero a 0 is an empty dim (and the element counts must then agree).
    let empty: &[usize] = &[0, 3];
    assert_eq!(infer(&reshape(&[3.0, 0.0], true).unwrap(), &[empty]).unwrap(), vec![3, 0]);
    // The native JSON format gives the target as a `shape` attribute.
    let op = Op::parse("Reshape", &attrs(&[("shape", AttrValue::Ints(vec![1, -1]))]), 17, &[None]).unwrap().unwrap();
    let x = arr(&[1, 2, 1, 2], &[1.0, 2.0, 3.0, 4.0]);
    let y = op.eval(&[Some(&x)]).unwrap().remove(0);
    assert_eq!((y.shape, y.data), (vec![1, 4], vec![1.0, 2.0, 3.0, 4.0]));
}

#[test]
fn reshape_errors() {
    let s: &[usize] = &[1, 512, 7, 7];
    assert_eq!(
        infer(&reshape(&[1.0, 4096.0], false).unwrap(), &[s]).unwrap_err(),
        "cannot reshape [1, 512, 7, 7] (25088 values) to [1, 4096] (4096 values)"
    );
    assert_eq!(
        infer(&reshape(&[-1.0, 5.0], false).unwrap(), &[s]).unwrap_err(),
        "cannot reshape [1, 512, 7, 7] (25088 values) to [-1, 5]: the -1 cannot be inferred"
    );
    assert_eq!(
        infer(&reshape(&[1.0, 1.0, 1.0, 1.0, 0.0], false).unwrap(), &[s]).unwrap_err(),
        "the target shape [1, 1, 1, 1, 0] copies dim 4 (a 0), but the input [1, 512, 7, 7] has only 4 dims"
    );
    assert_eq!(reshape(&[-1.0, -1.0], false).unwrap_err(), "the target shape [-1, -1] holds more than one -1");
    assert_eq!(
        reshape(&[-2.0], false).unwrap_err(),
        "the target shape [-2] holds -2; only -1 (inferred) may be negative"
    );
    assert_eq!(reshape(&[1.5], false).unwrap_err(), "the target shape holds 1.5, which is not an integer");
    assert_eq!(
        reshape(&[0.0, -1.0], true).unwrap_err(),
        "the target shape [0, -1] holds both 0 and -1, which allowzero = 1 forbids"
    );
    // A shape computed by the graph (no constant, no attribute).
    assert_eq!(
        Op::parse("Reshape", &Attrs::default(), 14, &[None, None]).unwrap_err(),
        "the target shape must be a constant (input 1, or a 'shape' attribute); a shape computed by the graph is not supported"
    );
    let op = Op::parse("Reshape", &attrs(&[("shape", AttrValue::Ints(vec![-1]))]), 14, &[None, None]).unwrap().unwrap();
    let x = Array::zeros(vec![2, 2]);
    let spec = arr(&[1], &[-1.0]);
    let infos = [Some(InputInfo { shape: &x.shape, data: None }), Some(InputInfo { shape: &spec.shape, data: None })];
    assert_eq!(op.infer(&infos).unwrap_err(), "the target shape (input 1) must be a constant");
    // eval reports a bad input instead of panicking.
    let op = reshape(&[3.0], false).unwrap();
    assert_eq!(op.eval(&[Some(&x), Some(&spec)]).unwrap_err(), "cannot reshape [2, 2] (4 values) to [3] (3 values)");
}

fn concat(axis: i64) -> Op {
    Op::parse("Concat", &attrs(&[("axis", AttrValue::Int(axis))]), 13, &[]).unwrap().unwrap()
}

#[test]
fn concat_by_hand() {
    // Channels: [[1, 2], [3, 4]] (2 channels of 1x2) then [[5, 6]] (1 channel).
    let a = arr(&[1, 2, 1, 2], &[1.0, 2.0, 3.0, 4.0]);
    let b = arr(&[1, 1, 1, 2], &[5.0, 6.0]);
    let y = concat(1).eval(&[Some(&a), Some(&b)]).unwrap().remove(0);
    assert_eq!((y.shape, y.data), (vec![1, 3, 1, 2], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
    // Last axis (-1): rows interleave: [1, 2 | 7] [3, 4 | 8].
    let a = arr(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
    let c = arr(&[2, 1], &[7.0, 8.0]);
    let y = concat(-1).eval(&[Some(&a), Some(&c)]).unwrap().remove(0);
    assert_eq!((y.shape, y.data), (vec![2, 3], vec![1.0, 2.0, 7.0, 3.0, 4.0, 8.0]));
    assert_eq!(infer(&concat(-1), &[&[2, 2], &[2, 1], &[2, 5]]).unwrap(), vec![2, 8]);
    assert_eq!(infer(&concat(0), &[&[2, 2]]).unwrap(), vec![2, 2]);
}

#[test]
fn concat_errors() {
    assert_eq!(
        infer(&concat(1), &[&[1, 2, 4, 4], &[1, 3, 4, 5]]).unwrap_err(),
        "input 1 has shape [1, 3, 4, 5] but input 0 has shape [1, 2, 4, 4]; all dims except axis 1 must match"
    );
    assert_eq!(
        infer(&concat(1), &[&[1, 2, 4, 4], &[1, 2, 4]]).unwrap_err(),
        "input 1 has shape [1, 2, 4] but input 0 has shape [1, 2, 4, 4]; all dims except axis 1 must match"
    );
    assert_eq!(infer(&concat(4), &[&[1, 2, 4, 4]]).unwrap_err(), "axis 4 is out of range for inputs of rank 4");
    assert_eq!(infer(&concat(-5), &[&[1, 2, 4, 4]]).unwrap_err(), "axis -5 is out of range for inputs of rank 4");
    assert_eq!(concat(1).infer(&[]).unwrap_err(), "expects at least 1 input, got 0");
}
