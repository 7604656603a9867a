//! Front ends: they read a model file into a [`RawGraph`] and never emit anything.
//! [`build_graph`] then turns the raw graph into the typed IR.

pub mod json;
pub mod onnx;

use crate::error::{Error, Result, UnsupportedNode};
use crate::ir::{Array, Graph, RawGraph, TensorId};
use crate::ops::Op;
use std::collections::HashMap;
use std::path::Path;

/// Loads a model: `.onnx` files through the ONNX front end, `.json` graph descriptions
/// through the native front end (weights from `weights`, or the `.safetensors` file the
/// JSON names).
pub fn load(path: &Path, weights: Option<&Path>) -> Result<Graph> {
    let raw = match path.extension().and_then(|e| e.to_str()) {
        Some("json") => json::load(path, weights)?,
        _ => onnx::load(path)?,
    };
    build_graph(raw)
}

/// Turns a raw graph into typed IR: resolves names, parses every op, folds `Constant`
/// nodes into constants, and reports all unsupported nodes in one error.
pub fn build_graph(raw: RawGraph) -> Result<Graph> {
    let file = raw.source.clone();
    let mut g = Graph { source: file.clone(), notes: raw.notes.clone(), ..Default::default() };
    let mut by_name: HashMap<String, TensorId> = HashMap::new();
    for (name, array) in raw.initializers {
        check_finite(&file, &name, &array)?;
        let id = g.add_const(name.clone(), array);
        by_name.insert(name, id);
    }
    for input in &raw.inputs {
        if by_name.contains_key(&input.name) {
            continue;
        }
        let id = g.add_tensor(input.name.clone(), Some(input.shape.clone()), None);
        by_name.insert(input.name.clone(), id);
        g.inputs.push(id);
    }
    let mut unsupported = Vec::new();
    for (index, node) in raw.nodes.iter().enumerate() {
        let name = if node.name.is_empty() {
            node.outputs
                .first()
                .map(|o| format!("{}_{}", node.op_type, o))
                .unwrap_or_else(|| format!("{}_{index}", node.op_type))
        } else {
            node.name.clone()
        };
        let node_err = |msg: String| Error::node(&file, &name, &node.op_type, msg);
        if !node.domain.is_empty() && node.domain != "ai.onnx" {
            unsupported.push(UnsupportedNode {
                name,
                op_type: format!("{}.{}", node.domain, node.op_type),
                opset: raw.opset,
            });
            declare_outputs(&mut g, &mut by_name, node);
            continue;
        }
        if node.op_type == "Constant" {
            let value = constant_value(&node.attrs).map_err(node_err)?;
            let out = node.outputs.first().ok_or_else(|| node_err("Constant has no output".into()))?;
            check_finite(&file, out, &value)?;
            let id = g.add_const(out.clone(), value);
            by_name.insert(out.clone(), id);
            continue;
        }
        let mut inputs = Vec::with_capacity(node.inputs.len());
        for input in &node.inputs {
            if input.is_empty() {
                inputs.push(None);
                continue;
            }
            match by_name.get(input) {
                Some(&id) => inputs.push(Some(id)),
                None => {
                    return Err(node_err(format!(
                        "input '{input}' is not a graph input, a weight, or the output of an earlier node"
                    )))
                }
            }
        }
        let const_inputs: Vec<Option<&Array>> = inputs.iter().map(|i| i.and_then(|id| g.const_data(id))).collect();
        let op = match Op::parse(&node.op_type, &node.attrs, raw.opset, &const_inputs).map_err(node_err)? {
            Some(op) => op,
            None => {
                unsupported.push(UnsupportedNode { name, op_type: node.op_type.clone(), opset: raw.opset });
                declare_outputs(&mut g, &mut by_name, node);
                continue;
            }
        };
        let declared = node.outputs.iter().filter(|o| !o.is_empty()).count();
        op.check_outputs(declared).map_err(node_err)?;
        let mut outputs = Vec::with_capacity(node.outputs.len());
        for out in &node.outputs {
            if out.is_empty() {
                continue;
            }
            if by_name.contains_key(out) {
                return Err(node_err(format!("output '{out}' is produced twice")));
            }
            let id = g.add_tensor(out.clone(), None, None);
            by_name.insert(out.clone(), id);
            outputs.push(id);
        }
        g.nodes.push(crate::ir::Node { name, op, inputs, outputs });
    }
    if !unsupported.is_empty() {
        return Err(Error::Unsupported { file, nodes: unsupported });
    }
    for out in &raw.outputs {
        match by_name.get(out) {
            Some(&id) => g.outputs.push(id),
            None => return Err(Error::tensor(&file, out, "graph output is never produced")),
        }
    }
    if g.inputs.len() != 1 || g.outputs.len() != 1 {
        return Err(Error::format(
            &file,
            format!(
                "qforge compiles models with one input and one output; this one has {} input(s) and {} output(s)",
                g.inputs.len(),
                g.outputs.len()
            ),
        ));
    }
    crate::ir::verify(&g)?;
    Ok(g)
}

/// Gives an unsupported node's outputs tensors, so the nodes after it still resolve and
/// every unsupported node is reported together.
fn declare_outputs(g: &mut Graph, by_name: &mut HashMap<String, TensorId>, node: &crate::ir::RawNode) {
    for out in node.outputs.iter().filter(|o| !o.is_empty()) {
        if !by_name.contains_key(out) {
            let id = g.add_tensor(out.clone(), None, None);
            by_name.insert(out.clone(), id);
        }
    }
}

fn constant_value(attrs: &crate::ir::Attrs) -> std::result::Result<Array, String> {
    use crate::ir::AttrValue;
    if let Some(t) = attrs.tensor("value")? {
        return Ok(t.clone());
    }
    match attrs
        .0
        .get("value_float")
        .or_else(|| attrs.0.get("value_int"))
        .or_else(|| attrs.0.get("value_floats"))
        .or_else(|| attrs.0.get("value_ints"))
    {
        Some(AttrValue::Float(v)) => Ok(Array::new(vec![], vec![*v])),
        Some(AttrValue::Int(v)) => Ok(Array::new(vec![], vec![*v as f32])),
        Some(AttrValue::Floats(v)) => Ok(Array::new(vec![v.len()], v.clone())),
        Some(AttrValue::Ints(v)) => Ok(Array::new(vec![v.len()], v.iter().map(|&x| x as f32).collect())),
        _ => Err("Constant needs a 'value' tensor (or value_float(s)/value_int(s))".into()),
    }
}

fn check_finite(file: &str, name: &str, a: &Array) -> Result<()> {
    if let Some(i) = a.data.iter().position(|v| !v.is_finite()) {
        return Err(Error::tensor(file, name, format!("holds a non-finite value ({}) at element {i}", a.data[i])));
    }
    Ok(())
}
