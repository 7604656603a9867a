//! Add (same shape and broadcasting), Clip (opset 6 attributes vs opset 11+ inputs),
//! BatchNormalization, Dropout and Identity, against hand-computed values.

use qforge::ir::{Array, AttrValue, Attrs};
use qforge::ops::add::Add;
use qforge::ops::{Clamp, Op};

mod common;
use common::{arr, attrs, eval, infos};

#[test]
fn add_same_shape_and_broadcast() {
    let op = Op::parse("Add", &Attrs::default(), 17, &[]).unwrap().unwrap();
    let x = arr(&[1, 2, 1, 2], &[1.0, 2.0, 3.0, 4.0]);
    let y = arr(&[1, 2, 1, 2], &[10.0, 20.0, 30.0, 40.0]);
    assert_eq!(eval(&op, &[&x, &y]).unwrap().data, vec![11.0, 22.0, 33.0, 44.0]);
    assert_eq!(op.infer(&infos(&[&x, &y], &[false, false])).unwrap(), vec![vec![1, 2, 1, 2]]);
    // A scalar constant.
    let s = arr(&[], &[0.5]);
    assert_eq!(eval(&op, &[&x, &s]).unwrap().data, vec![1.5, 2.5, 3.5, 4.5]);
    assert_eq!(op.infer(&infos(&[&s, &x], &[true, false])).unwrap(), vec![vec![1, 2, 1, 2]]);
    // Per channel, [C, 1, 1] and [1, C, 1, 1]: channel 0 gets +100, channel 1 gets -100.
    for shape in [&[2, 1, 1][..], &[1, 2, 1, 1][..]] {
        let c = arr(shape, &[100.0, -100.0]);
        let out = eval(&op, &[&c, &x]).unwrap();
        assert_eq!((out.shape, out.data), (vec![1, 2, 1, 2], vec![101.0, 102.0, -97.0, -96.0]));
        assert_eq!(op.infer(&infos(&[&x, &c], &[false, true])).unwrap(), vec![vec![1, 2, 1, 2]]);
    }
    // Per column [W]: [1, 2] + [10, 20] on each row.
    let col = arr(&[2], &[10.0, 20.0]);
    assert_eq!(eval(&op, &[&x, &col]).unwrap().data, vec![11.0, 22.0, 13.0, 24.0]);
    // Two constants broadcast both ways: [2, 1] + [1, 3] = [2, 3].
    let a = arr(&[2, 1], &[1.0, 2.0]);
    let b = arr(&[1, 3], &[10.0, 20.0, 30.0]);
    let out = eval(&op, &[&a, &b]).unwrap();
    assert_eq!((out.shape, out.data), (vec![2, 3], vec![11.0, 21.0, 31.0, 12.0, 22.0, 32.0]));
    assert_eq!(op.infer(&infos(&[&a, &b], &[true, true])).unwrap(), vec![vec![2, 3]]);
}

#[test]
fn add_errors() {
    let op = Op::parse("Add", &Attrs::default(), 17, &[]).unwrap().unwrap();
    let x = Array::zeros(vec![1, 3, 2, 2]);
    let small = Array::zeros(vec![1, 3, 1, 1]);
    // An activation is never broadcast.
    assert_eq!(
        op.infer(&infos(&[&small, &x], &[false, false])).unwrap_err(),
        "input 0 has shape [1, 3, 1, 1] but the sum has shape [1, 3, 2, 2]; only a constant input may be broadcast"
    );
    assert!(op.infer(&infos(&[&small, &x], &[true, false])).is_ok());
    let bad = Array::zeros(vec![2, 1, 1]);
    assert_eq!(
        op.infer(&infos(&[&x, &bad], &[false, true])).unwrap_err(),
        "the inputs have shapes [1, 3, 2, 2] and [2, 1, 1], which do not broadcast together"
    );
    assert_eq!(
        eval(&op, &[&x, &bad]).unwrap_err(),
        "the inputs have shapes [1, 3, 2, 2] and [2, 1, 1], which do not broadcast together"
    );
    assert_eq!(op.infer(&infos(&[&x], &[false])).unwrap_err(), "expects 2 input(s) (A, B), got 1");
}

