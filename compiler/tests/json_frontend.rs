//! The native JSON + safetensors front end: a reference graph whose weights the Python
//! `safetensors` package wrote, and every error case, each naming its file (and node or
//! tensor).

use qforge::frontend::json;
use qforge::ir::{AttrValue, RawGraph};
use qforge::Error;
use safetensors::tensor::TensorView;
use safetensors::Dtype;
use std::path::{Path, PathBuf};

mod common;
use common::TempDir;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/json")
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A well-formed safetensors file.
fn safetensors(tensors: &[(&str, Dtype, &[usize], Vec<u8>)]) -> Vec<u8> {
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(name, dtype, shape, bytes)| (name.to_string(), TensorView::new(*dtype, shape.to_vec(), bytes).unwrap()))
        .collect();
    safetensors::serialize(views, None).unwrap()
}

/// A safetensors file written by hand: 8-byte little-endian header length, JSON header,
/// data. Nothing is checked, so the header may lie.
fn raw_safetensors(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

/// A one-conv graph reading `conv1.weight` and `conv1.bias`.
fn conv_graph(weights_field: Option<&str>) -> String {
    let weights = weights_field.map(|w| format!("\"weights\": \"{w}\",")).unwrap_or_default();
    format!(
        r#"{{
  "qforge_graph": 1,
  {weights}
  "inputs": [{{"name": "input", "shape": [1, 1, 4, 4]}}],
  "outputs": ["c1"],
  "nodes": [
    {{"name": "conv1", "op": "Conv", "inputs": ["input", "conv1.weight", "conv1.bias"], "outputs": ["c1"],
     "attrs": {{"kernel_shape": [1, 1]}}}}
  ]
}}"#
    )
}

fn conv_weights() -> Vec<u8> {
    safetensors(&[
        ("conv1.weight", Dtype::F32, &[1, 1, 1, 1], f32_bytes(&[2.0])),
        ("conv1.bias", Dtype::F32, &[1], f32_bytes(&[0.5])),
    ])
}

fn expect_err(result: qforge::Result<RawGraph>) -> Error {
    match result {
        Ok(_) => panic!("expected an error"),
        Err(e) => e,
    }
}

#[test]
fn reference_graph_reads_into_raw_graph() {
    let path = data_dir().join("tiny.json");
    let g = json::load(&path, None).unwrap();
    assert_eq!(g.source, path.display().to_string());
    assert_eq!(g.opset, 13);
    assert_eq!(g.inputs.len(), 1);
    assert_eq!(g.inputs[0].name, "input");
    assert_eq!(g.inputs[0].shape, vec![1, 1, 4, 4]);
    assert_eq!(g.outputs, vec!["logits".to_string()]);
    let names: Vec<&str> = g.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["conv1", "bn1", "", "pool", "flat", "fc"]);
    let ops: Vec<&str> = g.nodes.iter().map(|n| n.op_type.as_str()).collect();
    assert_eq!(ops, ["Conv", "BatchNormalization", "Relu", "GlobalAveragePool", "Reshape", "Gemm"]);
    assert!(g.nodes.iter().all(|n| n.domain.is_empty()));
    assert_eq!(g.nodes[0].inputs, ["input", "conv1.weight", "conv1.bias"]);
    assert_eq!(g.nodes[0].outputs, ["c1"]);

    // Attribute typing.
    let conv = &g.nodes[0].attrs.0;
    assert_eq!(conv["kernel_shape"], AttrValue::Ints(vec![3, 3]));
    assert_eq!(conv["pads"], AttrValue::Ints(vec![1, 1, 1, 1]));
    assert_eq!(conv["group"], AttrValue::Int(1));
    assert_eq!(conv["auto_pad"], AttrValue::String("NOTSET".into()));
    let bn = &g.nodes[1].attrs.0;
    assert_eq!(bn["epsilon"], AttrValue::Float(1e-5));
    assert_eq!(bn["momentum"], AttrValue::Float(0.9));
    assert!(g.nodes[2].attrs.0.is_empty());
    let gemm = &g.nodes[5].attrs.0;
    assert_eq!(gemm["transB"], AttrValue::Int(1));
    assert_eq!(gemm["alpha"], AttrValue::Float(1.0));
    assert_eq!(gemm["scales"], AttrValue::Floats(vec![1.0, 0.5]));
    assert_eq!(gemm["empty"], AttrValue::Ints(vec![]));

    // Weights in first-use order; `bn1.num_batches_tracked` is not read, so not loaded.
    let weight_names: Vec<&str> = g.initializers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        weight_names,
        [
            "conv1.weight",
            "conv1.bias",
            "bn1.weight",
            "bn1.bias",
            "bn1.running_mean",
            "bn1.running_var",
            "shape",
            "fc.weight",
            "fc.bias"
        ]
    );
    let w = |name: &str| &g.initializers.iter().find(|(n, _)| n == name).unwrap().1;
    assert_eq!(w("conv1.weight").shape, vec![2, 1, 3, 3]);
    assert_eq!(w("conv1.weight").data, (0..18).map(|i| i as f32 / 8.0 - 1.0).collect::<Vec<_>>());
    assert_eq!(w("conv1.bias").data, vec![0.5, -0.25]);
    // float16
    assert_eq!(w("bn1.weight").data, vec![1.0, 2.0]);
    assert_eq!(w("bn1.bias").data, vec![0.0, -1.5]);
    assert_eq!(w("bn1.running_mean").data, vec![0.125, 0.25]);
    assert_eq!(w("bn1.running_var").data, vec![1.0, 0.5]);
    // int64 shape
    assert_eq!(w("shape").shape, vec![2]);
    assert_eq!(w("shape").data, vec![1.0, -1.0]);
    // float64
    assert_eq!(w("fc.weight").shape, vec![3, 2]);
    assert_eq!(w("fc.weight").data, vec![0.0, 0.25, 0.5, 0.75, 1.0, 1.25]);
    // int32
    assert_eq!(w("fc.bias").data, vec![1.0, 2.0, 3.0]);
}

