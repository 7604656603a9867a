//! ONNX `TensorProto` to [`Array`]: float32 from `raw_data` or `float_data`; double,
//! int32 and int64 (Reshape shapes, Constant values) converted to f32.
//!
//! Messages carry no context: the caller wraps them into an error naming the file and
//! the tensor or node.

use super::proto::tensor_proto::{DataLocation, DataType};
use super::proto::TensorProto;
use crate::ir::Array;

/// Converts a tensor to f32, checking that its data matches its dims.
pub fn to_array(t: &TensorProto) -> Result<Array, String> {
    if t.data_location == DataLocation::External as i32 || !t.external_data.is_empty() {
        let location = t.external_data.iter().find(|e| e.key == "location").map(|e| e.value.as_str());
        return Err(format!(
            "its data is stored in an external file{}, which qforge does not read; re-export the \
             model with the weights inside the .onnx file (onnx.save(model, path, save_as_external_data=False))",
            location.map(|l| format!(" ('{l}')")).unwrap_or_default()
        ));
    }
    if t.segment.is_some() {
        return Err("it is stored in segments, which qforge does not read".into());
    }
    let shape = dims(&t.dims)?;
    let len = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)).ok_or("its dims overflow")?;
    let data = match DataType::try_from(t.data_type) {
        Ok(DataType::Float) => {
            convert(t, len, 4, &t.float_data, |b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]), |&v| v)?
        }
        Ok(DataType::Double) => convert(t, len, 8, &t.double_data, |b| f64_le(b) as f32, |&v| v as f32)?,
        Ok(DataType::Int32) => {
            convert(t, len, 4, &t.int32_data, |b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32, |&v| v as f32)?
        }
        Ok(DataType::Int64) => convert(t, len, 8, &t.int64_data, i64_le_as_f32, |&v| v as f32)?,
        // Booleans (e.g. Dropout's training_mode) are one byte in raw_data, int32 otherwise.
        Ok(DataType::Bool) => convert(t, len, 1, &t.int32_data, |b| f32::from(b[0] != 0), |&v| f32::from(v != 0))?,
        _ => {
            return Err(format!(
                "its element type is {}; qforge reads float32, float64, int32, int64 and bool tensors",
                type_name(t.data_type)
            ))
        }
    };
    Ok(Array::new(shape, data))
}

/// Dims as sizes; negative dims are an error.
fn dims(dims: &[i64]) -> Result<Vec<usize>, String> {
    dims.iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("it has a negative dimension ({d}) in dims {dims:?}")))
        .collect()
}

/// Reads `len` elements from `raw_data` (`width` bytes each, little-endian) when it is set,
/// otherwise from the typed field.
fn convert<T>(
    t: &TensorProto,
    len: usize,
    width: usize,
    typed: &[T],
    from_le: impl Fn(&[u8]) -> f32,
    from_typed: impl Fn(&T) -> f32,
) -> Result<Vec<f32>, String> {
    if !t.raw_data.is_empty() {
        let expected = len.checked_mul(width).ok_or("its dims overflow")?;
        if t.raw_data.len() != expected {
            return Err(format!(
                "raw_data holds {} bytes, but dims {:?} of {} need {expected}",
                t.raw_data.len(),
                t.dims,
                type_name(t.data_type)
            ));
        }
        return Ok(t.raw_data.chunks_exact(width).map(from_le).collect());
    }
    if typed.len() != len {
        return Err(format!("it holds {} values, but dims {:?} need {len}", typed.len(), t.dims));
    }
    Ok(typed.iter().map(from_typed).collect())
}

fn f64_le(b: &[u8]) -> f64 {
    f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}

fn i64_le_as_f32(b: &[u8]) -> f32 {
    i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32
}

/// The ONNX spelling of an element type (`FLOAT`, `INT64`, ...), or `type N`.
pub fn type_name(data_type: i32) -> String {
    use DataType as D;
    let name = match DataType::try_from(data_type) {
        Ok(D::Undefined) => "UNDEFINED",
        Ok(D::Float) => "FLOAT",
        Ok(D::Uint8) => "UINT8",
        Ok(D::Int8) => "INT8",
        Ok(D::Uint16) => "UINT16",
        Ok(D::Int16) => "INT16",
        Ok(D::Int32) => "INT32",
        Ok(D::Int64) => "INT64",
        Ok(D::String) => "STRING",
        Ok(D::Bool) => "BOOL",
        Ok(D::Float16) => "FLOAT16",
        Ok(D::Double) => "DOUBLE",
        Ok(D::Uint32) => "UINT32",
        Ok(D::Uint64) => "UINT64",
        Ok(D::Complex64) => "COMPLEX64",
        Ok(D::Complex128) => "COMPLEX128",
        Ok(D::Bfloat16) => "BFLOAT16",
        Ok(D::Float8e4m3fn) => "FLOAT8E4M3FN",
        Ok(D::Float8e4m3fnuz) => "FLOAT8E4M3FNUZ",
        Ok(D::Float8e5m2) => "FLOAT8E5M2",
        Ok(D::Float8e5m2fnuz) => "FLOAT8E5M2FNUZ",
        Ok(D::Uint4) => "UINT4",
        Ok(D::Int4) => "INT4",
        Ok(D::Float4e2m1) => "FLOAT4E2M1",
        Ok(D::Float8e8m0) => "FLOAT8E8M0",
        Err(_) => return format!("type {data_type}"),
    };
    name.to_string()
}
