//! The fp32 reference interpreter: runs a [`Graph`] node by node with each op's `eval`.

#[allow(unused_imports)]
use crate::ir::Array;
use crate::ir::Graph;
