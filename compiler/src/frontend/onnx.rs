//! The ONNX front end: reads a `.onnx` protobuf into a [`RawGraph`].
//!
//! It accepts opsets 11 to 21 of the default domain, float32 graph inputs with fixed
//! shapes (a symbolic or unknown batch dimension is set to 1 and noted), and initializers
//! stored inside the file as float32, float64, int32 or int64. `Constant` nodes stay nodes
//! (their value becomes an [`AttrValue::Tensor`]); [`super::build_graph`] folds them and
//! reports nodes of other domains as unsupported.

pub mod proto;
mod tensor;

use self::proto::attribute_proto::AttributeType;
use self::proto::tensor_proto::DataType;
use self::proto::tensor_shape_proto::dimension;
use self::proto::{type_proto, AttributeProto, GraphProto, ModelProto, NodeProto, ValueInfoProto};
use crate::error::{Error, Result};
use crate::ir::{AttrValue, Attrs, RawGraph, RawInput, RawNode};
use prost::Message;
use std::collections::HashSet;
use std::path::Path;

/// The default-domain opsets qforge reads.
pub const OPSETS: std::ops::RangeInclusive<i64> = 11..=21;

/// Reads an ONNX model file.
pub fn load(path: &Path) -> Result<RawGraph> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    from_bytes(&bytes, &path.display().to_string())
}

/// Reads an ONNX model from memory; `source` names it in diagnostics.
pub fn from_bytes(bytes: &[u8], source: &str) -> Result<RawGraph> {
    let model = ModelProto::decode(bytes).map_err(|e| {
        let hint = if e.to_string().contains("buffer underflow") { "; the file may be truncated" } else { "" };
        Error::format(source, format!("not an ONNX model (protobuf decode failed: {e}{hint})"))
    })?;
    let graph = match &model.graph {
        Some(g) if !g.node.is_empty() => g,
        Some(_) => return Err(Error::format(source, "not an ONNX model (the graph has no nodes)")),
        None => return Err(Error::format(source, "not an ONNX model (no graph)")),
    };
    let opset = default_opset(&model, source)?;
    let mut raw = RawGraph { source: source.to_string(), opset, ..Default::default() };
    read_initializers(graph, &mut raw)?;
    read_inputs(graph, &mut raw)?;
    raw.outputs = graph.output.iter().map(|o| o.name.clone()).collect();
    for node in &graph.node {
        raw.nodes.push(read_node(node, source)?);
    }
    Ok(raw)
}

/// The opset version of the default domain, checked against [`OPSETS`].
fn default_opset(model: &ModelProto, file: &str) -> Result<i64> {
    let imported = model.opset_import.iter().find(|o| o.domain.is_empty() || o.domain == "ai.onnx");
    let Some(opset) = imported.map(|o| o.version) else {
        return Err(Error::format(file, "the model imports no opset of the default ONNX domain"));
    };
    if !OPSETS.contains(&opset) {
        return Err(Error::format(
            file,
            format!(
                "ONNX opset {opset} is not supported; qforge reads opsets {} to {} (convert the model \
                 with onnx.version_converter or re-export it)",
                OPSETS.start(),
                OPSETS.end()
            ),
        ));
    }
    Ok(opset)
}

fn read_initializers(graph: &GraphProto, raw: &mut RawGraph) -> Result<()> {
    let file = raw.source.as_str();
    if let Some(sparse) = graph.sparse_initializer.first() {
        let name = sparse.values.as_ref().map(|v| v.name.as_str()).unwrap_or("");
        return Err(Error::tensor(file, name, "sparse initializers are not supported"));
    }
    let mut seen = HashSet::new();
    for t in &graph.initializer {
        if !seen.insert(t.name.as_str()) {
            return Err(Error::tensor(file, &t.name, "the initializer is listed twice"));
        }
        let array = tensor::to_array(t).map_err(|msg| Error::tensor(file, &t.name, msg))?;
        raw.initializers.push((t.name.clone(), array));
    }
    Ok(())
}

/// Graph inputs that are not initializers, with their shapes resolved.
fn read_inputs(graph: &GraphProto, raw: &mut RawGraph) -> Result<()> {
    let weights: HashSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    for input in graph.input.iter().filter(|i| !weights.contains(i.name.as_str())) {
        let shape = input_shape(input, &raw.source, &mut raw.notes)?;
        raw.inputs.push(RawInput { name: input.name.clone(), shape });
    }
    Ok(())
}

