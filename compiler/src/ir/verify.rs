//! The IR verifier, run after every pass: each tensor has at most one producer, every node
//! reads only tensors that are constants, graph inputs or produced by an earlier node, and
//! every graph output is produced.

use super::Graph;
use crate::error::{Error, Result};

/// Checks the graph's structural invariants.
pub fn verify(g: &Graph) -> Result<()> {
    let mut available = vec![false; g.tensors.len()];
    for (i, t) in g.tensors.iter().enumerate() {
        if t.is_const() {
            available[i] = true;
        }
    }
    for &i in &g.inputs {
        available[i] = true;
    }
    let mut produced = vec![false; g.tensors.len()];
    for n in &g.nodes {
        for &i in n.inputs.iter().flatten() {
            if i >= g.tensors.len() || !available[i] {
                let name = g.tensors.get(i).map(|t| t.name.as_str()).unwrap_or("?");
                return Err(Error::node(
                    &g.source,
                    &n.name,
                    n.op.type_name(),
                    format!("reads '{name}' before it is produced"),
                ));
            }
        }
        for &o in &n.outputs {
            if produced[o] || g.tensors[o].is_const() || g.inputs.contains(&o) {
                return Err(Error::node(
                    &g.source,
                    &n.name,
                    n.op.type_name(),
                    format!("'{}' has more than one producer", g.tensors[o].name),
                ));
            }
            produced[o] = true;
            available[o] = true;
        }
    }
    for &o in &g.outputs {
        if !available[o] {
            return Err(Error::tensor(&g.source, &g.tensors[o].name, "graph output is never produced"));
        }
    }
    Ok(())
}
