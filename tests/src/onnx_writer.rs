//! Builds ONNX models from Rust with the front end's own proto structs
//! (`qforge::frontend::onnx::proto`) and encodes them to bytes.
//!
//! [`ModelBuilder`] holds a graph under construction and the shapes of the values it
//! knows, so that layer helpers (`conv`, `batch_norm`, `gemm`, ..., in `layers.rs`) can
//! create weights of the right size and return the name of their output:
//!
//! ```
//! use qforge_tests::onnx_writer::ModelBuilder;
//! let mut mb = ModelBuilder::new(7);
//! let x = mb.input("x", &[1, 3, 8, 8]);
//! let y = mb.conv(&x, 4, 3, 1, 1, 1, true);
//! let y = mb.relu(&y);
//! mb.output(&y);
//! let bytes = mb.finish();
//! assert!(!bytes.is_empty());
//! ```

use crate::rng::Rng;
use prost::Message;
use qforge::frontend::onnx::proto::tensor_proto::DataType;
use qforge::frontend::onnx::proto::{
    attribute_proto::AttributeType, tensor_shape_proto::dimension, tensor_shape_proto::Dimension, type_proto,
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, TensorShapeProto, TypeProto,
    ValueInfoProto,
};
use std::collections::HashMap;
use std::path::Path;

/// One dimension of a graph input.
#[derive(Clone, Debug, PartialEq)]
pub enum Dim {
    /// A fixed size.
    Fixed(usize),
    /// A symbolic size (`dim_param`).
    Symbolic(String),
    /// Neither value nor symbol.
    Unknown,
}

/// A graph under construction, with a seeded generator for its weights.
#[derive(Debug)]
pub struct ModelBuilder {
    graph: GraphProto,
    opset: i64,
    /// Store float initializers in `float_data` instead of `raw_data`.
    float_data: bool,
    shapes: HashMap<String, Vec<usize>>,
    counter: usize,
    /// The generator the layer helpers draw weights from.
    pub rng: Rng,
}

impl ModelBuilder {
    /// An empty model (opset 13) whose weights come from `seed`.
    pub fn new(seed: u64) -> Self {
        ModelBuilder {
            graph: GraphProto { name: "qforge_test".into(), ..Default::default() },
            opset: 13,
            float_data: false,
            shapes: HashMap::new(),
            counter: 0,
            rng: Rng::new(seed),
        }
    }

    /// Sets the default-domain opset written by [`finish`](Self::finish).
    pub fn with_opset(mut self, opset: i64) -> Self {
        self.opset = opset;
        self
    }

    /// Stores float initializers in `float_data` (default: little-endian `raw_data`).
    pub fn with_float_data(mut self, on: bool) -> Self {
        self.float_data = on;
        self
    }

    /// The opset the model declares.
    pub fn opset(&self) -> i64 {
        self.opset
    }

