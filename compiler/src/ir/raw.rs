//! What a front end hands over: names, op types and generic attributes, not yet typed.

use super::{Array, Attrs};

/// A graph input as declared by the source model.
#[derive(Clone, Debug, PartialEq)]
pub struct RawInput {
    /// Value name.
    pub name: String,
    /// Dimensions; symbolic or unknown dimensions are already resolved by the front end
    /// (a symbolic batch is set to 1 and noted in [`RawGraph::notes`]).
    pub shape: Vec<usize>,
}

/// One node as the source model spells it.
#[derive(Clone, Debug, PartialEq)]
pub struct RawNode {
    /// Node name (may be empty in ONNX; the builder then names it after its first output).
    pub name: String,
    /// Operator type, ONNX spelling (`Conv`, `BatchNormalization`, ...).
    pub op_type: String,
    /// Operator domain; empty for the default ONNX domain.
    pub domain: String,
    /// Attributes.
    pub attrs: Attrs,
    /// Input value names; an empty string marks an omitted optional input.
    pub inputs: Vec<String>,
    /// Output value names.
    pub outputs: Vec<String>,
}

/// A model as read by a front end.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RawGraph {
    /// Path of the source file (used in diagnostics).
    pub source: String,
    /// Opset version of the default domain (the native JSON format's `opset` field, 17 when absent).
    pub opset: i64,
    /// Graph inputs that are activations (initializers excluded).
    pub inputs: Vec<RawInput>,
    /// Output value names.
    pub outputs: Vec<String>,
    /// Nodes in the order the file lists them.
    pub nodes: Vec<RawNode>,
    /// Constant tensors by name (ONNX initializers, or safetensors weights).
    pub initializers: Vec<(String, Array)>,
    /// Notes made while reading (shown to the user, not errors).
    pub notes: Vec<String>,
}
