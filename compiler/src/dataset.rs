//! Calibration and evaluation data: input samples from `.npy` or `.safetensors` files, and
//! class labels from `.npy` files.
//!
//! A model input of shape `[1, C, H, W]` (qforge always runs batch 1) takes data of shape
//! `[N, C, H, W]`: the leading dimension counts the samples, and each sample becomes one
//! [`Array`] of the input's shape. Data of shape `[N, 1, C, H, W]` (whole inputs stacked)
//! is accepted too, which also covers inputs whose first dimension is not 1. Samples must
//! be float32 or float64 (safetensors also float16 and bfloat16), and every value finite.

use crate::error::{Error, Result};
use crate::frontend::json::{deserialize_safetensors, dtype_name, read_safetensors, view_to_array};
use crate::ir::Array;
use crate::npy::{self, NpyData};
use std::path::Path;

/// Reads the samples for the model input `input_name` of shape `input_shape` from a
/// `.npy` file (one array) or a `.safetensors` file (the tensor named after the input, or
/// the only tensor).
pub fn load_samples(path: &Path, input_name: &str, input_shape: &[usize]) -> Result<Vec<Array>> {
    let file = path.display().to_string();
    let (shape, data) = match extension(path).as_str() {
        "npy" => {
            let a = npy::read(path)?;
            match a.data {
                NpyData::F32(data) => (a.shape, data),
                _ => return Err(Error::tensor(&file, input_name, dtype_message(a.dtype.name()))),
            }
        }
        "safetensors" => {
            let bytes = read_safetensors(path)?;
            let st = deserialize_safetensors(&bytes, path)?;
            let names = st.names();
            let name = if names.contains(&input_name) {
                input_name
            } else if let [only] = names.as_slice() {
                only
            } else {
                let mut names: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
                names.sort_unstable();
                return Err(Error::tensor(
                    &file,
                    input_name,
                    format!(
                        "the file holds no tensor named after the model input (it holds {}); name the tensor '{input_name}'",
                        if names.is_empty() { "none".to_string() } else { names.join(", ") }
                    ),
                ));
            };
            let view = st.tensor(name).map_err(|e| Error::format(&file, e.to_string()))?;
            if !matches!(
                view.dtype(),
                safetensors::Dtype::F32 | safetensors::Dtype::F64 | safetensors::Dtype::F16 | safetensors::Dtype::BF16
            ) {
                return Err(Error::tensor(&file, name, dtype_message(&dtype_name(view.dtype()))));
            }
            let array = view_to_array(&view).map_err(|msg| Error::tensor(&file, name, msg))?;
            (array.shape, array.data)
        }
        _ => {
            return Err(Error::format(
                &file,
                "input samples must be a .npy or a .safetensors file (float32, with the samples along the first axis)",
            ))
        }
    };

    let count = sample_count(&shape, input_shape).ok_or_else(|| {
        let rest = input_shape.get(1..).unwrap_or(&[]);
        let expected = std::iter::once("N".to_string()).chain(rest.iter().map(|d| d.to_string())).collect::<Vec<_>>();
        Error::tensor(
            &file,
            input_name,
            format!(
                "data has shape {shape:?}, but the model input '{input_name}' (shape {input_shape:?}) expects [{}]",
                expected.join(", ")
            ),
        )
    })?;
    if count == 0 {
        return Err(Error::tensor(&file, input_name, format!("data of shape {shape:?} holds no samples")));
    }
    let per_sample = input_shape.iter().product::<usize>();
    if per_sample == 0 || count.checked_mul(per_sample) != Some(data.len()) {
        return Err(Error::tensor(&file, input_name, format!("data of shape {shape:?} does not hold {count} samples")));
    }
    let mut samples = Vec::with_capacity(count);
    for (index, chunk) in data.chunks_exact(per_sample).enumerate() {
        if let Some(pos) = chunk.iter().position(|v| !v.is_finite()) {
            return Err(Error::tensor(
                &file,
                input_name,
                format!("sample {index} holds a non-finite value ({}) at element {pos}", chunk[pos]),
            ));
        }
        samples.push(Array { shape: input_shape.to_vec(), data: chunk.to_vec() });
    }
    Ok(samples)
}

/// The number of samples in data of shape `data_shape` for an input of shape
/// `input_shape`, or `None` when the shapes do not fit.
fn sample_count(data_shape: &[usize], input_shape: &[usize]) -> Option<usize> {
    let (&n, rest) = data_shape.split_first()?;
    let fits = rest == input_shape || (input_shape.first() == Some(&1) && rest == &input_shape[1..]);
    fits.then_some(n)
}

fn dtype_message(found: &str) -> String {
    format!("data has dtype {found}, expected float32 (or float64)")
}

fn extension(path: &Path) -> String {
    path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase()
}

/// Reads `count` class labels from a `.npy` file of shape `[count]`: int64, int32 or int8,
/// or float with integral values. Labels are class indices, so they must not be negative.
pub fn load_labels(path: &Path, count: usize) -> Result<Vec<i64>> {
    let file = path.display().to_string();
    if extension(path) != "npy" {
        return Err(Error::format(&file, "labels must be a .npy file of shape [N] holding class indices"));
    }
    let a = npy::read(path)?;
    let labels: Vec<i64> = match a.data {
        NpyData::I64(v) => v,
        NpyData::I8(v) => v.into_iter().map(i64::from).collect(),
        NpyData::F32(v) => {
            let mut out = Vec::with_capacity(v.len());
            for (i, x) in v.into_iter().enumerate() {
                if !(x.is_finite() && x.fract() == 0.0 && x.abs() < 16_777_216.0) {
                    return Err(Error::format(&file, format!("label {i} is {x}, not an integral class index")));
                }
                out.push(x as i64);
            }
            out
        }
    };
    if a.shape.len() != 1 {
        return Err(Error::format(&file, format!("labels have shape {:?}, expected [{count}]", a.shape)));
    }
    if labels.len() != count {
        return Err(Error::format(
            &file,
            format!("holds {} labels, but there are {count} samples to label", labels.len()),
        ));
    }
    if let Some(i) = labels.iter().position(|&l| l < 0) {
        return Err(Error::format(&file, format!("label {i} is {}, not a class index", labels[i])));
    }
    Ok(labels)
}
