//! Every pass, on every test model: the IR verifies after it, and the fp32 outputs with and
//! without it agree (bit for bit for pure rewiring passes, within a stated tolerance for
//! the BatchNorm fold, which re-rounds weights in f32).

use qforge::frontend::{build_graph, onnx};
use qforge::ir::{Array, Graph};
use qforge::passes::{self, PIPELINE};
use qforge_tests::models;
use qforge_tests::rng::Rng;

/// Largest |a - b| relative to the largest |a|, over all outputs.
fn relative_error(a: &[f32], b: &[f32]) -> f64 {
    let scale = a.iter().fold(0f64, |m, v| m.max(v.abs() as f64)).max(1e-12);
    a.iter().zip(b).fold(0f64, |m, (x, y)| m.max((*x as f64 - *y as f64).abs())) / scale
}

fn outputs(g: &Graph, inputs: &[Array]) -> Vec<f32> {
    inputs.iter().flat_map(|x| qforge::interp::run_simple(g, x).expect("fp32 run").data).collect()
}

/// Runs the pipeline one pass at a time, comparing each step with the one before.
fn check_passes(name: &str, onnx_bytes: Vec<u8>, input_shape: &[usize]) {
    let raw = onnx::from_bytes(&onnx_bytes, name).expect("read model");
    let mut g = build_graph(raw).expect("build graph");
    let mut rng = Rng::new(7);
    let len: usize = input_shape.iter().product();
    let inputs: Vec<Array> = (0..3).map(|_| Array::new(input_shape.to_vec(), rng.normals(len, 1.0))).collect();
    passes::infer_shapes(&mut g).expect("infer shapes");
    let mut before = outputs(&g, &inputs);
    for pass in PIPELINE {
        let nodes_before = g.nodes.len();
        (pass.run)(&mut g).unwrap_or_else(|e| panic!("{name}: pass {} failed: {e}", pass.name));
        qforge::ir::verify(&g).unwrap_or_else(|e| panic!("{name}: IR invalid after {}: {e}", pass.name));
        let after = outputs(&g, &inputs);
        let err = relative_error(&before, &after);
        // Folding BatchNorm re-rounds each weight once in f32 (relative 2^-24) and changes
        // the summation order; 1e-4 of the output range leaves room for deep nets.
        let tolerance = if pass.name == "fold-batch-norm" { 1e-4 } else { 0.0 };
        assert!(err <= tolerance, "{name}: pass {} changed outputs by {err:e} (tolerance {tolerance:e})", pass.name);
        eprintln!(
            "{name}: {:<16} {nodes_before:>3} -> {:>3} nodes, relative error {err:.2e}",
            pass.name,
            g.nodes.len()
        );
        before = after;
    }
}

#[test]
fn passes_preserve_tiny_cnn() {
    check_passes("tiny_cnn", models::tiny_cnn(), &[1, 1, 8, 8]);
}

#[test]
fn passes_preserve_mobilenet_v2() {
    check_passes("mobilenet_v2", models::mobilenet_v2(32, 10), &[1, 3, 32, 32]);
}

#[test]
fn passes_preserve_resnet_basic() {
    check_passes("resnet_basic", models::resnet_basic(32), &[1, 3, 32, 32]);
}

#[test]
fn passes_preserve_vgg_stack() {
    check_passes("vgg_stack", models::vgg_stack(32), &[1, 3, 32, 32]);
}

#[test]
fn passes_preserve_concat_net() {
    check_passes("concat_net", models::concat_net(16), &[1, 3, 16, 16]);
}

#[test]
fn passes_preserve_matmul_net() {
    check_passes("matmul_net", models::matmul_net(), &[1, 1, 8, 8]);
}

#[test]
fn passes_fuse_the_digits_model() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/digits/digits.onnx");
    let bytes = std::fs::read(&path).expect("digits model");
    check_passes("digits", bytes, &[1, 1, 8, 8]);
    // The pipeline folds all 4 BatchNorms and fuses the 4 Relus into their producers.
    let mut g =
        build_graph(onnx::from_bytes(&std::fs::read(&path).expect("digits"), "digits").expect("read")).expect("build");
    passes::optimize(&mut g).expect("optimize");
    let ops: Vec<&str> = g.nodes.iter().map(|n| n.op.type_name()).collect();
    assert_eq!(ops, ["Conv", "Conv", "Conv", "Conv", "Add", "GlobalAveragePool", "Flatten", "Gemm"]);
}

#[test]
fn passes_fold_the_linear_bias_adds() {
    check_passes("linear_net", models::linear_net(), &[1, 1, 8, 8]);
    let mut g = build_graph(onnx::from_bytes(&models::linear_net(), "linear").expect("read")).expect("build");
    passes::optimize(&mut g).expect("optimize");
    let ops: Vec<&str> = g.nodes.iter().map(|n| n.op.type_name()).collect();
    assert_eq!(ops, ["Reshape", "MatMul", "MatMul", "Reshape"], "both bias Adds and the Relu fold away");
}
