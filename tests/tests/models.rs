//! The ONNX writer and the model builders: every model loads through the front end, the
//! torchvision architectures have torchvision's parameter counts, and calibrated
//! BatchNorm statistics keep activations O(1).

use qforge::frontend::{build_graph, onnx};
use qforge::interp;
use qforge::ir::{Array, RawGraph};
use qforge_tests::calibrate::calibrate_batchnorm;
use qforge_tests::onnx_writer::{attr, Dim, ModelBuilder};
use qforge_tests::rng::Rng;
use qforge_tests::{models, npy};

fn raw(bytes: &[u8]) -> RawGraph {
    onnx::from_bytes(bytes, "test.onnx").expect("the model should load")
}

/// Trainable parameters as PyTorch counts them: every `.weight` and `.bias` element.
fn params(raw: &RawGraph) -> usize {
    raw.initializers.iter().filter(|(n, _)| n.ends_with(".weight") || n.ends_with(".bias")).map(|(_, a)| a.len()).sum()
}

fn op_count(raw: &RawGraph, op: &str) -> usize {
    raw.nodes.iter().filter(|n| n.op_type == op).count()
}

#[test]
fn writer_round_trip() {
    let mut mb = ModelBuilder::new(3).with_opset(17);
    let x = mb.input("x", &[1, 2, 6, 6]);
    let y = mb.conv(&x, 4, 3, 2, 1, 2, true);
    let y = mb.relu6(&y);
    mb.output(&y);
    let raw = raw(&mb.finish());
    assert_eq!(raw.opset, 17);
    assert_eq!(raw.inputs.len(), 1);
    assert_eq!((raw.inputs[0].name.as_str(), raw.inputs[0].shape.as_slice()), ("x", &[1, 2, 6, 6][..]));
    assert_eq!(raw.outputs, vec![y.clone()]);
    let ops: Vec<&str> = raw.nodes.iter().map(|n| n.op_type.as_str()).collect();
    assert_eq!(ops, ["Conv", "Clip"]);
    let conv = &raw.nodes[0];
    assert_eq!(conv.inputs, vec!["x", "conv_1.weight", "conv_1.bias"]);
    assert_eq!(conv.attrs.int("group", 0), Ok(2));
    assert_eq!(conv.attrs.ints("strides").unwrap(), Some(vec![2, 2]));
    assert_eq!(conv.attrs.ints("pads").unwrap(), Some(vec![1, 1, 1, 1]));
    assert_eq!(raw.nodes[1].inputs, vec![conv.outputs[0].as_str(), "relu6.min", "relu6.max"]);
    let w = &raw.initializers.iter().find(|(n, _)| n == "conv_1.weight").unwrap().1;
    assert_eq!(w.shape, vec![4, 1, 3, 3]);
    assert_eq!(w.data, mb.initializer_data("conv_1.weight").unwrap());
    let bound = &raw.initializers.iter().find(|(n, _)| n == "relu6.max").unwrap().1;
    assert_eq!(*bound, Array::new(vec![], vec![6.0]));
}

#[test]
fn raw_data_and_float_data_read_the_same() {
    let build = |float_data: bool| {
        let mut mb = ModelBuilder::new(9).with_float_data(float_data);
        let x = mb.input("x", &[1, 3, 4, 4]);
        let y = mb.conv(&x, 2, 1, 1, 0, 1, true);
        let y = mb.batch_norm(&y);
        mb.output(&y);
        mb.finish()
    };
    let (a, b) = (build(false), build(true));
    assert_ne!(a, b);
    assert_eq!(raw(&a).initializers, raw(&b).initializers);
}

#[test]
fn opset_10_relu6_uses_attributes_and_is_rejected_by_the_front_end() {
    let mut mb = ModelBuilder::new(1).with_opset(10);
    let x = mb.input("x", &[1, 1, 2, 2]);
    let y = mb.relu6(&x);
    mb.output(&y);
    let model = mb.model();
    let clip = &model.graph.as_ref().unwrap().node[0];
    assert_eq!(clip.attribute.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(), ["min", "max"]);
    let e = onnx::from_bytes(&mb.finish(), "old.onnx").unwrap_err().to_string();
    assert!(e.starts_with("old.onnx") && e.contains("opset 10"), "{e}");
}

#[test]
fn symbolic_batch_and_constant_through_the_writer() {
    let mut mb = ModelBuilder::new(1);
    let dims = [Dim::Symbolic("batch".into()), Dim::Fixed(2)];
    mb.input_dims("x", &dims, qforge::frontend::onnx::proto::tensor_proto::DataType::Float);
    mb.node("Constant", &[], &["k"], vec![attr::tensor("value", &[2], &[1.0, 2.0])]);
    mb.node("Add", &["x", "k"], &["y"], vec![attr::string("note", "x")]);
    mb.output("y");
    let raw = raw(&mb.finish());
    assert_eq!(raw.inputs[0].shape, vec![1, 2]);
    assert_eq!(raw.notes, vec!["input 'x': symbolic batch dimension 'batch' set to 1".to_string()]);
    let g = build_graph(raw).unwrap();
    let k = g.tensors.iter().find(|t| t.name == "k").unwrap();
    assert_eq!(k.data.as_deref(), Some(&Array::new(vec![2], vec![1.0, 2.0])));
}

#[test]
fn every_model_loads_and_builds() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("tiny_cnn", models::tiny_cnn()),
        ("resnet_basic", models::resnet_basic_builder(16).finish()),
        ("vgg_stack", models::vgg_stack(16)),
        ("concat_net", models::concat_net(12)),
        ("matmul_net", models::matmul_net()),
        ("mobilenet_v2", models::mobilenet_v2_builder(32, 10).finish()),
        ("resnet18", models::resnet18_builder(32, 10).finish()),
    ];
    for (name, bytes) in cases {
        let raw = raw(&bytes);
        assert_eq!(raw.opset, 13, "{name}");
        assert_eq!(raw.inputs.len(), 1, "{name}");
        assert_eq!(raw.outputs.len(), 1, "{name}");
        let g = build_graph(raw).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!g.nodes.is_empty(), "{name}");
    }
}

