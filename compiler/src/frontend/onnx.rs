//! The ONNX front end: reads a `.onnx` protobuf into a [`RawGraph`].

use crate::error::{Error, Result};
use crate::ir::RawGraph;
use std::path::Path;

/// Reads an ONNX model.
pub fn load(path: &Path) -> Result<RawGraph> {
    Err(Error::format(path.display().to_string(), "the ONNX front end is not implemented yet"))
}
