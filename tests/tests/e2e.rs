//! End to end: compile each model with the library, build the emitted crate offline (all
//! crates share one target directory), run its `run_npy` example on at least 100 inputs,
//! and require its outputs to equal the simulator's bit for bit. Also checks the int8
//! output stays close to the fp32 interpreter's (SQNR), so a consistent-but-wrong
//! quantization cannot pass.

use qforge::calib::{self, Observer};
use qforge::ir::Array;
use qforge::pipeline;
use qforge::sim::Simulator;
use qforge_tests::models;
use qforge_tests::rng::Rng;
use std::path::{Path, PathBuf};
use std::process::Command;

fn work_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create work dir");
    dir
}

fn random_samples(shape: &[usize], n: usize, seed: u64) -> Vec<Array> {
    let mut rng = Rng::new(seed);
    let len = shape.iter().product();
    (0..n).map(|_| Array::new(shape.to_vec(), rng.normals(len, 1.0))).collect()
}

/// Emitted crates share one target directory, where every `run_npy` example lands at the
/// same path: build and copy the binary out under this lock.
static BUILD_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Builds the crate in `dir` and runs its example on `input`, returning the outputs.
fn build_and_run(dir: &Path, input: &Path, output: &Path) -> Vec<f32> {
    let guard = BUILD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("emitted-target");
    let status = Command::new(&cargo)
        .args(["build", "--release", "--offline", "--quiet", "--example", "run_npy"])
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", &target)
        .status()
        .expect("run cargo");
    assert!(status.success(), "the emitted crate in {} does not build", dir.display());
    let exe = dir.join("run_npy.bin");
    std::fs::copy(target.join("release/examples/run_npy"), &exe).expect("copy the example binary");
    drop(guard);
    // Every kernel backend this CPU runs, forced in turn, on one thread and on two, must
    // give the same bytes.
    let mut outputs: Vec<Vec<f32>> = Vec::new();
    for b in qrt::cpu::Backend::ALL.into_iter().filter(|b| b.available()) {
        for threads in ["1", "2"] {
            let run = Command::new(&exe)
                .arg(input)
                .arg(output)
                .env("QRT_BACKEND", b.name())
                .env("QRT_THREADS", threads)
                .output()
                .expect("run example");
            let said = String::from_utf8_lossy(&run.stderr);
            assert!(run.status.success(), "run_npy failed on {}: {said}", b.name());
            // An unknown or unavailable name would silently run the best backend instead.
            assert!(said.contains(&format!(" on {}, median", b.name())), "run_npy did not run {}: {said}", b.name());
            assert!(said.contains(&format!(", {threads} thread(s)")), "run_npy did not run {threads} threads: {said}");
            let out = match qforge::npy::read(output).expect("read outputs").data {
                qforge::npy::NpyData::F32(v) => v,
                _ => panic!("run_npy wrote a non-float32 file"),
            };
            if let Some(first) = outputs.first() {
                assert!(
                    first.iter().zip(&out).all(|(a, b)| a.to_bits() == b.to_bits()),
                    "backend {} on {threads} thread(s) differs from scalar on one",
                    b.name()
                );
            }
            outputs.push(out);
        }
    }
    // A value that names no backend is said on stderr, and the best one runs.
    let run = Command::new(&exe).arg(input).arg(output).env("QRT_BACKEND", "vnni").output().expect("run example");
    let said = String::from_utf8_lossy(&run.stderr);
    let best = qrt::cpu::best().name();
    assert!(run.status.success(), "run_npy failed with QRT_BACKEND=vnni: {said}");
    assert!(said.contains("qrt: QRT_BACKEND=vnni: not a backend (one of scalar "), "no warning: {said}");
    assert!(said.contains(&format!(" on {best}, median")), "run_npy did not run {best}: {said}");
    outputs.swap_remove(0)
}