fn input_shape(input: &ValueInfoProto, file: &str, notes: &mut Vec<String>) -> Result<Vec<usize>> {
    let name = input.name.as_str();
    let err = |msg: String| Error::tensor(file, name, msg);
    let tensor = match input.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(type_proto::Value::TensorType(t)) => t,
        None => return Err(err("the graph input is not a tensor (or declares no type)".into())),
    };
    if tensor.elem_type != DataType::Float as i32 {
        return Err(err(format!(
            "the graph input has element type {}; qforge compiles models with float32 inputs",
            tensor::type_name(tensor.elem_type)
        )));
    }
    let Some(shape) = &tensor.shape else {
        return Err(err("the graph input declares no shape; qforge needs a fixed input shape".into()));
    };
    let mut dims = Vec::with_capacity(shape.dim.len());
    for (axis, dim) in shape.dim.iter().enumerate() {
        let fixed = match &dim.value {
            Some(dimension::Value::DimValue(v)) if *v > 0 => Some(*v as usize),
            _ => None,
        };
        if let Some(v) = fixed {
            dims.push(v);
            continue;
        }
        let what = match &dim.value {
            Some(dimension::Value::DimParam(p)) => format!("symbolic dimension '{p}'"),
            Some(dimension::Value::DimValue(v)) => format!("dimension of size {v}"),
            None => "unknown dimension".to_string(),
        };
        if axis == 0 {
            let what = what.replacen(" dimension", " batch dimension", 1);
            notes.push(format!("input '{name}': {what} set to 1"));
            dims.push(1);
        } else {
            return Err(err(format!(
                "axis {axis} of the graph input is a {what}; qforge needs a fixed input shape \
                 (only the batch dimension may be symbolic): re-export the model with a fixed size"
            )));
        }
    }
    Ok(dims)
}

fn read_node(node: &NodeProto, file: &str) -> Result<RawNode> {
    let mut attrs = Attrs::default();
    for a in &node.attribute {
        let value = attr_value(a).map_err(|msg| {
            let name = if node.name.is_empty() {
                node.output.first().map(|o| format!("{}_{o}", node.op_type)).unwrap_or_default()
            } else {
                node.name.clone()
            };
            Error::node(file, name, &node.op_type, format!("attribute '{}': {msg}", a.name))
        })?;
        attrs.set(a.name.clone(), value);
    }
    Ok(RawNode {
        name: node.name.clone(),
        op_type: node.op_type.clone(),
        domain: node.domain.clone(),
        attrs,
        inputs: node.input.clone(),
        outputs: node.output.clone(),
    })
}

fn attr_value(a: &AttributeProto) -> std::result::Result<AttrValue, String> {
    if !a.ref_attr_name.is_empty() {
        return Err(format!("refers to function attribute '{}', which qforge does not resolve", a.ref_attr_name));
    }
    Ok(match AttributeType::try_from(a.r#type) {
        Ok(AttributeType::Float) => AttrValue::Float(a.f),
        Ok(AttributeType::Int) => AttrValue::Int(a.i),
        Ok(AttributeType::Floats) => AttrValue::Floats(a.floats.clone()),
        Ok(AttributeType::Ints) => AttrValue::Ints(a.ints.clone()),
        Ok(AttributeType::String) => AttrValue::String(
            String::from_utf8(a.s.clone()).map_err(|_| "the string value is not valid UTF-8".to_string())?,
        ),
        Ok(AttributeType::Tensor) => {
            let t = a.t.as_ref().ok_or("the tensor value is missing")?;
            AttrValue::Tensor(tensor::to_array(t).map_err(|msg| format!("tensor value: {msg}"))?)
        }
        Ok(AttributeType::Undefined) => return Err("the attribute declares no type (IR version 1)".into()),
        Ok(other) => return Err(format!("attributes of type {} are not supported", attr_type_name(other))),
        Err(_) => return Err(format!("unknown attribute type {}", a.r#type)),
    })
}

fn attr_type_name(t: AttributeType) -> &'static str {
    match t {
        AttributeType::Undefined => "UNDEFINED",
        AttributeType::Float => "FLOAT",
        AttributeType::Int => "INT",
        AttributeType::String => "STRING",
        AttributeType::Tensor => "TENSOR",
        AttributeType::Graph => "GRAPH",
        AttributeType::SparseTensor => "SPARSE_TENSOR",
        AttributeType::TypeProto => "TYPE_PROTO",
        AttributeType::Floats => "FLOATS",
        AttributeType::Ints => "INTS",
        AttributeType::Strings => "STRINGS",
        AttributeType::Tensors => "TENSORS",
        AttributeType::Graphs => "GRAPHS",
        AttributeType::SparseTensors => "SPARSE_TENSORS",
        AttributeType::TypeProtos => "TYPE_PROTOS",
    }
}