#[test]
fn small_models_have_the_ops_they_exercise() {
    let tiny = raw(&models::tiny_cnn());
    let ops: Vec<&str> = tiny.nodes.iter().map(|n| n.op_type.as_str()).collect();
    let expected = ["Conv", "BatchNormalization", "Relu", "MaxPool", "Conv", "GlobalAveragePool", "Flatten", "Gemm"];
    assert_eq!(ops, expected);
    assert_eq!(tiny.inputs[0].shape, vec![1, 1, 8, 8]);
    let concat = raw(&models::concat_net(12));
    assert_eq!(op_count(&concat, "Concat"), 2);
    let pools: Vec<i64> = concat
        .nodes
        .iter()
        .filter(|n| n.op_type == "AveragePool")
        .map(|n| n.attrs.int("count_include_pad", -1).unwrap())
        .collect();
    assert_eq!(pools, [0, 1]);
    let mm = raw(&models::matmul_net());
    assert_eq!((op_count(&mm, "MatMul"), op_count(&mm, "Reshape")), (1, 1));
    let shape = &mm.initializers.iter().find(|(n, _)| n.ends_with(".shape")).unwrap().1;
    assert_eq!(shape.data, vec![1.0, -1.0]);
    let rn = raw(&models::resnet_basic_builder(16).finish());
    assert_eq!((op_count(&rn, "Add"), op_count(&rn, "BatchNormalization")), (2, 6));
}

#[test]
fn mobilenet_v2_matches_torchvision() {
    let raw = raw(&models::mobilenet_v2_builder(32, 1000).finish());
    assert_eq!(params(&raw), 3_504_872);
    assert_eq!(op_count(&raw, "Conv"), 52);
    assert_eq!(op_count(&raw, "BatchNormalization"), 52);
    assert_eq!(op_count(&raw, "Clip"), 35);
    assert_eq!(op_count(&raw, "Add"), 10);
    let gemm = raw.nodes.iter().find(|n| n.op_type == "Gemm").unwrap();
    assert_eq!(gemm.attrs.int("transB", 0), Ok(1));
    let depthwise = raw.nodes.iter().filter(|n| n.op_type == "Conv" && n.attrs.int("group", 1).unwrap() > 1).count();
    assert_eq!(depthwise, 17);
}

#[test]
fn resnet18_and_vgg16_match_torchvision() {
    let r = raw(&models::resnet18_builder(32, 1000).finish());
    assert_eq!(params(&r), 11_689_512);
    assert_eq!((op_count(&r, "Conv"), op_count(&r, "Add")), (20, 8));
    // At 32 x 32 the final map is 1 x 1, so the first classifier layer takes 512 inputs
    // instead of 512 * 7 * 7: 138,357,544 - (25088 - 512) * 4096 - 1000 * 4096 + 10 * 4096.
    let v = raw(&models::vgg16(32, 10));
    assert_eq!(params(&v), 138_357_544 - (25_088 - 512) * 4096 - 990 * 4097);
    assert_eq!((op_count(&v, "Conv"), op_count(&v, "MaxPool"), op_count(&v, "Gemm")), (13, 5, 3));
}

#[test]
fn builders_are_reproducible() {
    assert_eq!(models::tiny_cnn(), models::tiny_cnn());
    assert_eq!(models::concat_net(8), models::concat_net(8));
}

#[test]
fn calibrated_batchnorm_keeps_activations_order_one() {
    let mut mb = models::mobilenet_v2_builder(64, 10);
    calibrate_batchnorm(&mut mb, 4, 11).unwrap();
    // The first BatchNorm sees a conv of N(0, 1) data: its statistics are those of the
    // data now, not the N(0, 0.1) / U(0.5, 1.5) draws.
    let var = mb.initializer_data("bn_2.running_var").unwrap();
    assert!(var.iter().any(|&v| v > 2.0), "{var:?}");
    // On a fresh input, every BatchNorm output and the logits stay O(1).
    let g = build_graph(raw(&mb.finish())).unwrap();
    let x = Array::new(vec![1, 3, 64, 64], Rng::new(5).normals(3 * 64 * 64, 1.0));
    let mut rms = Vec::new();
    interp::run(&g, &[x], |id, a| {
        let name = &g.tensors[id].name;
        if name.starts_with("bn_") || name.starts_with("gemm_") {
            let ms = a.data.iter().map(|v| v * v).sum::<f32>() / a.len() as f32;
            rms.push((name.clone(), ms.sqrt()));
        }
    })
    .unwrap();
    assert_eq!(rms.len(), 53);
    for (name, r) in &rms {
        assert!((0.2..10.0).contains(r), "{name}: rms {r} after calibration");
    }
}

#[test]
fn npy_header_is_aligned() {
    let bytes = npy::encode_f32(&[2, 3], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    assert_eq!((10 + header_len) % 64, 0);
    let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
    assert!(header.starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"), "{header}");
    assert!(header.ends_with('\n'));
    assert_eq!(bytes.len(), 10 + header_len + 24);
    assert_eq!(&bytes[10 + header_len + 4..10 + header_len + 8], &1.0f32.to_le_bytes());
    let one_d = npy::encode_f32(&[3], &[0.0; 3]);
    assert!(std::str::from_utf8(&one_d[10..70]).unwrap().contains("'shape': (3,)"));
}
