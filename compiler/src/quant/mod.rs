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

/// Shrinks every step's scratch tensor (the bands of a fused pair or of a banded im2col
/// GEMM) to the least its kernel works with, and plans again: the smallest arena this
/// program can have with its steps, for a RAM budget the default bands do not fit. Output
/// bytes do not change; the narrower bands cost some speed.
pub fn least_scratch(p: &mut Program) {
    for i in 0..p.steps.len() {
        let (t, least) = match &p.steps[i].kernel {
            Kernel::ExpandDepthwise { pair, scratch, .. } => (*scratch, pair.min_scratch()),
            Kernel::DepthwiseProject { layers, scratch, .. } => (*scratch, layers.min_scratch()),
            Kernel::Im2colGemm { conv, scratch, .. } => (*scratch, conv.min_scratch()),
            _ => continue,
        };
        p.tensors[t].shape = vec![least];
    }
    plan::plan(p);
}

/// The smallest arena the compiler can plan: every expand + depthwise pair fused whatever
/// its size (the expanded tensors are never stored), and every scratch band at its least.
/// The same output bytes as the default program, more slowly.
pub fn least_arena(p: &mut Program) {
    fuse::split_depthwise_project(p);
    fuse::expand_depthwise_with(p, 0, 0);
    fuse::depthwise_project_with(p, 0);
    least_scratch(p);
}

/// Lowers and plans: the program the simulator runs and codegen emits.
pub fn quantize(g: &Graph, stats: &Stats, stats_source: &str) -> Result<Program> {
    let mut p = lower(g, stats, stats_source)?;
    fuse::expand_depthwise(&mut p);
    fuse::depthwise_project(&mut p);
    fuse::widen_for_threads(&mut p, fuse::PLANNED_THREADS);
    plan::plan_for_threads(&mut p);
    Ok(p)
}
