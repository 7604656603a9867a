//! The fp32 reference interpreter: runs a [`Graph`] node by node with each op's `eval`.
//!
//! Nodes run in their stored (topological) order. Each activation is dropped right after
//! its last reader runs, so a deep network holds only its live activations; graph outputs
//! are kept to the end. Constants are read in place, never copied.

use crate::error::{Error, Result};
use crate::ir::{Array, Graph, TensorId};

/// Runs `graph` on `inputs` (one array per graph input, in order) and returns the graph
/// outputs in order. `observe` sees every graph input, then every node output as soon as
/// it is computed (calibration observers hook in here).
pub fn run(graph: &Graph, inputs: &[Array], observe: impl FnMut(TensorId, &Array)) -> Result<Vec<Array>> {
    run_counting(graph, inputs, observe).map(|(outputs, _)| outputs)
}

/// [`run`], also returning the largest number of activations held at once.
fn run_counting(
    graph: &Graph,
    inputs: &[Array],
    mut observe: impl FnMut(TensorId, &Array),
) -> Result<(Vec<Array>, usize)> {
    if inputs.len() != graph.inputs.len() {
        return Err(Error::format(
            &graph.source,
            format!("the model has {} input(s) but {} were given", graph.inputs.len(), inputs.len()),
        ));
    }
    let count = graph.tensors.len();
    // The index of the last node reading each tensor; graph outputs live to the end.
    let mut last_use: Vec<Option<usize>> = vec![None; count];
    for (i, node) in graph.nodes.iter().enumerate() {
        for &t in node.inputs.iter().flatten() {
            if t < count {
                last_use[t] = Some(i);
            }
        }
    }
    let mut keep = vec![false; count];
    for &t in &graph.outputs {
        if t < count {
            keep[t] = true;
        }
    }
    let mut values: Vec<Option<Array>> = vec![None; count];
    let (mut live, mut peak) = (0usize, 0usize);
    for (&id, array) in graph.inputs.iter().zip(inputs) {
        let tensor = &graph.tensors[id];
        if let Some(shape) = &tensor.shape {
            if *shape != array.shape {
                return Err(Error::tensor(
                    &graph.source,
                    &tensor.name,
                    format!("expected shape {:?}, got {:?}", shape, array.shape),
                ));
            }
        }
        if array.data.len() != array.shape.iter().product::<usize>() {
            return Err(Error::tensor(
                &graph.source,
                &tensor.name,
                format!(
                    "holds {} values but its shape {:?} needs {}",
                    array.data.len(),
                    array.shape,
                    array.shape.iter().product::<usize>()
                ),
            ));
        }
        observe(id, array);
        if (last_use[id].is_some() || keep[id]) && values[id].is_none() {
            values[id] = Some(array.clone());
            live += 1;
        }
    }
    for (i, node) in graph.nodes.iter().enumerate() {
        let node_err = |msg: String| Error::node(&graph.source, &node.name, node.op.type_name(), msg);
        node.op.check_outputs(node.outputs.len()).map_err(node_err)?;
        let mut args: Vec<Option<&Array>> = Vec::with_capacity(node.inputs.len());
        for input in &node.inputs {
            let Some(t) = *input else {
                args.push(None);
                continue;
            };
            let value = match graph.tensors.get(t) {
                Some(tensor) if tensor.is_const() => graph.const_data(t),
                Some(_) => values[t].as_ref(),
                None => None,
            };
            match value {
                Some(v) => args.push(Some(v)),
                None => {
                    let name = graph.tensors.get(t).map_or("?", |t| t.name.as_str());
                    return Err(node_err(format!("input '{name}' has no value when the node runs")));
                }
            }
        }
        let outputs = node.op.eval(&args).map_err(node_err)?;
        drop(args);
        // Trailing optional outputs (Dropout's mask) may be left out of the node.
        if outputs.len() < node.outputs.len() {
            return Err(node_err(format!(
                "produced {} output(s) but the node declares {}",
                outputs.len(),
                node.outputs.len()
            )));
        }
        for (&id, array) in node.outputs.iter().zip(outputs) {
            if let Some(shape) = graph.shape(id) {
                if shape != array.shape.as_slice() {
                    return Err(node_err(format!(
                        "output '{}' has shape {:?} but shape inference gave {:?}",
                        graph.tensors[id].name, array.shape, shape
                    )));
                }
            }
            observe(id, &array);
            if keep[id] || last_use[id].is_some_and(|last| last > i) {
                values[id] = Some(array);
                live += 1;
            }
        }
        peak = peak.max(live);
        for &t in node.inputs.iter().flatten() {
            if t < count && !keep[t] && last_use[t] == Some(i) && values[t].take().is_some() {
                live -= 1;
            }
        }
    }
    let outputs = graph
        .outputs
        .iter()
        .map(|&id| {
            let value = if graph.tensors[id].is_const() { graph.const_data(id) } else { values[id].as_ref() };
            value
                .cloned()
                .ok_or_else(|| Error::tensor(&graph.source, &graph.tensors[id].name, "graph output is never produced"))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((outputs, peak))
}

/// Runs a graph with one input and one output.
pub fn run_simple(graph: &Graph, input: &Array) -> Result<Array> {
    if graph.inputs.len() != 1 || graph.outputs.len() != 1 {
        return Err(Error::format(
            &graph.source,
            format!(
                "expected a model with one input and one output; this one has {} input(s) and {} output(s)",
                graph.inputs.len(),
                graph.outputs.len()
            ),
        ));
    }
    let mut outputs = run(graph, std::slice::from_ref(input), |_, _| {})?;
    outputs.pop().ok_or_else(|| Error::format(&graph.source, "the model produced no output"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Node;
    use crate::ops::Op;

    #[test]
    fn a_chain_holds_at_most_two_activations() {
        let mut g = Graph::default();
        let mut t = g.add_tensor("x", Some(vec![4]), None);
        g.inputs.push(t);
        for i in 0..10 {
            let out = g.add_tensor(format!("t{i}"), None, None);
            g.nodes.push(Node { name: format!("relu{i}"), op: Op::Relu, inputs: vec![Some(t)], outputs: vec![out] });
            t = out;
        }
        g.outputs.push(t);
        let x = Array::new(vec![4], vec![-1.0, 1.0, -2.0, 2.0]);
        let mut seen = 0;
        let (out, peak) = run_counting(&g, std::slice::from_ref(&x), |_, _| seen += 1).unwrap();
        assert_eq!(out[0].data, vec![0.0, 1.0, 0.0, 2.0]);
        assert_eq!(seen, 11);
        assert_eq!(peak, 2);
    }
}
