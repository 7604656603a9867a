//! The native front end: a JSON graph description whose weights come from a
//! `.safetensors` file by name.
//!
//! The format mirrors ONNX, so the same op parsers apply: op types are ONNX op type names,
//! attributes are ONNX attributes, and `opset` gives the ONNX semantics of each op.
//!
//! ```json
//! {
//!   "qforge_graph": 1,
//!   "name": "digits",
//!   "weights": "digits.safetensors",
//!   "opset": 17,
//!   "inputs": [{"name": "input", "shape": [1, 1, 8, 8]}],
//!   "outputs": ["logits"],
//!   "nodes": [
//!     {"name": "conv1", "op": "Conv", "inputs": ["input", "conv1.weight", "conv1.bias"],
//!      "outputs": ["c1"], "attrs": {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "group": 1}},
//!     {"name": "bn1", "op": "BatchNormalization",
//!      "inputs": ["c1", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var"],
//!      "outputs": ["b1"], "attrs": {"epsilon": 1e-5}}
//!   ]
//! }
//! ```
//!
//! Top level:
//! - `qforge_graph` (required): the format version; must be `1`.
//! - `name` (optional): a name for the model.
//! - `weights` (optional): the safetensors file, relative to the JSON file. A weights path
//!   passed to [`load`] overrides it.
//! - `opset` (optional, default 17): the ONNX opset whose op semantics apply.
//! - `inputs`: the activation inputs, each `{"name": .., "shape": [..]}` with every
//!   dimension known and non-zero.
//! - `outputs`: the names of the graph outputs.
//! - `nodes`: in topological order, each with `op` (ONNX op type), `inputs` and `outputs`
//!   (value names; an empty string marks an omitted optional input), and optionally `name`
//!   and `attrs`.
//!
//! Attribute values map to ONNX attribute kinds: an integer number is an int, any other
//! number a float, an array of integers (or an empty array) a list of ints, an array with
//! any non-integer number a list of floats, a string a string, and an object
//! `{"shape": [..], "data": [..]}` a tensor (for `Constant`). Booleans and `null` are
//! errors; ONNX spells flags as ints.
//!
//! Unknown keys anywhere are errors, so typos surface. Every node input that is neither a
//! graph input nor a node output is a weight, looked up by name in the safetensors file
//! (PyTorch `state_dict` keys such as `features.0.weight` work as they are); tensors of the
//! file that no node reads (`num_batches_tracked`, ...) are ignored. Weights may be stored
//! as F32, F64, F16 or BF16 (converted to f32), or as I64 or I32 (shapes and indices,
//! converted to f32).

use crate::error::{Error, Result};
use crate::ir::{Array, AttrValue, Attrs, RawGraph, RawInput, RawNode};
use safetensors::{Dtype, SafeTensorError, SafeTensors};
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

