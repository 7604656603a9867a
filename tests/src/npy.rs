//! Writing float32 `.npy` files (format version 1.0, little-endian `<f4`, C order).
//!
//! Layout: the magic `\x93NUMPY`, version bytes `1 0`, a little-endian `u16` header
//! length, then an ASCII dict `{'descr': '<f4', 'fortran_order': False, 'shape': (..), }`
//! padded with spaces and ended by `\n` so that the data starts at a multiple of 64 bytes.

use std::io;
use std::path::Path;

/// Encodes a float32 array as `.npy` bytes. Panics when `data` does not match `shape`.
pub fn encode_f32(shape: &[usize], data: &[f32]) -> Vec<u8> {
    assert_eq!(shape.iter().product::<usize>(), data.len(), "npy data does not match its shape");
    let dims = match shape {
        [n] => format!("({n},)"),
        _ => format!("({})", shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {dims}, }}");
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + 4 * data.len());
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Writes a float32 array to `path` as `.npy`.
pub fn write_f32(path: &Path, shape: &[usize], data: &[f32]) -> io::Result<()> {
    std::fs::write(path, encode_f32(shape, data))
}
