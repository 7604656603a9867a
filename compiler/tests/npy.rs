//! `.npy` reading and writing against files numpy wrote (`tests/data/npy/make.py`), a
//! hand-checked header layout, round trips, and every malformed-file error.

use qforge::npy::{self, Dtype, Npy, NpyData};
use qforge::Error;
use std::path::{Path, PathBuf};

mod common;
use common::TempDir;

fn reference(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/npy").join(name)
}

fn read_ref(name: &str) -> Npy {
    npy::read(&reference(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn ref_bytes(name: &str) -> Vec<u8> {
    std::fs::read(reference(name)).unwrap()
}

fn format_error(bytes: &[u8]) -> String {
    match npy::parse(bytes, "bad.npy") {
        Ok(a) => panic!("expected an error, read {a:?}"),
        Err(Error::Format { file, msg }) => {
            assert_eq!(file, "bad.npy");
            msg
        }
        Err(other) => panic!("expected a format error, got {other:?}"),
    }
}

const F32_2X3: [f32; 6] = [-1.0, -0.5, 0.0, 0.5, 1.0, 1.5];

#[test]
fn reads_numpy_float32() {
    let a = read_ref("f32_2x3.npy");
    assert_eq!(a.shape, vec![2, 3]);
    assert_eq!(a.dtype, Dtype::F32);
    assert_eq!(a.data, NpyData::F32(F32_2X3.to_vec()));

    let a = read_ref("f32_5.npy");
    assert_eq!(a.shape, vec![5]);
    let NpyData::F32(v) = a.data else { panic!("not f32") };
    let expected = [0.0f32, -0.0, 1.5, 3.25e-5, -7e8];
    assert_eq!(v.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), expected.map(f32::to_bits).to_vec());

    let a = read_ref("f32_scalar.npy");
    assert_eq!(a.shape, Vec::<usize>::new());
    assert_eq!(a.data, NpyData::F32(vec![3.5]));

    let a = read_ref("f32_0x3.npy");
    assert_eq!(a.shape, vec![0, 3]);
    assert!(a.data.is_empty());
}

#[test]
fn reads_numpy_header_versions_2_and_3() {
    for name in ["f32_2x3_v2.npy", "f32_2x3_v3.npy"] {
        let bytes = ref_bytes(name);
        assert_eq!(bytes[6], if name.contains("v2") { 2 } else { 3 });
        let a = read_ref(name);
        assert_eq!(a.shape, vec![2, 3]);
        assert_eq!(a.data, NpyData::F32(F32_2X3.to_vec()));
    }
}

#[test]
fn reads_numpy_float64_as_f32() {
    let a = read_ref("f64_3.npy");
    assert_eq!(a.dtype, Dtype::F64);
    assert_eq!(a.data, NpyData::F32(vec![0.1f64 as f32, -2.5, 1e-3f64 as f32]));
}

#[test]
fn reads_numpy_integers() {
    let a = read_ref("i8_2x2.npy");
    assert_eq!((a.shape.as_slice(), a.dtype), (&[2, 2][..], Dtype::I8));
    assert_eq!(a.data, NpyData::I8(vec![-128, 127, 0, -1]));
    let a = read_ref("i64_4.npy");
    assert_eq!((a.shape.as_slice(), a.dtype), (&[4][..], Dtype::I64));
    assert_eq!(a.data, NpyData::I64(vec![0, 3, 1, 9]));
    let a = read_ref("i32_4.npy");
    assert_eq!((a.shape.as_slice(), a.dtype), (&[4][..], Dtype::I32));
    assert_eq!(a.data, NpyData::I64(vec![0, 3, 1, -9]));
}

#[test]
fn writes_the_bytes_numpy_writes() {
    assert_eq!(npy::to_bytes_f32(&[2, 3], &F32_2X3), ref_bytes("f32_2x3.npy"));
    assert_eq!(npy::to_bytes_f32(&[5], &[0.0, -0.0, 1.5, 3.25e-5, -7e8]), ref_bytes("f32_5.npy"));
    assert_eq!(npy::to_bytes_f32(&[], &[3.5]), ref_bytes("f32_scalar.npy"));
    assert_eq!(npy::to_bytes_f32(&[0, 3], &[]), ref_bytes("f32_0x3.npy"));
    assert_eq!(npy::to_bytes_i8(&[2, 2], &[-128, 127, 0, -1]), ref_bytes("i8_2x2.npy"));
}

#[test]
fn header_layout_by_hand() {
    let bytes = npy::to_bytes_f32(&[2, 3], &F32_2X3);
    // Magic, version 1.0, header length 118 as a little-endian u16.
    assert_eq!(&bytes[..10], b"\x93NUMPY\x01\x00\x76\x00");
    // The dict, 20 spaces of room for the first dimension to grow to 21 digits, then
    // 38 spaces of padding and a newline so that the data starts at byte 128.
    let dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    assert_eq!(dict.len(), 59);
    let header = format!("{dict}{}\n", " ".repeat(20 + 38));
    assert_eq!(header.len(), 118);
    assert_eq!(&bytes[10..128], header.as_bytes());
    assert_eq!(bytes.len(), 128 + 6 * 4);
    assert_eq!(&bytes[128..132], &(-1.0f32).to_le_bytes());
}

#[test]
fn data_always_starts_on_a_64_byte_boundary() {
    let shapes: [&[usize]; 7] =
        [&[], &[1], &[7, 1, 1, 1, 1, 1], &[123456789, 0], &[0, 1, 2, 3, 4, 5, 6, 7, 8], &[3; 12], &[1; 30]];
    for shape in shapes {
        let bytes = npy::to_bytes_i8(shape, &vec![0; shape.iter().product()]);
        let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + header_len) % 64, 0, "{shape:?}");
        assert_eq!(bytes[10 + header_len - 1], b'\n');
        let a = npy::parse(&bytes, "mem").unwrap();
        assert_eq!(a.shape, shape.to_vec());
    }
}

