//! Every kind of bad input gets exit code 1 and one clear line naming the file and the node
//! or tensor: never a panic, and never a half-written output folder.

use prost::Message;
use qforge::frontend::onnx::proto::ModelProto;
use std::path::{Path, PathBuf};
use std::process::Command;

fn digits(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/digits").join(file)
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli_errors").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Runs `qforge compile` and checks the failure; returns the message.
fn compile_fails(dir: &Path, args: &[&str], must_mention: &[&str]) -> String {
    let out_dir = dir.join("out");
    let output = Command::new(env!("CARGO_BIN_EXE_qforge"))
        .arg("compile")
        .args(args)
        .arg("-o")
        .arg(&out_dir)
        .output()
        .expect("run qforge");
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert_eq!(output.status.code(), Some(1), "expected exit code 1, got {:?}; stderr: {stderr}", output.status);
    assert!(stderr.starts_with("error: "), "message should start with 'error: ': {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "expected one line: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    for m in must_mention {
        assert!(stderr.contains(m), "message should mention {m:?}: {stderr}");
    }
    assert!(!out_dir.exists(), "a failed compile left an output folder behind");
    let leftovers: Vec<_> = std::fs::read_dir(dir)
        .expect("read dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("qforge-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "a failed compile left a temporary folder behind");
    stderr
}

fn calib() -> String {
    digits("calib.npy").display().to_string()
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn missing_model_file() {
    let dir = scratch("missing");
    let model = dir.join("nope.onnx");
    compile_fails(&dir, &[&s(&model), "--calib", &calib()], &["nope.onnx", "No such file"]);
}

#[test]
fn not_onnx() {
    let dir = scratch("not_onnx");
    let model = dir.join("text.onnx");
    std::fs::write(&model, "hello, I am not a model\n").expect("write");
    compile_fails(&dir, &[&s(&model), "--calib", &calib()], &["text.onnx", "not an ONNX model"]);
}

#[test]
fn truncated_onnx() {
    let dir = scratch("truncated");
    let bytes = std::fs::read(digits("digits.onnx")).expect("digits");
    let model = dir.join("truncated.onnx");
    std::fs::write(&model, &bytes[..bytes.len() / 2]).expect("write");
    compile_fails(&dir, &[&s(&model), "--calib", &calib()], &["truncated.onnx", "truncated"]);
}

/// Splits a safetensors file into its JSON header and data.
fn safetensors_parts(bytes: &[u8]) -> (serde_json::Value, Vec<u8>) {
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    (serde_json::from_slice(&bytes[8..8 + n]).expect("header"), bytes[8 + n..].to_vec())
}

fn safetensors_join(header: &serde_json::Value, data: &[u8]) -> Vec<u8> {
    let h = serde_json::to_vec(header).expect("encode");
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend(h);
    out.extend(data);
    out
}

#[test]
fn safetensors_header_lies_about_offsets() {
    let dir = scratch("lying");
    let (mut header, data) = safetensors_parts(&std::fs::read(digits("digits.safetensors")).expect("weights"));
    let end = header["conv2.weight"]["data_offsets"][1].as_u64().expect("offset");
    header["conv2.weight"]["data_offsets"][1] = serde_json::json!(end + 400_000);
    let weights = dir.join("lying.safetensors");
    std::fs::write(&weights, safetensors_join(&header, &data)).expect("write");
    let args = [s(&digits("digits.json")), "--weights".into(), s(&weights), "--calib".into(), calib()];
    compile_fails(&dir, &args.iter().map(String::as_str).collect::<Vec<_>>(), &["lying.safetensors"]);
}

fn edited_graph(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) -> PathBuf {
    let mut g: serde_json::Value =
        serde_json::from_slice(&std::fs::read(digits("digits.json")).expect("json")).expect("parse");
    edit(&mut g);
    g["weights"] = serde_json::json!(s(&digits("digits.safetensors")));
    let path = dir.join("graph.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&g).expect("encode")).expect("write");
    path
}

#[test]
fn weight_missing_from_safetensors() {
    let dir = scratch("missing_weight");
    let graph = edited_graph(&dir, |g| g["nodes"][0]["inputs"][1] = serde_json::json!("conv1.wieght"));
    compile_fails(&dir, &[&s(&graph), "--calib", &calib()], &["graph.json", "'conv1'", "conv1.wieght"]);
}

#[test]
fn graph_and_weights_disagree_on_shape() {
    let dir = scratch("shape_mismatch");
    let graph = edited_graph(&dir, |g| g["inputs"][0]["shape"] = serde_json::json!([1, 3, 8, 8]));
    compile_fails(&dir, &[&s(&graph), "--calib", &calib()], &["graph.json", "'conv1'", "channels"]);
}

#[test]
fn nan_in_weights() {
    let dir = scratch("nan");
    let bytes = std::fs::read(digits("digits.safetensors")).expect("weights");
    let (header, mut data) = safetensors_parts(&bytes);
    let start = header["conv3.weight"]["data_offsets"][0].as_u64().expect("offset") as usize;
    data[start..start + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    let weights = dir.join("nan.safetensors");
    std::fs::write(&weights, safetensors_join(&header, &data)).expect("write");
    let args = [s(&digits("digits.json")), "--weights".into(), s(&weights), "--calib".into(), calib()];
    compile_fails(&dir, &args.iter().map(String::as_str).collect::<Vec<_>>(), &["conv3.weight", "NaN"]);
}

#[test]
fn statistics_missing_a_tensor() {
    let dir = scratch("stats");
    let stats = dir.join("stats.json");
    let status = Command::new(env!("CARGO_BIN_EXE_qforge"))
        .args(["calibrate", &s(&digits("digits.onnx")), "--calib", &calib(), "-o", &s(&stats)])
        .status()
        .expect("calibrate");
    assert!(status.success());
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&stats).expect("stats")).expect("parse");
    assert!(v["tensors"].as_object_mut().expect("tensors").remove("relu2_out").is_some());
    std::fs::write(&stats, serde_json::to_vec(&v).expect("encode")).expect("write");
    compile_fails(&dir, &[&s(&digits("digits.onnx")), "--stats", &s(&stats)], &["stats.json", "relu2_out"]);
}

#[test]
fn calibration_data_of_the_wrong_shape() {
    let dir = scratch("calib_shape");
    let data = dir.join("calib.npy");
    qforge::npy::write_f32(&data, &[4, 1, 9, 9], &[0.0; 4 * 81]).expect("write");
    compile_fails(&dir, &[&s(&digits("digits.onnx")), "--calib", &s(&data)], &["calib.npy", "[4, 1, 9, 9]", "input"]);
}

#[test]
fn calibration_data_of_the_wrong_dtype() {
    let dir = scratch("calib_dtype");
    let data = dir.join("calib.npy");
    qforge::npy::write_i8(&data, &[4, 1, 8, 8], &[0; 4 * 64]).expect("write");
    compile_fails(&dir, &[&s(&digits("digits.onnx")), "--calib", &s(&data)], &["calib.npy", "int8", "float32"]);
}

#[test]
fn every_unsupported_node_is_listed() {
    let dir = scratch("unsupported");
    let mut m = ModelProto::decode(std::fs::read(digits("digits.onnx")).expect("digits").as_slice()).expect("decode");
    let graph = m.graph.as_mut().expect("graph");
    for node in &mut graph.node {
        match node.name.as_str() {
            "relu1" => node.op_type = "Sigmoid".into(),
            "relu3" => node.op_type = "HardSwish".into(),
            "gap" => node.domain = "com.example".into(),
            _ => {}
        }
    }
    let model = dir.join("unsupported.onnx");
    std::fs::write(&model, m.encode_to_vec()).expect("write");
    let msg = compile_fails(&dir, &[&s(&model), "--calib", &calib()], &["unsupported.onnx", "3 unsupported"]);
    for part in ["'relu1' (Sigmoid, opset 13)", "'relu3' (HardSwish, opset 13)", "'gap' (com.example.GlobalAveragePool"]
    {
        assert!(msg.contains(part), "missing {part}: {msg}");
    }
}

#[test]
fn existing_output_folder_is_refused_without_force() {
    let dir = scratch("exists");
    let out = dir.join("out");
    std::fs::create_dir_all(&out).expect("mkdir");
    std::fs::write(out.join("keep.txt"), "mine").expect("write");
    let run = |force: bool| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_qforge"));
        c.args(["compile", &s(&digits("digits.onnx")), "--calib", &calib(), "-o", &s(&out)]);
        if force {
            c.arg("--force");
        }
        c.output().expect("run qforge")
    };
    let refused = run(false);
    assert_eq!(refused.status.code(), Some(1));
    let msg = String::from_utf8_lossy(&refused.stderr);
    assert!(msg.contains("exists") && msg.contains("--force"), "{msg}");
    assert_eq!(std::fs::read_to_string(out.join("keep.txt")).expect("untouched"), "mine");
    let forced = run(true);
    assert!(forced.status.success(), "{}", String::from_utf8_lossy(&forced.stderr));
    assert!(out.join("src/lib.rs").exists() && !out.join("keep.txt").exists());
}
