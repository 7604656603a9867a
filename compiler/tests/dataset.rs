//! Calibration/evaluation samples and labels: accepted layouts, and each error naming the
//! file and the model input.

use qforge::dataset::{load_labels, load_samples};
use qforge::ir::Array;
use qforge::{npy, Error};
use safetensors::tensor::TensorView;
use safetensors::Dtype;
use std::path::Path;

mod common;
use common::TempDir;

fn safetensors(tensors: &[(&str, Dtype, &[usize], Vec<u8>)]) -> Vec<u8> {
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(name, dtype, shape, bytes)| (name.to_string(), TensorView::new(*dtype, shape.to_vec(), bytes).unwrap()))
        .collect();
    safetensors::serialize(views, None).unwrap()
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn ramp(n: usize) -> Vec<f32> {
    (0..n).map(|i| i as f32 * 0.25 - 1.0).collect()
}

const INPUT: [usize; 4] = [1, 1, 2, 2];

fn check_samples(samples: &[Array], data: &[f32]) {
    assert_eq!(samples.len(), data.len() / 4);
    for (i, s) in samples.iter().enumerate() {
        assert_eq!(s.shape, INPUT.to_vec());
        assert_eq!(s.data, data[i * 4..(i + 1) * 4]);
    }
}

fn tensor_error(result: qforge::Result<Vec<Array>>, path: &Path) -> (String, String) {
    match result {
        Ok(s) => panic!("expected an error, got {} samples", s.len()),
        Err(Error::Tensor { file, tensor, msg }) => {
            assert_eq!(file, path.display().to_string());
            (tensor, msg)
        }
        Err(other) => panic!("expected a tensor error, got {other:?}"),
    }
}

#[test]
fn npy_samples_along_the_first_axis() {
    let dir = TempDir::new("dataset", "npy");
    let data = ramp(12);
    let path = dir.path("calib.npy");
    npy::write_f32(&path, &[3, 1, 2, 2], &data).unwrap();
    check_samples(&load_samples(&path, "x", &INPUT).unwrap(), &data);

    // Whole inputs stacked: [N, 1, 1, 2, 2].
    let path = dir.path("stacked.npy");
    npy::write_f32(&path, &[3, 1, 1, 2, 2], &data).unwrap();
    check_samples(&load_samples(&path, "x", &INPUT).unwrap(), &data);

    // A single sample that is exactly the input shape.
    let path = dir.path("one.npy");
    npy::write_f32(&path, &INPUT, &data[..4]).unwrap();
    check_samples(&load_samples(&path, "x", &INPUT).unwrap(), &data[..4]);
}

#[test]
fn float64_npy_samples_are_accepted() {
    // numpy's [0.1, -2.5, 1e-3] as float64: three samples of an input of shape [1].
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/npy/f64_3.npy");
    let samples = load_samples(&path, "x", &[1]).unwrap();
    let values: Vec<f32> = samples.iter().map(|s| s.data[0]).collect();
    assert_eq!(values, vec![0.1f64 as f32, -2.5, 1e-3f64 as f32]);
    assert!(samples.iter().all(|s| s.shape == vec![1]));
}

#[test]
fn safetensors_samples_by_input_name_or_single_tensor() {
    let dir = TempDir::new("dataset", "safetensors");
    let data = ramp(8);
    let path = dir.write(
        "named.safetensors",
        safetensors(&[("x", Dtype::F32, &[2, 1, 2, 2], f32_bytes(&data)), ("other", Dtype::I64, &[2], vec![0; 16])]),
    );
    check_samples(&load_samples(&path, "x", &INPUT).unwrap(), &data);

    let path = dir.write("single.safetensors", safetensors(&[("images", Dtype::F32, &[2, 1, 2, 2], f32_bytes(&data))]));
    check_samples(&load_samples(&path, "x", &INPUT).unwrap(), &data);

    // float16 samples: 1.0 and -2.0.
    let halves: Vec<u8> = [0x3c00u16, 0xc000, 0, 0].iter().flat_map(|h| h.to_le_bytes()).collect();
    let path = dir.write("f16.safetensors", safetensors(&[("x", Dtype::F16, &[1, 1, 2, 2], halves)]));
    let samples = load_samples(&path, "x", &INPUT).unwrap();
    assert_eq!(samples[0].data, vec![1.0, -2.0, 0.0, 0.0]);

    let path = dir.write(
        "ambiguous.safetensors",
        safetensors(&[
            ("a", Dtype::F32, &[1, 1, 2, 2], f32_bytes(&data[..4])),
            ("b", Dtype::F32, &[1, 1, 2, 2], f32_bytes(&data[..4])),
        ]),
    );
    let (tensor, msg) = tensor_error(load_samples(&path, "x", &INPUT), &path);
    assert_eq!(tensor, "x");
    assert!(msg.contains("'a', 'b'") && msg.contains("name the tensor 'x'"), "{msg}");
}

