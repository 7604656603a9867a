//! Pass behaviour on small hand-built graphs (equivalence on whole models is tested in
//! `tests/tests/passes.rs`).

use qforge::frontend::build_graph;
use qforge::ir::{Array, Attrs, RawGraph, RawInput, RawNode};
use qforge::ops::Op;

fn node(name: &str, op: &str, inputs: &[&str], outputs: &[&str]) -> RawNode {
    RawNode {
        name: name.into(),
        op_type: op.into(),
        domain: String::new(),
        attrs: Attrs::default(),
        inputs: inputs.iter().map(|s| s.to_string()).collect(),
        outputs: outputs.iter().map(|s| s.to_string()).collect(),
    }
}

fn graph(nodes: Vec<RawNode>, output: &str) -> RawGraph {
    RawGraph {
        source: "hand.onnx".into(),
        opset: 13,
        inputs: vec![RawInput { name: "x".into(), shape: vec![1, 4] }],
        outputs: vec![output.into()],
        nodes,
        initializers: vec![("w".into(), Array::new(vec![4, 4], (0..16).map(|i| i as f32 * 0.1).collect()))],
        notes: vec![],
    }
}

#[test]
fn dropout_with_an_unused_mask_is_removed() {
    let g = graph(
        vec![node("drop", "Dropout", &["x"], &["y", "mask"]), node("mm", "MatMul", &["y", "w"], &["out"])],
        "out",
    );
    let mut g = build_graph(g).expect("build");
    qforge::passes::optimize(&mut g).expect("optimize");
    let ops: Vec<&str> = g.nodes.iter().map(|n| n.op.type_name()).collect();
    assert_eq!(ops, ["MatMul"]);
}

#[test]
fn dropout_whose_mask_is_read_is_an_error_naming_the_node() {
    let nodes = vec![node("drop", "Dropout", &["x"], &["y", "mask"]), node("sum", "Add", &["y", "mask"], &["out"])];
    let mut g = build_graph(graph(nodes, "out")).expect("build");
    let err = qforge::passes::optimize(&mut g).expect_err("a used mask must be rejected").to_string();
    assert!(err.contains("hand.onnx") && err.contains("'drop'") && err.contains("mask"), "{err}");
}

#[test]
fn relu_after_matmul_is_fused_and_relu6_clamp_composes() {
    let nodes = vec![node("mm", "MatMul", &["x", "w"], &["m"]), node("r", "Relu", &["m"], &["out"])];
    let mut g = build_graph(graph(nodes, "out")).expect("build");
    qforge::passes::optimize(&mut g).expect("optimize");
    assert_eq!(g.nodes.len(), 1);
    match &g.nodes[0].op {
        Op::MatMul(m) => assert_eq!((m.act.min, m.act.max), (0.0, f32::INFINITY)),
        other => panic!("expected a fused MatMul, got {other:?}"),
    }
    // The fused node writes the activation's output name, so statistics keyed by it apply.
    assert_eq!(g.tensor(g.nodes[0].outputs[0]).name, "out");
}

/// Layer functions are named after their nodes, but never after the generated module's own
/// items (a node called `par` or `forward` must not clash with them).
#[test]
fn layer_functions_never_take_the_names_of_module_items() {
    let nodes = vec![
        node("forward", "MatMul", &["x", "w"], &["a"]),
        node("par", "Relu", &["a"], &["b"]),
        node("run_f32", "MatMul", &["b", "w"], &["c"]),
        node("profiled", "MatMul", &["c", "w"], &["out"]),
    ];
    let mut g = build_graph(graph(nodes, "out")).expect("build");
    qforge::passes::optimize(&mut g).expect("optimize");
    let sample = Array::new(vec![1, 4], vec![0.5, -1.0, 2.0, 0.25]);
    let stats = qforge::calib::calibrate(&g, &[sample], qforge::calib::Observer::MinMax, false).expect("calibrate");
    let program = qforge::quant::quantize(&g, &stats, "stats").expect("quantize");
    let names: Vec<String> = qforge::codegen::step_names(&program).iter().map(|n| n.to_string()).collect();
    for reserved in ["forward", "par", "run_f32", "profiled"] {
        assert!(!names.iter().any(|n| n == reserved), "{reserved} used as a layer name: {names:?}");
    }
    let unique: std::collections::HashSet<&String> = names.iter().collect();
    assert_eq!(unique.len(), names.len(), "{names:?}");
}
