//! Golden files for the digits model: the optimized IR (`inspect` output) and the emitted
//! crate's `src/lib.rs`, `README.md` and `Cargo.toml`. A change in codegen or the passes
//! shows up here as a diff to review; `QFORGE_BLESS=1 cargo test -p qforge-tests --test
//! golden` rewrites the files. Also checks the output is reproducible byte for byte.

use qforge::pipeline::{self, Ranges};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn check_golden(name: &str, actual: &str) {
    let path = root().join("tests/golden/digits").join(name);
    if std::env::var_os("QFORGE_BLESS").is_some() {
        std::fs::write(&path, actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("{} is missing; run with QFORGE_BLESS=1", path.display()));
    if expected != actual {
        let line = expected.lines().zip(actual.lines()).position(|(a, b)| a != b).unwrap_or(0);
        panic!(
            "{} is stale (first difference at line {}):\n  golden: {:?}\n  actual: {:?}\nrerun with QFORGE_BLESS=1 after reviewing the change",
            path.display(),
            line + 1,
            expected.lines().nth(line),
            actual.lines().nth(line)
        );
    }
}

#[test]
fn digits_crate_matches_golden_files_and_is_reproducible() {
    let dir = root().join("examples/digits");
    let model = pipeline::load(&dir.join("digits.onnx"), None).expect("load");
    // Fixed statistics (written once by `qforge calibrate`), so the golden files do not
    // depend on the float rounding of the machine's GEMM kernels.
    let ranges = Ranges::Stats(root().join("tests/golden/digits/stats.json"));
    let (stats, calibration, source) = ranges.resolve(&model, false).expect("calibrate");
    let program = pipeline::quantize(&model, &stats, &source).expect("quantize");
    let command = "qforge compile digits.onnx --stats stats.json -o digits_int8".to_string();
    let meta = pipeline::provenance(&model, "digits_int8", calibration, command);
    let files = qforge::codegen::crate_files(&program, &meta).expect("render");
    let again = qforge::codegen::crate_files(&pipeline::quantize(&model, &stats, &source).expect("quantize"), &meta)
        .expect("render");
    assert_eq!(files, again, "codegen is not reproducible");
    let text = |name: &str| {
        let (_, bytes) = files.iter().find(|(p, _)| p == Path::new(name)).unwrap_or_else(|| panic!("no {name}"));
        String::from_utf8(bytes.clone()).expect("utf-8")
    };
    check_golden("lib.rs", &text("src/lib.rs"));
    check_golden("README.md", &text("README.md"));
    check_golden("Cargo.toml", &text("Cargo.toml"));
    check_golden("inspect.txt", &qforge::inspect::render(&model));
}

/// The native format (JSON graph + safetensors, same weights) compiles to the same program
/// as the ONNX export, byte for byte: same weights blob, same generated layers.
#[test]
fn json_and_onnx_digits_compile_to_the_same_program() {
    let dir = root().join("examples/digits");
    let ranges = Ranges::Stats(root().join("tests/golden/digits/stats.json"));
    let compile = |file: &str| {
        let model = pipeline::load(&dir.join(file), None).expect("load");
        let (stats, calibration, source) = ranges.resolve(&model, false).expect("stats");
        let program = pipeline::quantize(&model, &stats, &source).expect("quantize");
        let meta = pipeline::provenance(&model, "digits_int8", calibration, "same".into());
        let lib = qforge::codegen::render_lib(&program, &meta).expect("render");
        // Drop the banner, which names the model file and its hash.
        let body: String = lib.lines().filter(|l| !l.starts_with("//!")).collect::<Vec<_>>().join("\n");
        (program.blob, body)
    };
    let (onnx_blob, onnx_lib) = compile("digits.onnx");
    let (json_blob, json_lib) = compile("digits.json");
    assert!(onnx_blob == json_blob, "weight blobs differ");
    assert_eq!(onnx_lib, json_lib);
}