#[test]
fn round_trip_through_files() {
    let dir = TempDir::new("npy", "round-trip");
    let path = dir.0.join("a.npy");
    let data: Vec<f32> = (0..24).map(|i| (i as f32 - 11.5) * 0.37).chain([f32::MIN, f32::MAX, f32::EPSILON]).collect();
    npy::write_f32(&path, &[3, 9], &data).unwrap();
    let a = npy::read(&path).unwrap();
    assert_eq!((a.shape, a.dtype, a.data), (vec![3, 9], Dtype::F32, NpyData::F32(data)));

    let path = dir.0.join("b.npy");
    let data: Vec<i8> = (-128..=127).collect();
    npy::write_i8(&path, &[4, 8, 8], &data).unwrap();
    let a = npy::read(&path).unwrap();
    assert_eq!((a.shape, a.dtype, a.data), (vec![4, 8, 8], Dtype::I8, NpyData::I8(data)));
}

#[test]
fn writing_a_mismatched_shape_is_an_error() {
    let dir = TempDir::new("npy", "mismatch");
    let path = dir.0.join("a.npy");
    let e = npy::write_f32(&path, &[2, 3], &[1.0; 5]).unwrap_err();
    assert!(matches!(&e, Error::Format { file, .. } if file.ends_with("a.npy")), "{e:?}");
    assert!(!path.exists());
    assert!(npy::write_i8(&path, &[2], &[1; 3]).is_err());
}

#[test]
fn missing_file_is_an_io_error() {
    let path = Path::new("/nonexistent/qforge/x.npy");
    let e = npy::read(path).unwrap_err();
    assert!(matches!(&e, Error::Io { path: p, .. } if p == path), "{e:?}");
    assert!(e.to_string().contains("x.npy"));
}

#[test]
fn fortran_order_is_refused() {
    let e = npy::read(&reference("fortran_2x3.npy")).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("fortran_2x3.npy") && msg.contains("Fortran order"), "{msg}");
}

#[test]
fn unsupported_dtypes_are_refused() {
    let msg = format_error(&ref_bytes("f32_be_2.npy"));
    assert!(msg.contains("'>f4'") && msg.contains("little-endian"), "{msg}");
    let msg = format_error(&ref_bytes("f16_2.npy"));
    assert!(msg.contains("'<f2' is not supported"), "{msg}");
}

/// A v1.0 file with this header text (padded like numpy's) and data.
fn handmade(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut text = dict.to_string();
    while !(10 + text.len() + 1).is_multiple_of(64) {
        text.push(' ');
    }
    text.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(text.len() as u16).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(data);
    out
}

#[test]
fn malformed_files_are_format_errors() {
    let good = ref_bytes("f32_2x3.npy");

    assert!(format_error(b"").contains("magic"));
    assert!(format_error(b"PK\x03\x04 this is a zip").contains("magic"));
    let mut bad_version = good.clone();
    bad_version[6] = 4;
    assert!(format_error(&bad_version).contains("version 4.0"));
    assert!(format_error(&good[..9]).contains("truncated .npy header"));
    assert!(format_error(&good[..60]).contains("truncated .npy header"));

    let msg = format_error(&good[..good.len() - 1]);
    assert!(msg.contains("truncated") && msg.contains("24 bytes") && msg.contains("23"), "{msg}");
    let mut extra = good.clone();
    extra.extend_from_slice(&good);
    assert!(format_error(&extra).contains("one array per file"));

    let f = |dict: &str| format_error(&handmade(dict, &[]));
    assert!(f("{'descr': '<f4', 'fortran_order': False}").contains("'shape' is missing"));
    assert!(f("{'descr': '<f4', 'shape': (0,)}").contains("'fortran_order' is missing"));
    assert!(f("{'descr': '<f4', 'fortran_order': False, 'shape': (0,), 'x': 1}").contains("unexpected key 'x'"));
    assert!(f("{'descr': '<f4', 'fortran_order': 0, 'shape': (0,)}").contains("wrong type"));
    assert!(f("{'descr': '<f4', 'fortran_order': False, 'shape': ('a',)}").contains("tuple of integers"));
    assert!(f("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (0,)}").contains("structured"));
    assert!(f("{'descr': '<f4, 'fortran_order': False, 'shape': (0,)}").contains("bad .npy header"));
    assert!(f("{'descr': '<f4', 'fortran_order': False, 'shape': (0,) ").contains("bad .npy header"));
    assert!(f("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,)}").contains("too large"));
    let huge = f("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296)}");
    assert!(huge.contains("too large"), "{huge}");
    let deep = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {}}}", "(".repeat(5000));
    assert!(format_error(&handmade(&deep, &[])).contains("nests too deeply"));
}

#[test]
fn python2_long_integers_and_double_quotes_are_read() {
    let bytes = handmade("{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (1L, 2L), }", &[0; 8]);
    let a = npy::parse(&bytes, "py2.npy").unwrap();
    assert_eq!(a.shape, vec![1, 2]);
}