    /// A fresh name `{prefix}_{n}`, unique within this model.
    pub fn fresh(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}_{}", self.counter)
    }

    /// The known shape of a value (inputs, initializers, helper outputs).
    pub fn shape(&self, name: &str) -> &[usize] {
        self.shapes.get(name).unwrap_or_else(|| panic!("the builder does not know the shape of '{name}'"))
    }

    /// Records the shape of a value produced by a raw [`node`](Self::node).
    pub fn set_shape(&mut self, name: &str, shape: &[usize]) {
        self.shapes.insert(name.to_string(), shape.to_vec());
    }

    /// Adds a float32 graph input with a fixed shape and returns its name.
    pub fn input(&mut self, name: &str, shape: &[usize]) -> String {
        let dims: Vec<Dim> = shape.iter().map(|&d| Dim::Fixed(d)).collect();
        self.input_dims(name, &dims, DataType::Float);
        self.set_shape(name, shape);
        name.to_string()
    }

    /// Adds a graph input with any dimensions and element type (for front-end tests).
    pub fn input_dims(&mut self, name: &str, dims: &[Dim], elem_type: DataType) {
        self.graph.input.push(value_info(name, elem_type, Some(dims)));
    }

    /// Adds a float32 initializer and returns its name.
    pub fn initializer(&mut self, name: &str, shape: &[usize], data: Vec<f32>) -> String {
        assert_eq!(shape.iter().product::<usize>(), data.len(), "initializer '{name}' does not match its shape");
        let mut t = TensorProto {
            name: name.into(),
            dims: shape.iter().map(|&d| d as i64).collect(),
            data_type: DataType::Float as i32,
            ..Default::default()
        };
        if self.float_data {
            t.float_data = data;
        } else {
            t.raw_data = le_bytes(&data);
        }
        self.add_tensor(t, shape)
    }

    /// Adds an int64 initializer (Reshape shapes) and returns its name.
    pub fn initializer_i64(&mut self, name: &str, shape: &[usize], data: &[i64]) -> String {
        let t = TensorProto {
            name: name.into(),
            dims: shape.iter().map(|&d| d as i64).collect(),
            data_type: DataType::Int64 as i32,
            raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        };
        self.add_tensor(t, shape)
    }

    /// Adds any tensor as an initializer (for front-end tests of odd encodings).
    pub fn add_tensor(&mut self, t: TensorProto, shape: &[usize]) -> String {
        let name = t.name.clone();
        self.set_shape(&name, shape);
        self.graph.initializer.push(t);
        name
    }

    /// Replaces the data of a float32 initializer (keeps its encoding).
    pub fn set_initializer(&mut self, name: &str, data: &[f32]) {
        let float_data = self.float_data;
        let t = self
            .graph
            .initializer
            .iter_mut()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("no initializer named '{name}'"));
        assert_eq!(t.dims.iter().product::<i64>() as usize, data.len(), "new data for '{name}' has the wrong size");
        if float_data {
            t.float_data = data.to_vec();
        } else {
            t.raw_data = le_bytes(data);
        }
    }

    /// The data of a float32 initializer.
    pub fn initializer_data(&self, name: &str) -> Option<Vec<f32>> {
        let t = self.graph.initializer.iter().find(|t| t.name == name)?;
        if t.raw_data.is_empty() {
            return Some(t.float_data.clone());
        }
        Some(t.raw_data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
    }

    /// Adds a node named after its first output; returns that output's name.
    pub fn node(&mut self, op_type: &str, inputs: &[&str], outputs: &[&str], attrs: Vec<AttributeProto>) -> String {
        self.graph.node.push(NodeProto {
            name: outputs.first().map(|o| o.to_string()).unwrap_or_default(),
            op_type: op_type.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs.iter().map(|s| s.to_string()).collect(),
            attribute: attrs,
            ..Default::default()
        });
        outputs.first().map(|o| o.to_string()).unwrap_or_default()
    }

    /// Adds a node of a non-default domain (for front-end tests).
    pub fn node_in_domain(&mut self, domain: &str, op_type: &str, inputs: &[&str], outputs: &[&str]) -> String {
        let out = self.node(op_type, inputs, outputs, vec![]);
        if let Some(n) = self.graph.node.last_mut() {
            n.domain = domain.into();
        }
        out
    }

    /// Marks `name` as a graph output (its shape is written when known).
    pub fn output(&mut self, name: &str) {
        let dims: Option<Vec<Dim>> = self.shapes.get(name).map(|s| s.iter().map(|&d| Dim::Fixed(d)).collect());
        self.graph.output.push(value_info(name, DataType::Float, dims.as_deref()));
    }

    /// The model as a proto.
    pub fn model(&self) -> ModelProto {
        ModelProto { graph: Some(self.graph.clone()), ..self.header() }
    }

    /// Everything but the graph.
    fn header(&self) -> ModelProto {
        ModelProto {
            ir_version: ir_version(self.opset),
            opset_import: vec![OperatorSetIdProto { domain: String::new(), version: self.opset }],
            producer_name: "qforge-tests".into(),
            producer_version: env!("CARGO_PKG_VERSION").into(),
            ..Default::default()
        }
    }

    /// The encoded model. The graph field is encoded in place rather than from a copy
    /// (VGG-16 holds 550 MB of weights); it comes after the other fields, which protobuf
    /// allows.
    pub fn finish(&self) -> Vec<u8> {
        let header = self.header();
        let mut buf = Vec::with_capacity(header.encoded_len() + self.graph.encoded_len() + 16);
        header.encode(&mut buf).expect("a Vec grows as needed");
        buf.push((7 << 3) | 2); // field 7 (graph), wire type 2 (length-delimited)
        self.graph.encode_length_delimited(&mut buf).expect("a Vec grows as needed");
        buf
    }

    /// Writes the encoded model to `path`.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, self.finish())
    }
}

