//! The fp32 reference interpreter: runs a [`Graph`] node by node with each op's `eval`.

use crate::ir::Graph;
#[allow(unused_imports)]
use crate::ir::Array;
