//! The ONNX front end: models encoded here with the proto structs are read back into a
//! `RawGraph`, and every malformed input is an error naming the file.

use prost::Message;
use qforge::frontend::onnx::{self, proto::*};
use qforge::ir::{Array, AttrValue, RawInput};
use qforge::Error;
use tensor_proto::{DataLocation, DataType};
use tensor_shape_proto::{dimension, Dimension};

const FILE: &str = "model.onnx";

fn dim(v: i64) -> Dimension {
    Dimension { value: Some(dimension::Value::DimValue(v)), ..Default::default() }
}

fn sym(p: &str) -> Dimension {
    Dimension { value: Some(dimension::Value::DimParam(p.into())), ..Default::default() }
}

fn value(name: &str, elem: DataType, dims: Vec<Dimension>) -> ValueInfoProto {
    let tensor = type_proto::Tensor { elem_type: elem as i32, shape: Some(TensorShapeProto { dim: dims }) };
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto { value: Some(type_proto::Value::TensorType(tensor)), ..Default::default() }),
        ..Default::default()
    }
}

fn f32_raw(name: &str, dims: &[i64], data: &[f32]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: DataType::Float as i32,
        raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

fn attr_ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: attribute_proto::AttributeType::Ints as i32,
        ints: v.to_vec(),
        ..Default::default()
    }
}

fn node(op: &str, inputs: &[&str], outputs: &[&str], attrs: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        name: format!("{op}_0"),
        op_type: op.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        attribute: attrs,
        ..Default::default()
    }
}

/// x [N,2,4,4] -> Conv(w [3,2,1,1], b) -> Relu -> y.
fn conv_model() -> ModelProto {
    let graph = GraphProto {
        name: "g".into(),
        node: vec![
            node("Conv", &["x", "w", "b"], &["c"], vec![attr_ints("kernel_shape", &[1, 1])]),
            node("Relu", &["c"], &["y"], vec![]),
        ],
        initializer: vec![
            f32_raw("w", &[3, 2, 1, 1], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
            TensorProto {
                name: "b".into(),
                dims: vec![3],
                data_type: DataType::Float as i32,
                float_data: vec![0.5, -0.5, 0.25],
                ..Default::default()
            },
        ],
        input: vec![value("x", DataType::Float, vec![dim(1), dim(2), dim(4), dim(4)])],
        output: vec![value("y", DataType::Float, vec![dim(1), dim(3), dim(4), dim(4)])],
        ..Default::default()
    };
    ModelProto {
        ir_version: 7,
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: 13 }],
        graph: Some(graph),
        ..Default::default()
    }
}

fn load(m: &ModelProto) -> qforge::Result<qforge::ir::RawGraph> {
    onnx::from_bytes(&m.encode_to_vec(), FILE)
}

fn graph(m: &mut ModelProto) -> &mut GraphProto {
    m.graph.as_mut().unwrap()
}

/// The error's message, which must name the file.
fn err_msg(r: qforge::Result<qforge::ir::RawGraph>) -> String {
    let msg = r.expect_err("expected an error").to_string();
    assert!(msg.starts_with(FILE), "the message does not name the file: {msg}");
    msg
}

#[test]
fn round_trip_keeps_every_field() {
    let raw = load(&conv_model()).unwrap();
    assert_eq!(raw.source, FILE);
    assert_eq!(raw.opset, 13);
    assert_eq!(raw.inputs, vec![RawInput { name: "x".into(), shape: vec![1, 2, 4, 4] }]);
    assert_eq!(raw.outputs, vec!["y".to_string()]);
    assert!(raw.notes.is_empty());
    assert_eq!(raw.nodes.len(), 2);
    let conv = &raw.nodes[0];
    assert_eq!((conv.name.as_str(), conv.op_type.as_str(), conv.domain.as_str()), ("Conv_0", "Conv", ""));
    assert_eq!(conv.inputs, vec!["x", "w", "b"]);
    assert_eq!(conv.outputs, vec!["c"]);
    assert_eq!(conv.attrs.ints("kernel_shape").unwrap(), Some(vec![1, 1]));
    assert_eq!(raw.nodes[1].op_type, "Relu");
    // raw_data and float_data initializers read the same way.
    assert_eq!(raw.initializers[0], ("w".to_string(), Array::new(vec![3, 2, 1, 1], vec![1., 2., 3., 4., 5., 6.])));
    assert_eq!(raw.initializers[1], ("b".to_string(), Array::new(vec![3], vec![0.5, -0.5, 0.25])));
}

#[test]
fn load_reads_a_file() {
    let path = std::env::temp_dir().join(format!("qforge_onnx_frontend_{}.onnx", std::process::id()));
    std::fs::write(&path, conv_model().encode_to_vec()).unwrap();
    let raw = onnx::load(&path).unwrap();
    std::fs::remove_file(&path).ok();
    assert_eq!(raw.source, path.display().to_string());
    assert_eq!(raw.nodes.len(), 2);
}