/// Little-endian bytes of `data` (the `raw_data` encoding of float32).
pub fn le_bytes(data: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 * data.len());
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// The IR version that goes with an opset (the one the ONNX release introducing it wrote).
pub fn ir_version(opset: i64) -> i64 {
    match opset {
        ..=9 => 4,
        10 => 5,
        11 => 6,
        12..=14 => 7,
        15..=18 => 8,
        19..=20 => 9,
        _ => 10,
    }
}

/// A tensor `ValueInfoProto`; `dims: None` leaves the shape out.
pub fn value_info(name: &str, elem_type: DataType, dims: Option<&[Dim]>) -> ValueInfoProto {
    let shape = dims.map(|dims| TensorShapeProto {
        dim: dims
            .iter()
            .map(|d| Dimension {
                value: match d {
                    Dim::Fixed(v) => Some(dimension::Value::DimValue(*v as i64)),
                    Dim::Symbolic(s) => Some(dimension::Value::DimParam(s.clone())),
                    Dim::Unknown => None,
                },
                ..Default::default()
            })
            .collect(),
    });
    let tensor = type_proto::Tensor { elem_type: elem_type as i32, shape };
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto { value: Some(type_proto::Value::TensorType(tensor)), ..Default::default() }),
        ..Default::default()
    }
}

/// Attribute constructors.
pub mod attr {
    use super::*;

    fn base(name: &str, t: AttributeType) -> AttributeProto {
        AttributeProto { name: name.into(), r#type: t as i32, ..Default::default() }
    }

    /// An `INT` attribute.
    pub fn int(name: &str, v: i64) -> AttributeProto {
        AttributeProto { i: v, ..base(name, AttributeType::Int) }
    }

    /// A `FLOAT` attribute.
    pub fn float(name: &str, v: f32) -> AttributeProto {
        AttributeProto { f: v, ..base(name, AttributeType::Float) }
    }

    /// An `INTS` attribute.
    pub fn ints(name: &str, v: &[i64]) -> AttributeProto {
        AttributeProto { ints: v.to_vec(), ..base(name, AttributeType::Ints) }
    }

    /// A `FLOATS` attribute.
    pub fn floats(name: &str, v: &[f32]) -> AttributeProto {
        AttributeProto { floats: v.to_vec(), ..base(name, AttributeType::Floats) }
    }

    /// A `STRING` attribute.
    pub fn string(name: &str, v: &str) -> AttributeProto {
        AttributeProto { s: v.as_bytes().to_vec(), ..base(name, AttributeType::String) }
    }

    /// A `TENSOR` attribute holding a float32 tensor.
    pub fn tensor(name: &str, shape: &[usize], data: &[f32]) -> AttributeProto {
        let t = TensorProto {
            dims: shape.iter().map(|&d| d as i64).collect(),
            data_type: DataType::Float as i32,
            raw_data: le_bytes(data),
            ..Default::default()
        };
        AttributeProto { t: Some(t), ..base(name, AttributeType::Tensor) }
    }
}