#[test]
fn add_applies_its_fused_clamp() {
    let add = Add { act: Clamp { min: 0.0, max: 6.0 } };
    let x = arr(&[4], &[-3.0, 1.0, 5.0, 9.0]);
    let y = arr(&[4], &[1.0, 1.0, 1.0, 1.0]);
    assert_eq!(add.eval(&[Some(&x), Some(&y)]).unwrap()[0].data, vec![0.0, 2.0, 6.0, 6.0]);
}

#[test]
fn clip_attributes_before_opset_11_inputs_after() {
    let x = arr(&[5], &[-10.0, -1.0, 0.5, 3.0, 10.0]);
    // Opset 6: attributes.
    let a = attrs(&[("min", AttrValue::Float(-1.0)), ("max", AttrValue::Float(2.0))]);
    let op = Op::parse("Clip", &a, 6, &[]).unwrap().unwrap();
    assert_eq!(op, Op::Clip(qforge::ops::clip::Clip { clamp: Clamp { min: -1.0, max: 2.0 } }));
    assert_eq!(eval(&op, &[&x]).unwrap().data, vec![-1.0, -1.0, 0.5, 2.0, 2.0]);
    // Opset 6 without attributes: unbounded.
    let op = Op::parse("Clip", &Attrs::default(), 6, &[]).unwrap().unwrap();
    assert_eq!(op, Op::Clip(qforge::ops::clip::Clip { clamp: Clamp::NONE }));
    // Opset 13: the attributes are not read; constant inputs 1 and 2 are (ReLU6 here).
    let (lo, hi) = (arr(&[], &[0.0]), arr(&[], &[6.0]));
    let op = Op::parse("Clip", &a, 13, &[None, Some(&lo), Some(&hi)]).unwrap().unwrap();
    assert_eq!(op, Op::Clip(qforge::ops::clip::Clip { clamp: Clamp { min: 0.0, max: 6.0 } }));
    assert_eq!(eval(&op, &[&x, &lo, &hi]).unwrap().data, vec![0.0, 0.0, 0.5, 3.0, 6.0]);
    // Only max given (min omitted): [-inf, 1].
    let one = arr(&[1], &[1.0]);
    let op = Op::parse("Clip", &Attrs::default(), 13, &[None, None, Some(&one)]).unwrap().unwrap();
    assert_eq!(op, Op::Clip(qforge::ops::clip::Clip { clamp: Clamp { min: f32::NEG_INFINITY, max: 1.0 } }));
    // No inputs: unbounded.
    let op = Op::parse("Clip", &a, 11, &[None]).unwrap().unwrap();
    assert_eq!(op, Op::Clip(qforge::ops::clip::Clip { clamp: Clamp::NONE }));
}

#[test]
fn clip_errors() {
    let two = arr(&[2], &[0.0, 1.0]);
    assert_eq!(
        Op::parse("Clip", &Attrs::default(), 13, &[None, Some(&two)]).unwrap_err(),
        "min (input 1) must be a scalar, got shape [2]"
    );
    // A bound computed by the graph: parse sees no constant, shape inference refuses it.
    let op = Op::parse("Clip", &Attrs::default(), 13, &[None, None]).unwrap().unwrap();
    let x = Array::zeros(vec![1, 2]);
    let lo = arr(&[], &[0.0]);
    assert_eq!(op.infer(&infos(&[&x, &lo], &[false, false])).unwrap_err(), "min (input 1) must be a constant");
    assert!(op.infer(&infos(&[&x, &lo], &[false, true])).is_ok());
}

