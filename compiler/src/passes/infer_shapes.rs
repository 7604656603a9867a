//! Shape inference: every activation gets a concrete shape, or the node that cannot produce
//! one gets an error (e.g. a channel mismatch between graph and weights).

use crate::error::{Error, Result};
use crate::ir::Graph;
use crate::ops::InputInfo;

/// Infers the shape of every node output from its inputs.
pub fn infer_shapes(g: &mut Graph) -> Result<bool> {
    let mut changed = false;
    for i in 0..g.nodes.len() {
        let node = &g.nodes[i];
        let err = |msg: String| Error::node(&g.source, &node.name, node.op.type_name(), msg);
        let mut infos = Vec::with_capacity(node.inputs.len());
        for input in &node.inputs {
            match input {
                None => infos.push(None),
                Some(id) => {
                    let t = g.tensor(*id);
                    let shape =
                        t.shape.as_deref().ok_or_else(|| err(format!("the shape of input '{}' is unknown", t.name)))?;
                    infos.push(Some(InputInfo { shape, data: t.data.as_deref() }));
                }
            }
        }
        let shapes = node.op.infer(&infos).map_err(err)?;
        if shapes.len() < node.outputs.len() {
            return Err(err(format!("has {} outputs, the op produces {}", node.outputs.len(), shapes.len())));
        }
        let outputs = node.outputs.clone();
        for (o, shape) in outputs.into_iter().zip(shapes) {
            if g.tensors[o].shape.as_ref() != Some(&shape) {
                g.tensors[o].shape = Some(shape);
                changed = true;
            }
        }
    }
    Ok(changed)
}
