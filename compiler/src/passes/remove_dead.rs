//! Removes nodes none of whose outputs reach a graph output.

use crate::error::Result;
use crate::ir::Graph;

/// Drops dead nodes (walking backwards so chains of dead nodes go in one run).
pub fn remove_dead(g: &mut Graph) -> Result<bool> {
    let mut live = vec![false; g.tensors.len()];
    for &o in &g.outputs {
        live[o] = true;
    }
    let mut keep = vec![false; g.nodes.len()];
    for (i, n) in g.nodes.iter().enumerate().rev() {
        if n.outputs.iter().any(|&o| live[o]) {
            keep[i] = true;
            for &input in n.inputs.iter().flatten() {
                live[input] = true;
            }
        }
    }
    let before = g.nodes.len();
    let mut k = keep.into_iter();
    g.nodes.retain(|_| k.next().unwrap_or(true));
    Ok(g.nodes.len() != before)
}