#[test]
fn batch_norm_by_hand() {
    // y = scale * (x - mean) / sqrt(var + eps) + B with eps = 1:
    // channel 0: scale 2, mean 1, var 3 -> 2 * (x - 1) / 2 = x - 1: [1, 2] -> [0, 1];
    // channel 1: scale 1, mean 0, var 0, B 1 -> x + 1: [3, 4] -> [4, 5].
    let op = Op::parse("BatchNormalization", &attrs(&[("epsilon", AttrValue::Float(1.0))]), 15, &[]).unwrap().unwrap();
    let x = arr(&[1, 2, 1, 2], &[1.0, 2.0, 3.0, 4.0]);
    let (scale, b, mean, var) =
        (arr(&[2], &[2.0, 1.0]), arr(&[2], &[0.0, 1.0]), arr(&[2], &[1.0, 0.0]), arr(&[2], &[3.0, 0.0]));
    let y = eval(&op, &[&x, &scale, &b, &mean, &var]).unwrap();
    assert_eq!(y.data, vec![0.0, 1.0, 4.0, 5.0]);
    let all = [&x, &scale, &b, &mean, &var];
    assert_eq!(op.infer(&infos(&all, &[false, true, true, true, true])).unwrap(), vec![vec![1, 2, 1, 2]]);
    // Errors: a statistic computed by the graph, a wrong statistic length, training mode.
    assert_eq!(
        op.infer(&infos(&all, &[false, true, true, false, true])).unwrap_err(),
        "mean (input 3) must be a constant"
    );
    let short = arr(&[1], &[1.0]);
    assert_eq!(
        eval(&op, &[&x, &scale, &short, &mean, &var]).unwrap_err(),
        "B (input 2) has shape [1] but the input has 2 channels"
    );
    assert_eq!(
        Op::parse("BatchNormalization", &attrs(&[("training_mode", AttrValue::Int(1))]), 15, &[]).unwrap_err(),
        "training_mode = 1 is not supported (qforge compiles for inference)"
    );
    assert_eq!(
        Op::parse("BatchNormalization", &attrs(&[("spatial", AttrValue::Int(0))]), 7, &[]).unwrap_err(),
        "spatial = 0 (per-element statistics) is not supported"
    );
}

#[test]
fn dropout_and_identity_pass_through() {
    let x = arr(&[1, 3], &[1.0, -2.0, 3.0]);
    for op_type in ["Dropout", "Identity"] {
        let op = Op::parse(op_type, &Attrs::default(), 13, &[]).unwrap().unwrap();
        assert_eq!(eval(&op, &[&x]).unwrap(), x);
        // Dropout also declares the shape of its optional mask output.
        let expected = if op_type == "Dropout" { vec![vec![1, 3], vec![1, 3]] } else { vec![vec![1, 3]] };
        assert_eq!(op.infer(&infos(&[&x], &[false])).unwrap(), expected);
    }
    // Opset 12+: ratio and training_mode inputs; training_mode must be a constant false.
    let (ratio, no, yes) = (arr(&[], &[0.5]), arr(&[], &[0.0]), arr(&[], &[1.0]));
    let op = Op::parse("Dropout", &Attrs::default(), 13, &[None, Some(&ratio), Some(&no)]).unwrap().unwrap();
    assert_eq!(op.infer(&infos(&[&x, &ratio, &no], &[false, true, true])).unwrap(), vec![vec![1, 3], vec![1, 3]]);
    assert_eq!(eval(&op, &[&x, &ratio, &no]).unwrap(), x);
    assert_eq!(
        Op::parse("Dropout", &Attrs::default(), 13, &[None, Some(&ratio), Some(&yes)]).unwrap_err(),
        "Dropout with training_mode = true is not supported (qforge compiles for inference)"
    );
    assert_eq!(
        op.infer(&infos(&[&x, &ratio, &no], &[false, true, false])).unwrap_err(),
        "training_mode must be a constant (false)"
    );
    // An unused mask output is accepted at import (remove-identity rejects a used one).
    assert!(op.check_outputs(2).is_ok());
    assert!(op.check_outputs(3).is_err());
}
