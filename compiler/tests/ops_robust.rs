//! Every op on arbitrary shapes and attributes: parsing, shape inference and evaluation
//! return `Err` for bad input and never panic, and whenever inference succeeds on all-constant
//! inputs, evaluation succeeds with the inferred shape.

use proptest::prelude::*;
use qforge::ir::{Array, AttrValue, Attrs};
use qforge::ops::{InputInfo, Op};

const OPS: [&str; 15] = [
    "Conv",
    "BatchNormalization",
    "Relu",
    "Clip",
    "Add",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "Gemm",
    "MatMul",
    "Flatten",
    "Reshape",
    "Identity",
    "Dropout",
    "Concat",
];

fn shape() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0usize..5, 0..5)
}

fn attr_value() -> impl Strategy<Value = AttrValue> {
    prop_oneof![
        (-3i64..5).prop_map(AttrValue::Int),
        prop::collection::vec(-2i64..5, 0..5).prop_map(AttrValue::Ints),
        (-2.0f32..7.0).prop_map(AttrValue::Float),
        prop::sample::select(vec!["NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER", "X"])
            .prop_map(|s| AttrValue::String(s.to_string())),
    ]
}

fn attrs() -> impl Strategy<Value = Attrs> {
    let names = prop::sample::select(vec![
        "kernel_shape",
        "strides",
        "dilations",
        "pads",
        "auto_pad",
        "group",
        "ceil_mode",
        "count_include_pad",
        "axis",
        "shape",
        "allowzero",
        "alpha",
        "beta",
        "transB",
        "min",
        "max",
        "epsilon",
    ]);
    prop::collection::vec((names, attr_value()), 0..6).prop_map(|list| {
        let mut a = Attrs::default();
        for (k, v) in list {
            a.set(k, v);
        }
        a
    })
}

/// Inputs: shape, constness, and whether the slot is omitted.
fn inputs() -> impl Strategy<Value = Vec<(Vec<usize>, bool, bool)>> {
    prop::collection::vec((shape(), any::<bool>(), prop::bool::weighted(0.1)), 0..6)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn ops_never_panic(op_type in prop::sample::select(OPS.to_vec()), a in attrs(), opset in 6i64..22, ins in inputs(), seed in any::<u32>()) {
        let arrays: Vec<Option<Array>> = ins
            .iter()
            .enumerate()
            .map(|(i, (s, _, omitted))| {
                (!omitted).then(|| {
                    let n: usize = s.iter().product();
                    Array::new(s.clone(), (0..n).map(|j| ((j as u32 ^ seed ^ i as u32) % 7) as f32 - 3.0).collect())
                })
            })
            .collect();
        let consts: Vec<Option<&Array>> = arrays.iter().zip(&ins).map(|(a, (_, c, _))| a.as_ref().filter(|_| *c)).collect();
        let Ok(Some(op)) = Op::parse(op_type, &a, opset, &consts) else { return Ok(()) };
        let infos: Vec<Option<InputInfo>> = arrays
            .iter()
            .zip(&ins)
            .map(|(a, (_, c, _))| a.as_ref().map(|a| InputInfo { shape: &a.shape, data: c.then_some(a) }))
            .collect();
        let _ = op.infer(&infos);
        let all_const: Vec<Option<InputInfo>> =
            arrays.iter().map(|a| a.as_ref().map(|a| InputInfo { shape: &a.shape, data: Some(a) })).collect();
        let args: Vec<Option<&Array>> = arrays.iter().map(Option::as_ref).collect();
        let inferred = op.infer(&all_const);
        let evaluated = op.eval(&args);
        if let Ok(shapes) = inferred {
            let outs = evaluated.expect("eval fails where infer succeeds");
            prop_assert_eq!(outs.len(), shapes.len());
            for (o, s) in outs.iter().zip(&shapes) {
                prop_assert_eq!(&o.shape, s);
            }
        }
    }
}

fn ints(v: &[usize]) -> AttrValue {
    AttrValue::Ints(v.iter().map(|&x| x as i64).collect())
}

fn auto_pad() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"])
}

