//! The compiler's error type. Every error names the file it concerns and, where there is
//! one, the node or tensor; `Display` gives the one-line message the CLI prints.

use std::path::PathBuf;

/// One node the compiler does not support.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnsupportedNode {
    /// Node name.
    pub name: String,
    /// Operator type (with domain, if not the default one).
    pub op_type: String,
    /// Opset version of its domain.
    pub opset: i64,
}

/// Everything that can go wrong between reading a model and writing a crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A file is not in the expected format (not ONNX, truncated, bad header, ...).
    #[error("{file}: {msg}")]
    Format {
        /// The file.
        file: String,
        /// What is wrong.
        msg: String,
    },
    /// A node is malformed (bad attributes, wrong input count, shape mismatch, ...).
    #[error("{file}: node '{node}' ({op}): {msg}")]
    Node {
        /// The model file.
        file: String,
        /// Node name.
        node: String,
        /// Operator type.
        op: String,
        /// What is wrong.
        msg: String,
    },
    /// A tensor is missing or malformed (missing weight, NaN in weights, bad statistics).
    #[error("{file}: tensor '{tensor}': {msg}")]
    Tensor {
        /// The file the tensor belongs to (model, weights, statistics or calibration data).
        file: String,
        /// Tensor name.
        tensor: String,
        /// What is wrong.
        msg: String,
    },
    /// The model uses operators qforge does not support; all of them are listed.
    #[error("{file}: {} unsupported node(s): {}", nodes.len(), list_unsupported(nodes))]
    Unsupported {
        /// The model file.
        file: String,
        /// Every unsupported node.
        nodes: Vec<UnsupportedNode>,
    },
    /// The planned model does not fit a memory budget (RAM: the arena; flash: the weights).
    #[error("{0}")]
    OverBudget(crate::memory::BudgetExceeded),
    /// Anything else that concerns a whole file (e.g. an output folder that exists).
    #[error("{0}")]
    Other(String),
}

fn list_unsupported(nodes: &[UnsupportedNode]) -> String {
    nodes.iter().map(|n| format!("'{}' ({}, opset {})", n.name, n.op_type, n.opset)).collect::<Vec<_>>().join(", ")
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    /// A format error in `file`.
    pub fn format(file: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Format { file: file.into(), msg: msg.into() }
    }

    /// A node error.
    pub fn node(
        file: impl Into<String>,
        node: impl Into<String>,
        op: impl Into<String>,
        msg: impl Into<String>,
    ) -> Self {
        Error::Node { file: file.into(), node: node.into(), op: op.into(), msg: msg.into() }
    }

    /// A tensor error.
    pub fn tensor(file: impl Into<String>, tensor: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Tensor { file: file.into(), tensor: tensor.into(), msg: msg.into() }
    }
}

/// The compiler's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