#[test]
fn default_opset_is_17_and_weights_argument_overrides_the_json() {
    let dir = TempDir::new("json-frontend", "override");
    // The JSON names a file that does not exist; the argument wins.
    let json_path = dir.write("g.json", conv_graph(Some("missing.safetensors")));
    let weights = dir.write("other.safetensors", conv_weights());
    let g = json::load(&json_path, Some(&weights)).unwrap();
    assert_eq!(g.opset, 17);
    assert_eq!(g.initializers.len(), 2);
    assert_eq!(g.initializers[0].1.data, vec![2.0]);

    // Without the argument, the named file is looked up next to the JSON file.
    let e = expect_err(json::load(&json_path, None));
    match &e {
        Error::Io { path, .. } => assert_eq!(path, &dir.0.join("missing.safetensors")),
        other => panic!("expected an I/O error, got {other:?}"),
    }
    assert!(e.to_string().contains("missing.safetensors"), "{e}");
}

#[test]
fn weights_named_in_the_json_are_relative_to_it() {
    let dir = TempDir::new("json-frontend", "relative");
    std::fs::create_dir_all(dir.0.join("sub")).unwrap();
    let json_path = dir.write("sub/g.json", conv_graph(Some("w.safetensors")));
    dir.write("sub/w.safetensors", conv_weights());
    let g = json::load(&json_path, None).unwrap();
    assert_eq!(g.initializers.len(), 2);
}

#[test]
fn bfloat16_and_int32_weights_are_converted() {
    let dir = TempDir::new("json-frontend", "bf16");
    let json_path = dir.write("g.json", conv_graph(None));
    // bfloat16 2.0 is 0x4000; 0.5 as int32 is not representable, so use 7.
    let st = safetensors(&[
        ("conv1.weight", Dtype::BF16, &[1, 1, 1, 1], 0x4000u16.to_le_bytes().to_vec()),
        ("conv1.bias", Dtype::I32, &[1], 7i32.to_le_bytes().to_vec()),
    ]);
    let weights = dir.write("w.safetensors", st);
    let g = json::load(&json_path, Some(&weights)).unwrap();
    assert_eq!(g.initializers[0].1.data, vec![2.0]);
    assert_eq!(g.initializers[1].1.data, vec![7.0]);
}

#[test]
fn missing_json_file_is_an_io_error() {
    let dir = TempDir::new("json-frontend", "missing-json");
    let path = dir.0.join("nope.json");
    let e = expect_err(json::load(&path, None));
    assert!(matches!(&e, Error::Io { path: p, .. } if p == &path), "{e:?}");
    assert!(e.to_string().contains("nope.json"));
}