/// The whole flow for one model; returns the output SQNR (dB) of int8 vs fp32.
fn check_model(name: &str, onnx: &[u8], calib: Vec<Array>, test: Vec<Array>) -> f64 {
    let dir = work_dir(name);
    let model_path = dir.join(format!("{name}.onnx"));
    std::fs::write(&model_path, onnx).expect("write model");
    let model = pipeline::load(&model_path, None).expect("load model");
    let stats = calib::calibrate(&model.graph, &calib, Observer::MinMax, false).expect("calibrate");
    let program = pipeline::quantize(&model, &stats, "stats").expect("quantize");
    let crate_dir = dir.join(format!("{name}_int8"));
    let meta = pipeline::provenance(&model, &format!("{name}_int8"), "random samples".into(), "e2e test".into());
    qforge::codegen::write_crate(&program, &meta, &crate_dir, false).expect("write crate");

    let shape = &test[0].shape;
    let mut npy_shape = vec![test.len()];
    npy_shape.extend_from_slice(&shape[1..]);
    let flat: Vec<f32> = test.iter().flat_map(|a| a.data.iter().copied()).collect();
    let input = dir.join("test.npy");
    qforge::npy::write_f32(&input, &npy_shape, &flat).expect("write inputs");
    let emitted = build_and_run(&crate_dir, &input, &dir.join("out.npy"));

    let mut sim = Simulator::new(&program);
    let mut sim2 = Simulator::with_threads(&program, 2);
    let per = emitted.len() / test.len();
    let (mut signal, mut noise) = (0f64, 0f64);
    for (i, sample) in test.iter().enumerate() {
        let expected = sim.run(&sample.data);
        let threaded = sim2.run(&sample.data);
        assert!(
            expected.iter().zip(&threaded).all(|(a, b)| a.to_bits() == b.to_bits()),
            "{name}: sample {i}: 2 threads differ from 1"
        );
        let got = &emitted[i * per..(i + 1) * per];
        let same = expected.iter().zip(got).all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(same, "{name}: sample {i}: emitted crate {got:?} != simulator {expected:?}");
        let reference = qforge::interp::run_simple(&model.graph, sample).expect("fp32 run");
        for (r, q) in reference.data.iter().zip(&expected) {
            signal += (*r as f64).powi(2);
            noise += (*r as f64 - *q as f64).powi(2);
        }
    }
    let sqnr = 10.0 * (signal / noise.max(1e-30)).log10();
    eprintln!("{name}: {} samples byte-identical, int8 vs fp32 output SQNR {sqnr:.1} dB", test.len());
    sqnr
}

fn check_random(name: &str, onnx: Vec<u8>, input_shape: &[usize], min_sqnr: f64) {
    let calib = random_samples(input_shape, 16, 1);
    let test = random_samples(input_shape, 100, 2);
    let sqnr = check_model(name, &onnx, calib, test);
    assert!(sqnr > min_sqnr, "{name}: int8 output SQNR {sqnr:.1} dB is below {min_sqnr} dB");
}

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/digits")
}