/// The only format version this front end reads.
pub const FORMAT_VERSION: u64 = 1;
/// The opset assumed when the file names none.
pub const DEFAULT_OPSET: i64 = 17;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonGraph {
    #[serde(rename = "qforge_graph")]
    _version: serde_json::Value,
    #[serde(default, rename = "name")]
    _name: Option<String>,
    #[serde(default)]
    weights: Option<PathBuf>,
    #[serde(default)]
    opset: Option<i64>,
    inputs: Vec<JsonInput>,
    outputs: Vec<String>,
    nodes: Vec<JsonNode>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonInput {
    name: String,
    shape: Vec<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonNode {
    #[serde(default)]
    name: String,
    op: String,
    inputs: Vec<String>,
    outputs: Vec<String>,
    #[serde(default)]
    attrs: BTreeMap<String, serde_json::Value>,
}

impl JsonNode {
    /// The name diagnostics use: the node's own, or the one the graph builder gives it.
    fn display_name(&self, index: usize) -> String {
        if !self.name.is_empty() {
            return self.name.clone();
        }
        match self.outputs.first() {
            Some(o) => format!("{}_{}", self.op, o),
            None => format!("{}_{index}", self.op),
        }
    }
}

/// A tensor-valued attribute.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonTensor {
    shape: Vec<usize>,
    data: Vec<f64>,
}

/// Reads a JSON graph and its safetensors weights (`weights` overrides the file the JSON
/// names).
pub fn load(path: &Path, weights: Option<&Path>) -> Result<RawGraph> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let graph = parse_graph(&text, &file)?;
    let opset = graph.opset.unwrap_or(DEFAULT_OPSET);
    if opset < 1 {
        return Err(Error::format(&file, format!("\"opset\" must be a positive opset version, not {opset}")));
    }

    let mut inputs = Vec::with_capacity(graph.inputs.len());
    for input in &graph.inputs {
        if input.shape.contains(&0) {
            return Err(Error::tensor(
                &file,
                &input.name,
                format!("input shape {:?} has a zero dimension", input.shape),
            ));
        }
        inputs.push(RawInput { name: input.name.clone(), shape: input.shape.clone() });
    }

    let mut nodes = Vec::with_capacity(graph.nodes.len());
    for (index, node) in graph.nodes.iter().enumerate() {
        let mut attrs = Attrs::default();
        for (key, value) in &node.attrs {
            let value = attr_value(value).map_err(|msg| {
                Error::node(&file, node.display_name(index), &node.op, format!("attribute '{key}': {msg}"))
            })?;
            attrs.set(key.clone(), value);
        }
        nodes.push(RawNode {
            name: node.name.clone(),
            op_type: node.op.clone(),
            domain: String::new(),
            attrs,
            inputs: node.inputs.clone(),
            outputs: node.outputs.clone(),
        });
    }

    let weights_path = match (weights, &graph.weights) {
        (Some(w), _) => Some(w.to_path_buf()),
        (None, Some(w)) => Some(path.parent().unwrap_or(Path::new("")).join(w)),
        (None, None) => None,
    };
    let initializers = load_weights(&graph, &file, weights_path.as_deref())?;
    Ok(RawGraph { source: file, opset, inputs, outputs: graph.outputs, nodes, initializers, notes: Vec::new() })
}

/// Reads every weight the graph needs from the safetensors file at `weights`.
fn load_weights(graph: &JsonGraph, file: &str, weights: Option<&Path>) -> Result<Vec<(String, Array)>> {
    let needed = needed_weights(graph);
    let Some(wpath) = weights else {
        return match needed.first() {
            None => Ok(Vec::new()),
            Some(&(name, index)) => {
                let node = &graph.nodes[index];
                let msg = format!(
                    "input '{name}' is not a graph input or a node output, so it must be a weight, but no \
                     weights file was given (pass one, or name it in the graph's \"weights\" field)"
                );
                Err(Error::node(file, node.display_name(index), &node.op, msg))
            }
        };
    };
    let bytes = read_safetensors(wpath)?;
    let st = deserialize_safetensors(&bytes, wpath)?;
    let wfile = wpath.display().to_string();
    let mut initializers = Vec::with_capacity(needed.len());
    for (name, index) in needed {
        let Ok(view) = st.tensor(name) else {
            let node = &graph.nodes[index];
            let msg = format!(
                "weight '{name}' is not in {wfile} (and it is not a graph input or a node output){}",
                suggestion(name, &st)
            );
            return Err(Error::node(file, node.display_name(index), &node.op, msg));
        };
        let array = view_to_array(&view).map_err(|msg| Error::tensor(&wfile, name, msg))?;
        initializers.push((name.to_string(), array));
    }
    Ok(initializers)
}

/// The values nodes read that no graph input or node output provides, which are therefore
/// weights, in first-use order, each with the index of the first node reading it.
fn needed_weights(graph: &JsonGraph) -> Vec<(&str, usize)> {
    let produced: HashSet<&str> = graph
        .inputs
        .iter()
        .map(|i| i.name.as_str())
        .chain(graph.nodes.iter().flat_map(|n| n.outputs.iter().map(String::as_str)))
        .collect();
    let mut seen = HashSet::new();
    let mut needed = Vec::new();
    for (index, node) in graph.nodes.iter().enumerate() {
        for input in &node.inputs {
            if !input.is_empty() && !produced.contains(input.as_str()) && seen.insert(input.as_str()) {
                needed.push((input.as_str(), index));
            }
        }
    }
    needed
}

