//! The fp32 interpreter on a hand-built graph (Conv -> Relu -> Flatten -> Gemm) against a
//! hand computation; `observe` sees every tensor once, in order; errors name the tensor
//! or node.

use qforge::interp::{run, run_simple};
use qforge::ir::{Array, AttrValue, Attrs, Graph, Node, TensorId};
use qforge::ops::Op;
use qforge::Error;

fn arr(shape: &[usize], data: &[f32]) -> Array {
    Array::new(shape.to_vec(), data.to_vec())
}

fn parse(op_type: &str, attrs: &Attrs) -> Op {
    Op::parse(op_type, attrs, 17, &[]).unwrap().unwrap()
}

fn node(g: &mut Graph, name: &str, op: Op, inputs: &[TensorId], output: &str) -> TensorId {
    let out = g.add_tensor(output, None, None);
    g.nodes.push(Node { name: name.into(), op, inputs: inputs.iter().map(|&i| Some(i)).collect(), outputs: vec![out] });
    out
}

/// x [1, 1, 2, 2] -> Conv (1x1, 2 output channels, bias) -> Relu -> Flatten -> Gemm (transB).
fn tiny() -> (Graph, [TensorId; 5]) {
    let mut g = Graph { source: "tiny.onnx".into(), ..Default::default() };
    let x = g.add_tensor("x", Some(vec![1, 1, 2, 2]), None);
    g.inputs.push(x);
    let w = g.add_const("conv.w", arr(&[2, 1, 1, 1], &[1.0, -1.0]));
    let b = g.add_const("conv.b", arr(&[2], &[0.0, 1.0]));
    let c = node(&mut g, "conv", parse("Conv", &Attrs::default()), &[x, w, b], "c");
    let r = node(&mut g, "relu", Op::Relu, &[c], "r");
    let f = node(&mut g, "flatten", parse("Flatten", &Attrs::default()), &[r], "f");
    let mut ga = Attrs::default();
    ga.set("transB", AttrValue::Int(1));
    let fc_w = g.add_const(
        "fc.w",
        arr(&[2, 8], &[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]),
    );
    let fc_b = g.add_const("fc.b", arr(&[2], &[0.5, -1.0]));
    let y = node(&mut g, "fc", parse("Gemm", &ga), &[f, fc_w, fc_b], "y");
    g.outputs.push(y);
    qforge::ir::verify(&g).unwrap();
    (g, [x, c, r, f, y])
}

#[test]
fn tiny_graph_by_hand() {
    let (g, ids) = tiny();
    // x = [1, -2, 3, 4].
    // Conv: channel 0 = x = [1, -2, 3, 4]; channel 1 = -x + 1 = [0, 3, -2, -3].
    // Relu: [1, 0, 3, 4, 0, 3, 0, 0] (flattened).
    // Gemm row 0 (all ones): 1 + 3 + 4 + 3 = 11, + 0.5 = 11.5.
    // Gemm row 1 ([1..8]): 1*1 + 3*3 + 4*4 + 3*6 = 44, - 1 = 43.
    let x = arr(&[1, 1, 2, 2], &[1.0, -2.0, 3.0, 4.0]);
    let mut seen: Vec<(TensorId, Array)> = Vec::new();
    let out = run(&g, std::slice::from_ref(&x), |id, a| seen.push((id, a.clone()))).unwrap();
    assert_eq!(out, vec![arr(&[1, 2], &[11.5, 43.0])]);
    // Every activation once, in order: input first, then each node output as computed.
    assert_eq!(seen.iter().map(|(id, _)| *id).collect::<Vec<_>>(), ids.to_vec());
    assert_eq!(seen[0].1, x);
    assert_eq!(seen[1].1, arr(&[1, 2, 2, 2], &[1.0, -2.0, 3.0, 4.0, 0.0, 3.0, -2.0, -3.0]));
    assert_eq!(seen[2].1, arr(&[1, 2, 2, 2], &[1.0, 0.0, 3.0, 4.0, 0.0, 3.0, 0.0, 0.0]));
    assert_eq!(seen[3].1, arr(&[1, 8], &[1.0, 0.0, 3.0, 4.0, 0.0, 3.0, 0.0, 0.0]));
    assert_eq!(run_simple(&g, &x).unwrap(), arr(&[1, 2], &[11.5, 43.0]));
}

#[test]
fn outputs_read_by_later_nodes_and_fan_out_survive() {
    // x -> relu -> r; r is a graph output and also read twice by an Add: y = r + r.
    let mut g = Graph { source: "fan.json".into(), ..Default::default() };
    let x = g.add_tensor("x", Some(vec![3]), None);
    g.inputs.push(x);
    let r = node(&mut g, "relu", Op::Relu, &[x], "r");
    let y = node(&mut g, "add", parse("Add", &Attrs::default()), &[r, r], "y");
    let z = node(&mut g, "id", Op::Identity, &[y], "z");
    g.outputs = vec![z, r, x];
    let out = run(&g, &[arr(&[3], &[-1.0, 2.0, 3.0])], |_, _| {}).unwrap();
    assert_eq!(out, vec![arr(&[3], &[0.0, 4.0, 6.0]), arr(&[3], &[0.0, 2.0, 3.0]), arr(&[3], &[-1.0, 2.0, 3.0])]);
}

#[test]
fn wrong_input_shape_names_the_input() {
    let (g, _) = tiny();
    let err = run_simple(&g, &arr(&[1, 1, 1, 4], &[1.0; 4])).unwrap_err();
    assert!(matches!(&err, Error::Tensor { tensor, .. } if tensor == "x"), "{err:?}");
    assert_eq!(err.to_string(), "tiny.onnx: tensor 'x': expected shape [1, 1, 2, 2], got [1, 1, 1, 4]");
    let err = run(&g, &[], |_, _| {}).unwrap_err();
    assert_eq!(err.to_string(), "tiny.onnx: the model has 1 input(s) but 0 were given");
}

#[test]
fn op_errors_name_the_node() {
    // The graph declares no input shape, so a bad input reaches the Conv, which reports it.
    let (mut g, _) = tiny();
    g.tensors[g.inputs[0]].shape = None;
    let err = run_simple(&g, &arr(&[1, 3, 2, 2], &[0.0; 12])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "tiny.onnx: node 'conv' (Conv): input has 3 channels but the weights expect 1 (group 1)"
    );
}

#[test]
fn run_simple_needs_one_input_and_one_output() {
    let (mut g, ids) = tiny();
    g.outputs.push(ids[2]);
    let err = run_simple(&g, &arr(&[1, 1, 2, 2], &[0.0; 4])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "tiny.onnx: expected a model with one input and one output; this one has 1 input(s) and 2 output(s)"
    );
}