#[test]
fn wrong_shape_names_input_and_expected_shape() {
    let dir = TempDir::new("dataset", "shape");
    let path = dir.path("calib.npy");
    npy::write_f32(&path, &[2, 3, 2, 2], &ramp(24)).unwrap();
    let (tensor, msg) = tensor_error(load_samples(&path, "x", &INPUT), &path);
    assert_eq!(tensor, "x");
    assert!(msg.contains("[2, 3, 2, 2]") && msg.contains("'x'") && msg.contains("expects [N, 1, 2, 2]"), "{msg}");

    // Missing the batch axis is a shape error too.
    npy::write_f32(&path, &[2, 2], &ramp(4)).unwrap();
    let (_, msg) = tensor_error(load_samples(&path, "x", &INPUT), &path);
    assert!(msg.contains("expects [N, 1, 2, 2]"), "{msg}");

    let path = dir.write("calib.safetensors", safetensors(&[("x", Dtype::F32, &[4], f32_bytes(&ramp(4)))]));
    let (_, msg) = tensor_error(load_samples(&path, "x", &INPUT), &path);
    assert!(msg.contains("data has shape [4]"), "{msg}");
}

#[test]
fn wrong_dtype_is_an_error() {
    let dir = TempDir::new("dataset", "dtype");
    let path = dir.path("calib.npy");
    npy::write_i8(&path, &[1, 1, 2, 2], &[1, 2, 3, 4]).unwrap();
    let (tensor, msg) = tensor_error(load_samples(&path, "x", &INPUT), &path);
    assert_eq!(tensor, "x");
    assert!(msg.contains("dtype int8, expected float32"), "{msg}");

    let path = dir.write("calib.safetensors", safetensors(&[("x", Dtype::I64, &[1, 1, 2, 2], vec![0; 32])]));
    let (_, msg) = tensor_error(load_samples(&path, "x", &INPUT), &path);
    assert!(msg.contains("dtype int64, expected float32"), "{msg}");
}

#[test]
fn no_samples_is_an_error() {
    let dir = TempDir::new("dataset", "empty");
    let path = dir.path("calib.npy");
    npy::write_f32(&path, &[0, 1, 2, 2], &[]).unwrap();
    let (_, msg) = tensor_error(load_samples(&path, "x", &INPUT), &path);
    assert!(msg.contains("no samples"), "{msg}");
}

#[test]
fn non_finite_values_name_the_sample() {
    let dir = TempDir::new("dataset", "nan");
    let path = dir.path("calib.npy");
    let mut data = ramp(12);
    data[6] = f32::NAN;
    npy::write_f32(&path, &[3, 1, 2, 2], &data).unwrap();
    let (_, msg) = tensor_error(load_samples(&path, "x", &INPUT), &path);
    assert!(msg.contains("sample 1") && msg.contains("NaN") && msg.contains("element 2"), "{msg}");

    data[6] = 0.0;
    data[11] = f32::NEG_INFINITY;
    npy::write_f32(&path, &[3, 1, 2, 2], &data).unwrap();
    let (_, msg) = tensor_error(load_samples(&path, "x", &INPUT), &path);
    assert!(msg.contains("sample 2") && msg.contains("inf"), "{msg}");
}

#[test]
fn other_file_kinds_are_refused() {
    let dir = TempDir::new("dataset", "kind");
    let path = dir.write("calib.csv", "1,2,3,4\n");
    let e = load_samples(&path, "x", &INPUT).unwrap_err();
    assert!(matches!(&e, Error::Format { file, .. } if file == &path.display().to_string()), "{e:?}");
    let e = load_samples(&dir.path("missing.npy"), "x", &INPUT).unwrap_err();
    assert!(matches!(&e, Error::Io { .. }), "{e:?}");
}

fn format_error(result: qforge::Result<Vec<i64>>, path: &Path) -> String {
    match result {
        Ok(l) => panic!("expected an error, got {l:?}"),
        Err(Error::Format { file, msg }) => {
            assert_eq!(file, path.display().to_string());
            msg
        }
        Err(other) => panic!("expected a format error, got {other:?}"),
    }
}

#[test]
fn labels() {
    let refs = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/npy");
    assert_eq!(load_labels(&refs.join("i64_4.npy"), 4).unwrap(), vec![0, 3, 1, 9]);

    let dir = TempDir::new("dataset", "labels");
    let path = dir.path("labels.npy");
    npy::write_f32(&path, &[3], &[2.0, 0.0, 7.0]).unwrap();
    assert_eq!(load_labels(&path, 3).unwrap(), vec![2, 0, 7]);
    npy::write_i8(&path, &[2], &[5, 1]).unwrap();
    assert_eq!(load_labels(&path, 2).unwrap(), vec![5, 1]);

    let msg = format_error(load_labels(&refs.join("i64_4.npy"), 5), &refs.join("i64_4.npy"));
    assert!(msg.contains("4 labels") && msg.contains("5 samples"), "{msg}");
    // int32 with a negative label.
    let msg = format_error(load_labels(&refs.join("i32_4.npy"), 4), &refs.join("i32_4.npy"));
    assert!(msg.contains("label 3 is -9"), "{msg}");

    npy::write_f32(&path, &[2], &[1.0, 0.5]).unwrap();
    assert!(format_error(load_labels(&path, 2), &path).contains("label 1 is 0.5"));
    npy::write_f32(&path, &[2, 1], &[1.0, 0.0]).unwrap();
    assert!(format_error(load_labels(&path, 2), &path).contains("shape [2, 1], expected [2]"));
    let csv = dir.write("labels.txt", "1\n2\n");
    assert!(format_error(load_labels(&csv, 2), &csv).contains(".npy"));
}