#[test]
fn invalid_json_reports_line_and_column() {
    let dir = TempDir::new("json-frontend", "invalid-json");
    let path = dir.write("g.json", "{\n  \"qforge_graph\": 1,\n  \"inputs\": [,]\n}");
    let e = expect_err(json::load(&path, None));
    match &e {
        Error::Format { file, msg } => {
            assert_eq!(file, &path.display().to_string());
            assert!(msg.contains("line 3"), "{msg}");
        }
        other => panic!("expected a format error, got {other:?}"),
    }
    let path = dir.write("array.json", "[1, 2]");
    let e = expect_err(json::load(&path, None));
    assert!(matches!(&e, Error::Format { msg, .. } if msg.contains("JSON object")), "{e:?}");
}

#[test]
fn unknown_keys_are_errors() {
    let dir = TempDir::new("json-frontend", "unknown-keys");
    let top = conv_graph(None).replace("\"outputs\": [\"c1\"],\n  \"nodes\"", "\"outputs\": [\"c1\"],\n  \"nodez\"");
    let path = dir.write("top.json", top);
    let e = expect_err(json::load(&path, None));
    match &e {
        Error::Format { file, msg } => {
            assert_eq!(file, &path.display().to_string());
            assert!(msg.contains("unknown field `nodez`"), "{msg}");
            assert!(msg.contains("line 6"), "{msg}");
        }
        other => panic!("expected a format error, got {other:?}"),
    }
    let node = conv_graph(None).replace("\"attrs\"", "\"atrs\"");
    let path = dir.write("node.json", node);
    let e = expect_err(json::load(&path, None));
    assert!(matches!(&e, Error::Format { msg, .. } if msg.contains("unknown field `atrs`")), "{e:?}");
    let input = conv_graph(None).replace("\"shape\"", "\"dims\"");
    let path = dir.write("input.json", input);
    let e = expect_err(json::load(&path, None));
    assert!(matches!(&e, Error::Format { msg, .. } if msg.contains("unknown field `dims`")), "{e:?}");
}

#[test]
fn missing_fields_are_errors() {
    let dir = TempDir::new("json-frontend", "missing-fields");
    let path = dir.write("g.json", r#"{"qforge_graph": 1, "inputs": [], "outputs": []}"#);
    let e = expect_err(json::load(&path, None));
    assert!(matches!(&e, Error::Format { msg, .. } if msg.contains("missing field `nodes`")), "{e:?}");
}

#[test]
fn format_version_must_be_1() {
    let dir = TempDir::new("json-frontend", "version");
    let path = dir.write("v2.json", conv_graph(None).replace("\"qforge_graph\": 1", "\"qforge_graph\": 2"));
    let e = expect_err(json::load(&path, None));
    match &e {
        Error::Format { file, msg } => {
            assert_eq!(file, &path.display().to_string());
            assert!(msg.contains("version 2"), "{msg}");
        }
        other => panic!("expected a format error, got {other:?}"),
    }
    let path = dir.write("none.json", conv_graph(None).replace("\"qforge_graph\": 1,", ""));
    let e = expect_err(json::load(&path, None));
    assert!(matches!(&e, Error::Format { msg, .. } if msg.contains("\"qforge_graph\"")), "{e:?}");
    let path = dir.write("str.json", conv_graph(None).replace("\"qforge_graph\": 1", "\"qforge_graph\": \"1\""));
    let e = expect_err(json::load(&path, None));
    assert!(matches!(&e, Error::Format { msg, .. } if msg.contains("version \"1\"")), "{e:?}");
}

#[test]
fn missing_weight_names_node_and_file() {
    let dir = TempDir::new("json-frontend", "missing-weight");
    let json_path = dir.write("g.json", conv_graph(Some("digits.safetensors")));
    let weights = dir.write(
        "digits.safetensors",
        safetensors(&[("conv1.bias", Dtype::F32, &[1], f32_bytes(&[0.5])), ("x", Dtype::F32, &[1], f32_bytes(&[1.0]))]),
    );
    let e = expect_err(json::load(&json_path, None));
    match &e {
        Error::Node { file, node, op, msg } => {
            assert_eq!(file, &json_path.display().to_string());
            assert_eq!(node, "conv1");
            assert_eq!(op, "Conv");
            assert!(msg.contains(&format!("weight 'conv1.weight' is not in {}", weights.display())), "{msg}");
        }
        other => panic!("expected a node error, got {other:?}"),
    }
}

#[test]
fn missing_weight_suggests_a_prefixed_key() {
    let dir = TempDir::new("json-frontend", "prefix");
    let json_path = dir.write("g.json", conv_graph(None));
    let weights = dir.write(
        "w.safetensors",
        safetensors(&[
            ("model.conv1.weight", Dtype::F32, &[1, 1, 1, 1], f32_bytes(&[2.0])),
            ("model.conv1.bias", Dtype::F32, &[1], f32_bytes(&[0.5])),
        ]),
    );
    let e = expect_err(json::load(&json_path, Some(&weights)));
    assert!(e.to_string().contains("did you mean 'model.conv1.weight'?"), "{e}");
}

#[test]
fn weights_needed_but_no_file_given() {
    let dir = TempDir::new("json-frontend", "no-weights");
    let json_path = dir.write("g.json", conv_graph(None));
    let e = expect_err(json::load(&json_path, None));
    match &e {
        Error::Node { file, node, msg, .. } => {
            assert_eq!(file, &json_path.display().to_string());
            assert_eq!(node, "conv1");
            assert!(msg.contains("'conv1.weight'") && msg.contains("no weights file"), "{msg}");
        }
        other => panic!("expected a node error, got {other:?}"),
    }
}

#[test]
fn graph_without_weights_needs_no_file() {
    let dir = TempDir::new("json-frontend", "weightless");
    let json_path = dir.write(
        "g.json",
        r#"{"qforge_graph": 1, "inputs": [{"name": "x", "shape": [1, 4]}], "outputs": ["y"],
            "nodes": [{"op": "Relu", "inputs": ["x"], "outputs": ["y"]},
                      {"op": "Clip", "inputs": ["y", "", ""], "outputs": ["z"]}]}"#,
    );
    let g = json::load(&json_path, None).unwrap();
    assert!(g.initializers.is_empty());
    assert_eq!(g.nodes[1].inputs, ["y", "", ""]);
}