/// Runs infer then eval on all-constant inputs; checks they agree and nothing panics.
/// Returns whether inference succeeded.
fn infer_and_eval(op: &Op, arrays: &[Option<&Array>]) -> Result<bool, TestCaseError> {
    let infos: Vec<Option<InputInfo>> =
        arrays.iter().map(|a| a.map(|a| InputInfo { shape: &a.shape, data: Some(a) })).collect();
    let inferred = op.infer(&infos);
    let evaluated = op.eval(arrays);
    match (inferred, evaluated) {
        (Ok(shapes), Ok(outs)) => {
            prop_assert_eq!(outs.len(), shapes.len());
            for (o, s) in outs.iter().zip(&shapes) {
                prop_assert_eq!(&o.shape, s);
                prop_assert!(o.data.iter().all(|v| v.is_finite()), "non-finite output");
            }
            Ok(true)
        }
        (Ok(_), Err(e)) => Err(TestCaseError::fail(format!("eval fails where infer succeeds: {e}"))),
        (Err(_), _) => Ok(false),
    }
}

fn filled(shape: Vec<usize>, seed: u32) -> Array {
    let n: usize = shape.iter().product();
    Array::new(
        shape,
        (0..n).map(|j| ((j as u32).wrapping_mul(2654435761) ^ seed) as f32 / u32::MAX as f32 - 0.5).collect(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    #[test]
    fn conv_shapes_and_attributes(
        (n, cg, mg, g) in (1usize..3, 1usize..4, 1usize..4, 1usize..4),
        (h, w, kh, kw) in (0usize..9, 0usize..9, 1usize..5, 1usize..5),
        strides in prop::collection::vec(1usize..4, 2),
        dilations in prop::collection::vec(1usize..3, 2),
        pads in prop::collection::vec(0usize..4, 4),
        ap in auto_pad(),
        bias in any::<bool>(),
        seed in any::<u32>(),
    ) {
        let mut a = Attrs::default();
        a.set("strides", ints(&strides));
        a.set("dilations", ints(&dilations));
        a.set("pads", ints(&pads));
        a.set("auto_pad", AttrValue::String(ap.into()));
        a.set("group", AttrValue::Int(g as i64));
        let op = Op::parse("Conv", &a, 17, &[]).unwrap().unwrap();
        let x = filled(vec![n, cg * g, h, w], seed);
        let wt = filled(vec![mg * g, cg, kh, kw], seed ^ 1);
        let b = filled(vec![mg * g], seed ^ 2);
        let mut args = vec![Some(&x), Some(&wt)];
        if bias {
            args.push(Some(&b));
        }
        infer_and_eval(&op, &args)?;
    }

    #[test]
    fn pool_shapes_and_attributes(
        kind in prop::sample::select(vec!["MaxPool", "AveragePool"]),
        (c, h, w) in (1usize..3, 0usize..9, 0usize..9),
        kernel in prop::collection::vec(1usize..5, 2),
        strides in prop::collection::vec(1usize..4, 2),
        pads in prop::collection::vec(0usize..4, 4),
        ap in auto_pad(),
        (ceil, cip) in (0i64..2, 0i64..2),
        seed in any::<u32>(),
    ) {
        let mut a = Attrs::default();
        a.set("kernel_shape", ints(&kernel));
        a.set("strides", ints(&strides));
        a.set("pads", ints(&pads));
        a.set("auto_pad", AttrValue::String(ap.into()));
        a.set("ceil_mode", AttrValue::Int(ceil));
        a.set("count_include_pad", AttrValue::Int(cip));
        let op = Op::parse(kind, &a, 19, &[]).unwrap().unwrap();
        let x = filled(vec![1, c, h, w], seed);
        infer_and_eval(&op, &[Some(&x)])?;
    }

    #[test]
    fn gemm_shapes_and_attributes(
        (m, k, n) in (0usize..4, 0usize..4, 0usize..4),
        trans_b in any::<bool>(),
        c_shape in prop::sample::select(vec![vec![], vec![1], vec![3], vec![1, 3], vec![2, 1], vec![2, 3], vec![3, 3]]),
        with_c in any::<bool>(),
        b_rows in 0usize..4,
        seed in any::<u32>(),
    ) {
        let mut a = Attrs::default();
        a.set("transB", AttrValue::Int(trans_b as i64));
        a.set("beta", AttrValue::Float(0.5));
        let op = Op::parse("Gemm", &a, 13, &[]).unwrap().unwrap();
        let x = filled(vec![m, k], seed);
        let b = filled(if trans_b { vec![n, b_rows] } else { vec![b_rows, n] }, seed ^ 1);
        let c = filled(c_shape, seed ^ 2);
        let mut args = vec![Some(&x), Some(&b)];
        if with_c {
            args.push(Some(&c));
        }
        infer_and_eval(&op, &args)?;
    }
}