#[test]
fn initializers_listed_as_inputs_are_not_inputs() {
    let mut m = conv_model();
    let w = value("w", DataType::Float, vec![dim(3), dim(2), dim(1), dim(1)]);
    graph(&mut m).input.push(w);
    let raw = load(&m).unwrap();
    assert_eq!(raw.inputs.len(), 1);
    assert_eq!(raw.inputs[0].name, "x");
}

#[test]
fn other_element_types_convert_to_f32() {
    let mut m = conv_model();
    let g = graph(&mut m);
    let t = |name: &str, dt: DataType| TensorProto {
        name: name.into(),
        dims: vec![2],
        data_type: dt as i32,
        ..Default::default()
    };
    g.initializer.push(TensorProto { int64_data: vec![1, -1], ..t("i64", DataType::Int64) });
    g.initializer.push(TensorProto {
        raw_data: [7i64, 0].iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..t("i64_raw", DataType::Int64)
    });
    g.initializer.push(TensorProto { int32_data: vec![3, -4], ..t("i32", DataType::Int32) });
    g.initializer.push(TensorProto { double_data: vec![0.5, 2.0], ..t("f64", DataType::Double) });
    g.initializer.push(TensorProto {
        raw_data: [1.5f64, -2.5].iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..t("f64_raw", DataType::Double)
    });
    g.initializer.push(TensorProto { float_data: vec![9.0], dims: vec![], ..t("scalar", DataType::Float) });
    let raw = load(&m).unwrap();
    let get = |n: &str| raw.initializers.iter().find(|(name, _)| name == n).unwrap().1.clone();
    assert_eq!(get("i64").data, vec![1.0, -1.0]);
    assert_eq!(get("i64_raw").data, vec![7.0, 0.0]);
    assert_eq!(get("i32").data, vec![3.0, -4.0]);
    assert_eq!(get("f64").data, vec![0.5, 2.0]);
    assert_eq!(get("f64_raw").data, vec![1.5, -2.5]);
    assert_eq!(get("scalar"), Array::new(vec![], vec![9.0]));
}

#[test]
fn constant_nodes_keep_their_tensor() {
    let mut m = conv_model();
    let value = AttributeProto {
        name: "value".into(),
        r#type: attribute_proto::AttributeType::Tensor as i32,
        t: Some(f32_raw("", &[2], &[0.0, 6.0])),
        ..Default::default()
    };
    let g = graph(&mut m);
    g.node.insert(0, node("Constant", &[], &["k"], vec![value]));
    let raw = load(&m).unwrap();
    let k = &raw.nodes[0];
    assert_eq!(k.op_type, "Constant");
    assert_eq!(k.outputs, vec!["k"]);
    assert_eq!(k.attrs.0.get("value"), Some(&AttrValue::Tensor(Array::new(vec![2], vec![0.0, 6.0]))));
}

#[test]
fn scalar_and_string_attributes() {
    let mut m = conv_model();
    let a = |name: &str, t: attribute_proto::AttributeType| AttributeProto {
        name: name.into(),
        r#type: t as i32,
        ..Default::default()
    };
    use attribute_proto::AttributeType as T;
    graph(&mut m).node[1].attribute = vec![
        AttributeProto { i: 3, ..a("i", T::Int) },
        AttributeProto { f: 0.25, ..a("f", T::Float) },
        AttributeProto { floats: vec![1.0, 2.0], ..a("fs", T::Floats) },
        AttributeProto { s: b"SAME_UPPER".to_vec(), ..a("s", T::String) },
    ];
    let raw = load(&m).unwrap();
    let attrs = &raw.nodes[1].attrs;
    assert_eq!(attrs.int("i", 0), Ok(3));
    assert_eq!(attrs.float("f", 0.0), Ok(0.25));
    assert_eq!(attrs.0.get("fs"), Some(&AttrValue::Floats(vec![1.0, 2.0])));
    assert_eq!(attrs.string("s", ""), Ok("SAME_UPPER".to_string()));
}

#[test]
fn node_domain_is_kept() {
    let mut m = conv_model();
    graph(&mut m).node[1].domain = "com.microsoft".into();
    let raw = load(&m).unwrap();
    assert_eq!(raw.nodes[1].domain, "com.microsoft");
}

#[test]
fn symbolic_batch_is_set_to_one_with_a_note() {
    let mut m = conv_model();
    graph(&mut m).input[0] = value("x", DataType::Float, vec![sym("N"), dim(2), dim(4), dim(4)]);
    let raw = load(&m).unwrap();
    assert_eq!(raw.inputs[0].shape, vec![1, 2, 4, 4]);
    assert_eq!(raw.notes, vec!["input 'x': symbolic batch dimension 'N' set to 1".to_string()]);
}

#[test]
fn unknown_batch_is_set_to_one_with_a_note() {
    let mut m = conv_model();
    let unknown = Dimension::default();
    graph(&mut m).input[0] = value("x", DataType::Float, vec![unknown, dim(2), dim(4), dim(4)]);
    let raw = load(&m).unwrap();
    assert_eq!(raw.inputs[0].shape, vec![1, 2, 4, 4]);
    assert_eq!(raw.notes, vec!["input 'x': unknown batch dimension set to 1".to_string()]);
}