fn assert_safetensors_format_error(e: &Error, weights: &Path, fragment: &str) {
    match e {
        Error::Format { file, msg } => {
            assert_eq!(file, &weights.display().to_string());
            assert!(msg.contains(fragment), "{msg}");
        }
        other => panic!("expected a format error on the safetensors file, got {other:?}"),
    }
}

#[test]
fn lying_safetensors_headers_are_format_errors() {
    let dir = TempDir::new("json-frontend", "lying");
    let json_path = dir.write("g.json", conv_graph(None));
    let data = f32_bytes(&[2.0, 0.5]);

    // The header claims 100 bytes for the weight; the file holds 8.
    let header = r#"{"conv1.weight":{"dtype":"F32","shape":[1,1,1,1],"data_offsets":[0,100]},"conv1.bias":{"dtype":"F32","shape":[1],"data_offsets":[100,104]}}"#;
    let weights = dir.write("offsets.safetensors", raw_safetensors(header, &data));
    let e = expect_err(json::load(&json_path, Some(&weights)));
    assert_safetensors_format_error(&e, &weights, "safetensors");

    // Offsets that do not match the shape and dtype.
    let header = r#"{"conv1.weight":{"dtype":"F32","shape":[2,1,1,1],"data_offsets":[0,4]},"conv1.bias":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#;
    let weights = dir.write("size.safetensors", raw_safetensors(header, &data));
    let e = expect_err(json::load(&json_path, Some(&weights)));
    assert_safetensors_format_error(&e, &weights, "invalid shape, data type, or offset");

    // Overlapping tensors.
    let header = r#"{"conv1.weight":{"dtype":"F32","shape":[1,1,1,1],"data_offsets":[0,4]},"conv1.bias":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#;
    let weights = dir.write("overlap.safetensors", raw_safetensors(header, &data));
    let e = expect_err(json::load(&json_path, Some(&weights)));
    assert_safetensors_format_error(&e, &weights, "invalid offset");

    // A header length beyond the end of the file.
    let mut bytes = 10_000u64.to_le_bytes().to_vec();
    bytes.extend_from_slice(b"{}");
    let weights = dir.write("header-len.safetensors", bytes);
    let e = expect_err(json::load(&json_path, Some(&weights)));
    assert_safetensors_format_error(&e, &weights, "header");

    // Fewer than 8 bytes.
    let weights = dir.write("tiny.safetensors", b"abc");
    let e = expect_err(json::load(&json_path, Some(&weights)));
    assert_safetensors_format_error(&e, &weights, "header too small");

    // A good file cut short.
    let good = conv_weights();
    let weights = dir.write("truncated.safetensors", &good[..good.len() - 3]);
    let e = expect_err(json::load(&json_path, Some(&weights)));
    assert_safetensors_format_error(&e, &weights, "incomplete metadata");

    // A header that is not JSON.
    let weights = dir.write("garbage.safetensors", raw_safetensors("{not json", &[]));
    let e = expect_err(json::load(&json_path, Some(&weights)));
    assert_safetensors_format_error(&e, &weights, "invalid JSON in header");
}

