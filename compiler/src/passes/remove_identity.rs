//! Removes `Identity` and inference-mode `Dropout`: readers of the output read the input.

use crate::error::{Error, Result};
use crate::ir::Graph;
use crate::ops::Op;

/// Bypasses every Identity and Dropout node.
pub fn remove_identity(g: &mut Graph) -> Result<bool> {
    let mut changed = false;
    let mut i = 0;
    while i < g.nodes.len() {
        let node = &g.nodes[i];
        if !matches!(node.op, Op::Identity | Op::Dropout) {
            i += 1;
            continue;
        }
        if let Some(&mask) = node.outputs.get(1) {
            let used = g.is_graph_output(mask) || !g.consumers(mask).is_empty();
            if used {
                return Err(Error::node(
                    &g.source,
                    &node.name,
                    node.op.type_name(),
                    "the Dropout mask output is used; only inference-mode Dropout is supported",
                ));
            }
        }
        let input =
            node.input(0).ok_or_else(|| Error::node(&g.source, &node.name, node.op.type_name(), "has no input"))?;
        super::bypass(g, i, input);
        changed = true;
    }
    Ok(changed)
}