#[test]
fn accepted_opsets_and_ai_onnx_domain() {
    for opset in [11, 21] {
        let mut m = conv_model();
        m.opset_import = vec![
            OperatorSetIdProto { domain: "com.microsoft".into(), version: 1 },
            OperatorSetIdProto { domain: "ai.onnx".into(), version: opset },
        ];
        assert_eq!(load(&m).unwrap().opset, opset);
    }
}

#[test]
fn missing_file_is_an_io_error() {
    let path = std::path::Path::new("/nonexistent/qforge/model.onnx");
    let e = onnx::load(path).unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e:?}");
    assert!(e.to_string().starts_with("/nonexistent/qforge/model.onnx"), "{e}");
}

#[test]
fn random_bytes_are_not_onnx() {
    let mut state = 0x1234_5678u32;
    let bytes: Vec<u8> = (0..4096)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect();
    let msg = err_msg(onnx::from_bytes(&bytes, FILE));
    assert!(msg.contains("not an ONNX model"), "{msg}");
    let msg = err_msg(onnx::from_bytes(b"{\"nodes\": []}", FILE));
    assert!(msg.contains("not an ONNX model"), "{msg}");
    let msg = err_msg(onnx::from_bytes(b"", FILE));
    assert!(msg.contains("not an ONNX model"), "{msg}");
}

#[test]
fn truncated_model_is_an_error() {
    let bytes = conv_model().encode_to_vec();
    for cut in [bytes.len() / 2, bytes.len() - 1] {
        let msg = err_msg(onnx::from_bytes(&bytes[..cut], FILE));
        assert!(msg.contains("not an ONNX model (protobuf decode failed"), "{msg}");
        assert!(msg.contains("may be truncated"), "{msg}");
    }
}

#[test]
fn empty_graph_is_not_onnx() {
    let mut m = conv_model();
    graph(&mut m).node.clear();
    assert!(err_msg(load(&m)).contains("not an ONNX model (the graph has no nodes)"));
    m.graph = None;
    assert!(err_msg(load(&m)).contains("not an ONNX model (no graph)"));
}

#[test]
fn unsupported_opset_is_named() {
    for opset in [10, 22] {
        let mut m = conv_model();
        m.opset_import[0].version = opset;
        let msg = err_msg(load(&m));
        assert!(msg.contains(&format!("opset {opset} is not supported")), "{msg}");
        assert!(msg.contains("11 to 21"), "{msg}");
    }
    let mut m = conv_model();
    m.opset_import.clear();
    assert!(err_msg(load(&m)).contains("imports no opset"));
}

#[test]
fn external_data_is_an_error() {
    let mut m = conv_model();
    let w = &mut graph(&mut m).initializer[0];
    w.raw_data.clear();
    w.data_location = DataLocation::External as i32;
    w.external_data = vec![StringStringEntryProto { key: "location".into(), value: "weights.bin".into() }];
    let msg = err_msg(load(&m));
    assert!(msg.contains("tensor 'w'") && msg.contains("external file ('weights.bin')"), "{msg}");
}

#[test]
fn raw_data_length_must_match_dims() {
    let mut m = conv_model();
    graph(&mut m).initializer[0].raw_data.truncate(20);
    let msg = err_msg(load(&m));
    assert!(msg.contains("tensor 'w'") && msg.contains("raw_data holds 20 bytes") && msg.contains("need 24"), "{msg}");
    let mut m = conv_model();
    graph(&mut m).initializer[1].float_data.push(1.0);
    let msg = err_msg(load(&m));
    assert!(msg.contains("tensor 'b'") && msg.contains("holds 4 values"), "{msg}");
}

#[test]
fn unsupported_element_type_is_named() {
    let mut m = conv_model();
    let w = &mut graph(&mut m).initializer[0];
    w.data_type = DataType::Float16 as i32;
    let msg = err_msg(load(&m));
    assert!(msg.contains("tensor 'w'") && msg.contains("FLOAT16"), "{msg}");
}

#[test]
fn symbolic_non_batch_dim_is_an_error() {
    let mut m = conv_model();
    graph(&mut m).input[0] = value("x", DataType::Float, vec![dim(1), dim(2), sym("height"), dim(4)]);
    let msg = err_msg(load(&m));
    assert!(msg.contains("tensor 'x'") && msg.contains("axis 2") && msg.contains("'height'"), "{msg}");
}

#[test]
fn non_float_input_is_an_error() {
    let mut m = conv_model();
    graph(&mut m).input[0] = value("x", DataType::Int64, vec![dim(1), dim(2), dim(4), dim(4)]);
    let msg = err_msg(load(&m));
    assert!(msg.contains("tensor 'x'") && msg.contains("INT64") && msg.contains("float32"), "{msg}");
}

#[test]
fn graph_attribute_is_a_node_error() {
    let mut m = conv_model();
    graph(&mut m).node[1].attribute.push(AttributeProto {
        name: "then_branch".into(),
        r#type: attribute_proto::AttributeType::Graph as i32,
        ..Default::default()
    });
    let msg = err_msg(load(&m));
    assert!(msg.contains("node 'Relu_0' (Relu)") && msg.contains("'then_branch'") && msg.contains("GRAPH"), "{msg}");
}
