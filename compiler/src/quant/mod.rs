//! Quantization: from the optimized fp32 graph and activation statistics to a planned
//! integer [`Program`] (see `docs/numerics.md` for every formula).

pub mod blob;
pub mod fuse;
mod lower;
pub mod params;
pub mod plan;
pub mod program;

pub use lower::lower;
pub use program::{BlobRef, ChannelRefs, GemmRefs, Kernel, Layout, Program, QTensor, QTensorId, Step};

use crate::calib::Stats;
use crate::error::Result;
use crate::ir::Graph;

/// Lowers and plans: the program the simulator runs and codegen emits.
pub fn quantize(g: &Graph, stats: &Stats, stats_source: &str) -> Result<Program> {
    let mut p = lower(g, stats, stats_source)?;
    fuse::expand_depthwise(&mut p);
    plan::plan(&mut p);
    Ok(p)
}
