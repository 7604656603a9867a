//! Just enough of the `.npy` format for this example: little-endian float32 and int64
//! arrays in C order, read whole; float32 arrays written back.

use std::io::Write;

/// The raw data of an `.npy` file and its dtype string (e.g. `<f4`).
fn read_raw(path: &str) -> Result<(String, Vec<u8>), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(format!("{path}: not an .npy file"));
    }
    let (len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        _ => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
    };
    let header = std::str::from_utf8(bytes.get(start..start + len).ok_or(format!("{path}: truncated"))?)
        .map_err(|_| format!("{path}: bad header"))?;
    let descr = header.split("'descr':").nth(1).and_then(|s| s.split('\'').nth(1)).unwrap_or("");
    Ok((descr.to_string(), bytes[start + len..].to_vec()))
}

/// A float32 array, flattened.
pub fn read_f32(path: &str) -> Result<Vec<f32>, String> {
    match read_raw(path)? {
        (d, data) if d == "<f4" => {
            Ok(data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
        }
        (d, _) => Err(format!("{path}: expected float32 (<f4), found {d}")),
    }
}

/// An int64 array, flattened.
pub fn read_i64(path: &str) -> Result<Vec<i64>, String> {
    match read_raw(path)? {
        (d, data) if d == "<i8" => {
            Ok(data.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8]))).collect())
        }
        (d, _) => Err(format!("{path}: expected int64 (<i8), found {d}")),
    }
}

/// Writes a float32 array of `shape`.
pub fn write_f32(path: &str, shape: &[usize], values: &[f32]) -> Result<(), String> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({},), }}", dims.join(", "));
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    for v in values {
        out.extend(v.to_le_bytes());
    }
    std::fs::File::create(path).and_then(|mut f| f.write_all(&out)).map_err(|e| format!("{path}: {e}"))
}
