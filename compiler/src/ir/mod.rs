//! The fp32 intermediate representation every front end builds and every pass rewrites.
//!
//! A [`Graph`] is a list of [`Node`]s in topological order over a table of [`Tensor`]s.
//! Constant tensors (weights, biases, BatchNorm statistics) carry their data; activation
//! tensors carry only a name and, after shape inference, a shape. Front ends never build a
//! `Graph` directly: they produce a [`RawGraph`] (names and generic attributes), and
//! [`crate::frontend::build_graph`] turns it into typed ops, reporting every unsupported
//! node at once.

mod attrs;
mod raw;
mod verify;

pub use attrs::{AttrValue, Attrs};
pub use raw::{RawGraph, RawInput, RawNode};
pub use verify::verify;

use crate::ops::Op;
use std::sync::Arc;

/// Index of a tensor in [`Graph::tensors`].
pub type TensorId = usize;

/// A dense fp32 array in row-major (ONNX) order.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// `shape.iter().product()` values.
    pub data: Vec<f32>,
}

impl Array {
    /// Wraps `data`, which must hold exactly `shape.iter().product()` values.
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Self {
        assert_eq!(shape.iter().product::<usize>(), data.len(), "array data does not match its shape");
        Array { shape, data }
    }

    /// An array of zeros.
    pub fn zeros(shape: Vec<usize>) -> Self {
        let n = shape.iter().product();
        Array { shape, data: vec![0.0; n] }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True when the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// One tensor of the graph: an activation or a constant.
#[derive(Clone, Debug)]
pub struct Tensor {
    /// The name the source model gave it (ONNX value name, or safetensors key).
    pub name: String,
    /// Known after shape inference (constants always know theirs).
    pub shape: Option<Vec<usize>>,
    /// Present for constants.
    pub data: Option<Arc<Array>>,
}

impl Tensor {
    /// True when the tensor is a constant (weights, biases, statistics, shapes).
    pub fn is_const(&self) -> bool {
        self.data.is_some()
    }
}

/// One operation.
#[derive(Clone, Debug)]
pub struct Node {
    /// The source node's name (or a generated one if the source had none).
    pub name: String,
    /// The typed operation with its attributes.
    pub op: Op,
    /// Input tensors; `None` for an omitted optional input (ONNX empty name).
    pub inputs: Vec<Option<TensorId>>,
    /// Output tensors.
    pub outputs: Vec<TensorId>,
}

impl Node {
    /// The `i`th input, if present.
    pub fn input(&self, i: usize) -> Option<TensorId> {
        self.inputs.get(i).copied().flatten()
    }
}

/// A whole model in fp32.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    /// The file the graph came from, used in every diagnostic.
    pub source: String,
    /// All tensors, indexed by [`TensorId`].
    pub tensors: Vec<Tensor>,
    /// Nodes in topological order.
    pub nodes: Vec<Node>,
    /// Graph inputs (activations fed by the caller).
    pub inputs: Vec<TensorId>,
    /// Graph outputs.
    pub outputs: Vec<TensorId>,
    /// Notes made while importing (e.g. a symbolic batch dimension set to 1).
    pub notes: Vec<String>,
}

impl Graph {
    /// Adds a tensor and returns its id.
    pub fn add_tensor(
        &mut self,
        name: impl Into<String>,
        shape: Option<Vec<usize>>,
        data: Option<Arc<Array>>,
    ) -> TensorId {
        self.tensors.push(Tensor { name: name.into(), shape, data });
        self.tensors.len() - 1
    }

    /// Adds a constant tensor and returns its id.
    pub fn add_const(&mut self, name: impl Into<String>, array: Array) -> TensorId {
        let shape = array.shape.clone();
        self.add_tensor(name, Some(shape), Some(Arc::new(array)))
    }

    /// The tensor with this id.
    pub fn tensor(&self, id: TensorId) -> &Tensor {
        &self.tensors[id]
    }

    /// The constant data of `id`, if it is a constant.
    pub fn const_data(&self, id: TensorId) -> Option<&Array> {
        self.tensors[id].data.as_deref()
    }

    /// The shape of `id`, if known.
    pub fn shape(&self, id: TensorId) -> Option<&[usize]> {
        self.tensors[id].shape.as_deref()
    }

    /// Index of the node producing `t`, if any.
    pub fn producer(&self, t: TensorId) -> Option<usize> {
        self.nodes.iter().position(|n| n.outputs.contains(&t))
    }

    /// Indices of the nodes reading `t`.
    pub fn consumers(&self, t: TensorId) -> Vec<usize> {
        self.nodes.iter().enumerate().filter(|(_, n)| n.inputs.contains(&Some(t))).map(|(i, _)| i).collect()
    }

    /// True when `t` is read by a graph output or by more than one input slot overall.
    pub fn is_graph_output(&self, t: TensorId) -> bool {
        self.outputs.contains(&t)
    }

    /// Replaces every use of `old` (node inputs and graph outputs) by `new`.
    pub fn replace_uses(&mut self, old: TensorId, new: TensorId) {
        for n in &mut self.nodes {
            for i in n.inputs.iter_mut().flatten() {
                if *i == old {
                    *i = new;
                }
            }
        }
        for o in &mut self.outputs {
            if *o == old {
                *o = new;
            }
        }
    }

    /// Number of non-constant (activation) tensors read or written by nodes.
    pub fn activation_count(&self) -> usize {
        self.tensors.iter().filter(|t| !t.is_const()).count()
    }
}