/// Checks the format version, then reads the whole schema.
fn parse_graph(text: &str, file: &str) -> Result<JsonGraph> {
    // The version is checked first, so that a file of another version gets a version error
    // rather than a schema error.
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| Error::format(file, format!("invalid JSON: {e}")))?;
    let Some(object) = value.as_object() else {
        return Err(Error::format(file, "a qforge graph must be a JSON object"));
    };
    match object.get("qforge_graph") {
        None => {
            return Err(Error::format(
                file,
                format!("not a qforge graph: the format version field \"qforge_graph\": {FORMAT_VERSION} is missing"),
            ))
        }
        Some(v) if v.as_u64() != Some(FORMAT_VERSION) => {
            return Err(Error::format(
                file,
                format!(
                    "graph format version {v} is not supported (this qforge reads \"qforge_graph\": {FORMAT_VERSION})"
                ),
            ))
        }
        Some(_) => {}
    }
    serde_json::from_str(text).map_err(|e| Error::format(file, format!("not a valid qforge graph: {e}")))
}

fn attr_value(v: &serde_json::Value) -> std::result::Result<AttrValue, String> {
    use serde_json::Value;
    match v {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Ok(AttrValue::Int(i))
            } else if n.is_u64() {
                Err(format!("{n} does not fit in a 64-bit integer"))
            } else {
                to_f32(n.as_f64().unwrap_or(f64::NAN)).map(AttrValue::Float)
            }
        }
        Value::Array(items) => {
            let mut ints = Vec::with_capacity(items.len());
            let mut all_ints = true;
            for item in items {
                match item {
                    Value::Number(n) => match n.as_i64() {
                        Some(i) => ints.push(i),
                        None if n.is_u64() => return Err(format!("{n} does not fit in a 64-bit integer")),
                        None => all_ints = false,
                    },
                    other => return Err(format!("a list may only hold numbers, found {}", json_kind(other))),
                }
            }
            if all_ints {
                return Ok(AttrValue::Ints(ints));
            }
            let floats = items
                .iter()
                .map(|item| to_f32(item.as_f64().unwrap_or(f64::NAN)))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            Ok(AttrValue::Floats(floats))
        }
        Value::String(s) => Ok(AttrValue::String(s.clone())),
        Value::Object(_) => {
            let t = JsonTensor::deserialize(v).map_err(|e| {
                format!("an object attribute must be a tensor {{\"shape\": [..], \"data\": [..]}}: {e}")
            })?;
            let count = t.shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
            if count != Some(t.data.len()) {
                return Err(format!("tensor of shape {:?} holds {} values", t.shape, t.data.len()));
            }
            let data = t.data.into_iter().map(to_f32).collect::<std::result::Result<Vec<_>, _>>()?;
            Ok(AttrValue::Tensor(Array { shape: t.shape, data }))
        }
        Value::Bool(_) => Err("booleans are not ONNX attributes; use 0 or 1".into()),
        Value::Null => Err("null is not an attribute value".into()),
    }
}