#[test]
fn digits_model_matches_simulator() {
    let dir = examples_dir();
    let onnx = std::fs::read(dir.join("digits.onnx")).expect("digits model");
    let model = pipeline::load(&dir.join("digits.onnx"), None).expect("load");
    let calib = pipeline::load_samples(&model, &dir.join("calib.npy")).expect("calib");
    let test = pipeline::load_samples(&model, &dir.join("test_x.npy")).expect("test");
    assert!(test.len() >= 100);
    let sqnr = check_model("digits", &onnx, calib, test);
    assert!(sqnr > 25.0, "digits: SQNR {sqnr:.1} dB");
    check_emitted_api(&Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e/digits/digits_int8"));
}

/// The emitted crate's own API, exercised by a test compiled inside that crate.
const API_TEST: &str = r#"
use digits_int8::*;

#[test]
fn wrong_lengths_are_errors() {
    let mut m = Model::new();
    let mut out = [0f32; OUTPUT_LEN];
    assert_eq!(m.run(&[0.0; 3], &mut out), Err(Error::InputLength { expected: INPUT_LEN, actual: 3 }));
    let mut short = [0f32; 2];
    assert_eq!(m.run(&[0.0; INPUT_LEN], &mut short), Err(Error::OutputLength { expected: OUTPUT_LEN, actual: 2 }));
    let mut q = [0i8; OUTPUT_LEN];
    assert!(m.run_int8(&[0; 5], &mut q).is_err());
}

#[test]
fn a_short_arena_is_refused() {
    let mut arena = vec![0i8; ARENA_BYTES - 1];
    let mut out = [0f32; OUTPUT_LEN];
    let err = run_with_arena(&mut arena, &[0.0; INPUT_LEN], &mut out);
    assert_eq!(err, Err(Error::ArenaTooSmall { expected: ARENA_BYTES, actual: ARENA_BYTES - 1 }));
}

#[test]
fn int8_and_float_entry_points_agree() {
    let input: Vec<f32> = (0..INPUT_LEN).map(|i| (i % 17) as f32 / 16.0).collect();
    let mut m = Model::new();
    let mut out = [0f32; OUTPUT_LEN];
    m.run(&input, &mut out).unwrap();
    // Quantize as the model card says, run the int8 entry point, dequantize.
    let q: Vec<i8> = input.iter().map(|&x| ((x / INPUT_SCALE).round() as i32 + INPUT_ZERO_POINT).clamp(-128, 127) as i8).collect();
    let mut q_out = [0i8; OUTPUT_LEN];
    m.run_int8(&q, &mut q_out).unwrap();
    for (f, q) in out.iter().zip(q_out) {
        assert_eq!(*f, (q as i32 - OUTPUT_ZERO_POINT) as f32 * OUTPUT_SCALE);
    }
    // Two threads give the same bytes as one.
    let mut threaded = Model::with_threads(2);
    assert_eq!(threaded.threads(), 2);
    let mut out3 = [0f32; OUTPUT_LEN];
    threaded.run(&input, &mut out3).unwrap();
    assert_eq!(out, out3);
    // A caller-owned arena gives the same answer.
    let mut arena = vec![0i8; ARENA_BYTES + 7];
    let mut out2 = [0f32; OUTPUT_LEN];
    run_with_arena(&mut arena, &input, &mut out2).unwrap();
    assert_eq!(out, out2);
    // So does an ArenaModel over a borrowed arena, float and int8, run after run.
    let mut held = ArenaModel::new(&mut arena).unwrap();
    for _ in 0..2 {
        let mut out4 = [0f32; OUTPUT_LEN];
        held.run(&input, &mut out4).unwrap();
        assert_eq!(out, out4);
        let mut q_out2 = [0i8; OUTPUT_LEN];
        held.run_int8(&q, &mut q_out2).unwrap();
        assert_eq!(q_out, q_out2);
    }
    assert!(held.run(&[0.0; 1], &mut out2).is_err());
}

/// The arena's start does not change the bytes: arenas at every offset within a line, of
/// exactly `ARENA_BYTES` (run where they start, mostly off a line) and with the 63 bytes
/// that let the model start on a line.
#[test]
fn every_arena_start_gives_the_same_bytes() {
    let input: Vec<f32> = (0..INPUT_LEN).map(|i| ((i * 11) % 29) as f32 / 28.0 - 0.3).collect();
    let mut want = [0f32; OUTPUT_LEN];
    Model::new().run(&input, &mut want).unwrap();
    let mut backing = vec![0x5au8; ARENA_BYTES + 2 * 64];
    for off in 0..64 {
        for len in [ARENA_BYTES, ARENA_BYTES + 63] {
            let mut got = [0f32; OUTPUT_LEN];
            run_with_byte_arena(&mut backing[off..off + len], &input, &mut got).unwrap();
            assert_eq!(want.map(f32::to_bits), got.map(f32::to_bits), "arena at offset {off}, {len} bytes");
        }
    }
}

#[test]
fn an_arena_model_refuses_a_short_arena() {
    let mut short = [0i8; 1];
    assert_eq!(ArenaModel::new(&mut short).err(), Some(Error::ArenaTooSmall { expected: ARENA_BYTES, actual: 1 }));
    let mut short = vec![0u8; ARENA_BYTES - 1];
    let want = Some(Error::ArenaTooSmall { expected: ARENA_BYTES, actual: ARENA_BYTES - 1 });
    assert_eq!(ArenaModel::from_bytes(&mut short).err(), want);
    let mut out = [0f32; OUTPUT_LEN];
    assert_eq!(run_with_byte_arena(&mut short, &[0.0; INPUT_LEN], &mut out).err(), want);
}

#[test]
fn a_byte_arena_gives_the_owned_models_bytes() {
    let mut m = Model::new();
    // A `&'static mut [u8]`, as a no_std caller holds a placed static, and a borrowed one;
    // both start dirty (0xa5) so nothing depends on a zeroed arena.
    let placed: &'static mut [u8] = Box::leak(vec![0xa5u8; ARENA_BYTES].into_boxed_slice());
    let mut held = ArenaModel::from_bytes(placed).unwrap();
    let mut heap = vec![0xa5u8; ARENA_BYTES + 3];
    for seed in 0..4 {
        let input: Vec<f32> = (0..INPUT_LEN).map(|i| ((i * 7 + seed * 13) % 23) as f32 / 22.0).collect();
        let q: Vec<i8> = (0..INPUT_LEN).map(|i| ((i * 31 + seed * 5) % 256) as u8 as i8).collect();
        let (mut want, mut want_q) = ([0f32; OUTPUT_LEN], [0i8; OUTPUT_LEN]);
        m.run(&input, &mut want).unwrap();
        m.run_int8(&q, &mut want_q).unwrap();
        let (mut got, mut got_q) = ([0f32; OUTPUT_LEN], [0i8; OUTPUT_LEN]);
        held.run(&input, &mut got).unwrap();
        held.run_int8(&q, &mut got_q).unwrap();
        assert_eq!(want.map(f32::to_bits), got.map(f32::to_bits), "ArenaModel::from_bytes, sample {seed}");
        assert_eq!(want_q, got_q, "ArenaModel::from_bytes (int8), sample {seed}");
        let (mut free, mut free_q) = ([0f32; OUTPUT_LEN], [0i8; OUTPUT_LEN]);
        run_with_byte_arena(&mut heap, &input, &mut free).unwrap();
        run_int8_with_byte_arena(&mut heap, &q, &mut free_q).unwrap();
        assert_eq!(want.map(f32::to_bits), free.map(f32::to_bits), "run_with_byte_arena, sample {seed}");
        assert_eq!(want_q, free_q, "run_int8_with_byte_arena, sample {seed}");
    }
}
"#;

fn check_emitted_api(crate_dir: &Path) {
    std::fs::create_dir_all(crate_dir.join("tests")).expect("tests dir");
    std::fs::write(crate_dir.join("tests/api.rs"), API_TEST).expect("write api test");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("emitted-target");
    let status = Command::new(cargo)
        .args(["test", "--release", "--offline", "--quiet", "--test", "api"])
        .current_dir(crate_dir)
        .env("CARGO_TARGET_DIR", &target)
        .status()
        .expect("run cargo test");
    assert!(status.success(), "the emitted crate's API test failed");
}

/// Quantization noise compounds through 50+ random layers: on this model and data ONNX
/// Runtime's own static per-channel QDQ quantization measures 4.0 dB output SQNR (qforge
/// 5.5 dB), so the floor here only catches gross errors; the byte equality is the point.
#[test]
fn mobilenet_v2_small_matches_simulator() {
    check_random("mobilenet_v2", models::mobilenet_v2(64, 10), &[1, 3, 64, 64], 3.0);
}

#[test]
fn resnet_basic_matches_simulator() {
    check_random("resnet_basic", models::resnet_basic(32), &[1, 3, 32, 32], 10.0);
}

#[test]
fn vgg_stack_matches_simulator() {
    check_random("vgg_stack", models::vgg_stack(32), &[1, 3, 32, 32], 10.0);
}

#[test]
fn concat_and_average_pool_net_matches_simulator() {
    check_random("concat_net", models::concat_net(16), &[1, 3, 16, 16], 10.0);
}

#[test]
fn matmul_reshape_net_matches_simulator() {
    check_random("matmul_net", models::matmul_net(), &[1, 1, 8, 8], 10.0);
}

#[test]
fn tiny_cnn_matches_simulator() {
    check_random("tiny_cnn", models::tiny_cnn(), &[1, 1, 8, 8], 10.0);
}

#[test]
fn standalone_activations_match_simulator() {
    check_random("standalone_activation_net", models::standalone_activation_net(16), &[1, 3, 16, 16], 10.0);
}

#[test]
fn linear_with_bias_add_matches_simulator() {
    check_random("linear_net", models::linear_net(), &[1, 1, 8, 8], 10.0);
}
