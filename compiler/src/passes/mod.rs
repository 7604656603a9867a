//! Graph passes, run in the order [`PIPELINE`] lists, with the IR verified after each.
//!
//! Each pass is a small function that rewrites the graph in place and says whether it
//! changed anything. Every pass is tested for equivalence (same fp32 outputs with and
//! without it, within a stated tolerance) in `compiler/tests/passes.rs`.

mod fold_batch_norm;
mod fold_bias_add;
mod fuse_activation;
mod infer_shapes;
mod remove_dead;
mod remove_identity;

pub use fold_batch_norm::fold_batch_norm;
pub use fold_bias_add::fold_bias_add;
pub use fuse_activation::fuse_activation;
pub use infer_shapes::infer_shapes;
pub use remove_dead::remove_dead;
pub use remove_identity::remove_identity;

use crate::error::Result;
use crate::ir::{verify, Graph};

/// A named graph rewrite.
#[derive(Clone, Copy, Debug)]
pub struct Pass {
    /// Short name, shown by `qforge inspect --passes` and used by tests.
    pub name: &'static str,
    /// Rewrites the graph; returns whether it changed.
    pub run: fn(&mut Graph) -> Result<bool>,
}

/// The passes, in order.
pub const PIPELINE: &[Pass] = &[
    Pass { name: "infer-shapes", run: infer_shapes },
    Pass { name: "remove-identity", run: remove_identity },
    Pass { name: "fold-batch-norm", run: fold_batch_norm },
    Pass { name: "fold-bias-add", run: fold_bias_add },
    Pass { name: "fuse-activation", run: fuse_activation },
    Pass { name: "remove-dead", run: remove_dead },
];

/// Runs the whole pipeline, verifying the IR after every pass. Returns the names of the
/// passes that changed the graph.
pub fn optimize(g: &mut Graph) -> Result<Vec<&'static str>> {
    run_passes(g, PIPELINE)
}

/// Runs the given passes in order, verifying the IR after each.
pub fn run_passes(g: &mut Graph, passes: &[Pass]) -> Result<Vec<&'static str>> {
    let mut changed = Vec::new();
    for pass in passes {
        if (pass.run)(g)? {
            changed.push(pass.name);
        }
        verify(g)?;
    }
    Ok(changed)
}

/// Removes node `index`, redirecting readers of its first output to `replacement`.
pub(crate) fn bypass(g: &mut Graph, index: usize, replacement: crate::ir::TensorId) {
    let old = g.nodes[index].outputs[0];
    g.nodes.remove(index);
    g.replace_uses(old, replacement);
}

/// True when `t` is read by exactly one node and is not a graph output.
pub(crate) fn single_use(g: &Graph, t: crate::ir::TensorId) -> bool {
    !g.is_graph_output(t) && g.nodes.iter().flat_map(|n| n.inputs.iter().flatten()).filter(|&&i| i == t).count() == 1
}