fn to_f32(v: f64) -> std::result::Result<f32, String> {
    let f = v as f32;
    if f.is_finite() {
        Ok(f)
    } else {
        Err(format!("{v} is not a finite float32"))
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A hint when a weight is missing but a key differing by a prefix is present (e.g. a
/// `state_dict` saved from a wrapper module, with keys `model.conv1.weight`).
fn suggestion(name: &str, st: &SafeTensors<'_>) -> String {
    let mut names = st.names();
    names.sort_unstable();
    let close = names.iter().find(|k| {
        k.strip_suffix(name).is_some_and(|p| p.ends_with('.'))
            || name.strip_suffix(**k).is_some_and(|p| p.ends_with('.'))
    });
    match close {
        Some(k) => format!("; did you mean '{k}'?"),
        None => String::new(),
    }
}

/// Reads a whole safetensors file.
pub(crate) fn read_safetensors(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

/// Parses and validates a safetensors file's header against its size.
pub(crate) fn deserialize_safetensors<'a>(bytes: &'a [u8], path: &Path) -> Result<SafeTensors<'a>> {
    SafeTensors::deserialize(bytes).map_err(|e: SafeTensorError| {
        Error::format(path.display().to_string(), format!("not a valid safetensors file: {e}"))
    })
}

/// numpy's name for a safetensors dtype, for messages.
pub(crate) fn dtype_name(d: Dtype) -> String {
    match d {
        Dtype::BOOL => "bool".into(),
        Dtype::U8 => "uint8".into(),
        Dtype::I8 => "int8".into(),
        Dtype::I16 => "int16".into(),
        Dtype::U16 => "uint16".into(),
        Dtype::F16 => "float16".into(),
        Dtype::BF16 => "bfloat16".into(),
        Dtype::I32 => "int32".into(),
        Dtype::U32 => "uint32".into(),
        Dtype::F32 => "float32".into(),
        Dtype::F64 => "float64".into(),
        Dtype::I64 => "int64".into(),
        Dtype::U64 => "uint64".into(),
        other => other.to_string(),
    }
}

/// Converts a safetensors tensor of a float or (I32/I64) integer type to f32.
pub(crate) fn view_to_array(view: &safetensors::tensor::TensorView<'_>) -> std::result::Result<Array, String> {
    let bytes = view.data();
    let data: Vec<f32> = match view.dtype() {
        Dtype::F32 => bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
        Dtype::F64 => bytes
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32)
            .collect(),
        Dtype::F16 => bytes.chunks_exact(2).map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]]))).collect(),
        Dtype::BF16 => {
            bytes.chunks_exact(2).map(|c| f32::from_bits(u32::from(u16::from_le_bytes([c[0], c[1]])) << 16)).collect()
        }
        Dtype::I64 => bytes
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32)
            .collect(),
        Dtype::I32 => bytes.chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f32).collect(),
        other => {
            return Err(format!(
                "dtype {} is not supported (weights must be F32, F64, F16, BF16, I64 or I32)",
                dtype_name(other)
            ))
        }
    };
    let shape = view.shape().to_vec();
    if shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)) != Some(data.len()) {
        return Err(format!("shape {shape:?} does not match its {} values", data.len()));
    }
    Ok(Array { shape, data })
}

/// IEEE 754 binary16 to binary32 (exact).
fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let mant = u32::from(h & 0x3ff);
    let bits = match exp {
        // Zero and subnormals: mant * 2^-24, exact in f32.
        0 => {
            let magnitude = mant as f32 * (1.0 / 16_777_216.0);
            return if sign != 0 { -magnitude } else { magnitude };
        }
        0x1f => sign | 0x7f80_0000 | (mant << 13),
        _ => sign | ((exp + 127 - 15) << 23) | (mant << 13),
    };
    f32::from_bits(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_conversion_is_exact() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x8000).to_bits(), (-0.0f32).to_bits());
        assert_eq!(f16_to_f32(0x7c00), f32::INFINITY);
        assert!(f16_to_f32(0x7e00).is_nan());
        assert_eq!(f16_to_f32(0x3555), 0.333_251_95);
    }

    #[test]
    fn attribute_typing() {
        let v = |s: &str| attr_value(&serde_json::from_str(s).unwrap());
        assert_eq!(v("3"), Ok(AttrValue::Int(3)));
        assert_eq!(v("-3"), Ok(AttrValue::Int(-3)));
        assert_eq!(v("1e-5"), Ok(AttrValue::Float(1e-5)));
        assert_eq!(v("2.0"), Ok(AttrValue::Float(2.0)));
        assert_eq!(v("[1, 2]"), Ok(AttrValue::Ints(vec![1, 2])));
        assert_eq!(v("[]"), Ok(AttrValue::Ints(vec![])));
        assert_eq!(v("[1, 2.5]"), Ok(AttrValue::Floats(vec![1.0, 2.5])));
        assert_eq!(v("[0.5, 2]"), Ok(AttrValue::Floats(vec![0.5, 2.0])));
        assert_eq!(v("\"NOTSET\""), Ok(AttrValue::String("NOTSET".into())));
        assert_eq!(
            v(r#"{"shape": [2], "data": [1, 2.5]}"#),
            Ok(AttrValue::Tensor(Array { shape: vec![2], data: vec![1.0, 2.5] }))
        );
        assert!(v("true").is_err());
        assert!(v("null").is_err());
        assert!(v("[1, \"a\"]").is_err());
        assert!(v("18446744073709551615").is_err());
        assert!(v("1e300").is_err());
        assert!(v(r#"{"shape": [3], "data": [1]}"#).is_err());
    }
}