#[test]
fn unsupported_weight_dtype_names_the_tensor() {
    let dir = TempDir::new("json-frontend", "dtype");
    let json_path = dir.write("g.json", conv_graph(None));
    let weights = dir.write(
        "w.safetensors",
        safetensors(&[
            ("conv1.weight", Dtype::U8, &[1, 1, 1, 1], vec![2]),
            ("conv1.bias", Dtype::F32, &[1], f32_bytes(&[0.5])),
        ]),
    );
    let e = expect_err(json::load(&json_path, Some(&weights)));
    match &e {
        Error::Tensor { file, tensor, msg } => {
            assert_eq!(file, &weights.display().to_string());
            assert_eq!(tensor, "conv1.weight");
            assert!(msg.contains("uint8"), "{msg}");
        }
        other => panic!("expected a tensor error, got {other:?}"),
    }
}

#[test]
fn bad_attribute_names_the_node() {
    let dir = TempDir::new("json-frontend", "bad-attr");
    let json_path = dir.write("g.json", conv_graph(None).replace("\"kernel_shape\": [1, 1]", "\"ceil_mode\": true"));
    let e = expect_err(json::load(&json_path, None));
    match &e {
        Error::Node { file, node, op, msg } => {
            assert_eq!(file, &json_path.display().to_string());
            assert_eq!((node.as_str(), op.as_str()), ("conv1", "Conv"));
            assert!(msg.contains("'ceil_mode'"), "{msg}");
        }
        other => panic!("expected a node error, got {other:?}"),
    }
    // An unnamed node is named after its op and first output, as the graph builder does.
    let unnamed = conv_graph(None).replace("\"name\": \"conv1\", ", "").replace("[1, 1]", "[1, \"a\"]");
    let json_path = dir.write("unnamed.json", unnamed);
    let e = expect_err(json::load(&json_path, None));
    assert!(matches!(&e, Error::Node { node, .. } if node == "Conv_c1"), "{e:?}");
}

#[test]
fn zero_dimension_input_is_an_error() {
    let dir = TempDir::new("json-frontend", "zero-dim");
    let json_path = dir.write("g.json", conv_graph(None).replace("[1, 1, 4, 4]", "[1, 0, 4, 4]"));
    let e = expect_err(json::load(&json_path, None));
    assert!(matches!(&e, Error::Tensor { tensor, .. } if tensor == "input"), "{e:?}");
}

#[test]
fn reference_graph_builds_into_typed_ir() {
    let mut raw = json::load(&data_dir().join("tiny.json"), None).unwrap();
    // `scales` and `empty` exist only to test attribute typing; Gemm has no such attributes.
    for node in &mut raw.nodes {
        node.attrs.0.retain(|k, _| k != "scales" && k != "empty");
    }
    let g = qforge::frontend::build_graph(raw).unwrap();
    let names: Vec<&str> = g.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["conv1", "bn1", "Relu_r1", "pool", "flat", "fc"]);
    assert_eq!(g.inputs.len(), 1);
    assert_eq!(g.shape(g.inputs[0]), Some(&[1, 1, 4, 4][..]));
    let conv_weight = g.nodes[0].input(1).unwrap();
    assert_eq!(g.tensor(conv_weight).name, "conv1.weight");
    assert_eq!(g.const_data(conv_weight).map(|a| a.shape.clone()), Some(vec![2, 1, 3, 3]));
}
