//! Data-driven BatchNorm statistics for randomly initialised test models.
//!
//! With random weights, random `running_mean`/`running_var` let activations drift by a
//! constant factor per layer, so after 50 layers they are far from O(1). Like a
//! data-dependent initialisation, [`calibrate_batchnorm`] runs the model in fp32 on a few
//! `N(0, 1)` inputs and, walking the nodes in order, sets each BatchNorm's statistics to
//! the per-channel mean and (population) variance of its actual input, given the
//! statistics already set upstream. Each BatchNorm then outputs `gamma * z + beta` with
//! `z` standardised per channel.

use crate::onnx_writer::ModelBuilder;
use crate::rng::Rng;
use qforge::frontend::{build_graph, onnx};
use qforge::ir::{Array, Graph, TensorId};
use qforge::ops::{InputInfo, Op};
use std::sync::Arc;

/// Sets the running statistics of every BatchNorm of `mb` from `samples` random inputs
/// drawn from `seed`. Errors come from the compiler's front end or op evaluation.
pub fn calibrate_batchnorm(mb: &mut ModelBuilder, samples: usize, seed: u64) -> Result<(), String> {
    let raw = onnx::from_bytes(&mb.finish(), "calibrate_batchnorm").map_err(|e| e.to_string())?;
    let mut g = build_graph(raw).map_err(|e| e.to_string())?;
    let input = g.inputs[0];
    let shape = g.shape(input).ok_or("the input has no shape")?.to_vec();
    let len = shape.iter().product();
    let mut rng = Rng::new(seed);
    let mut values: Vec<Vec<Option<Array>>> = (0..samples)
        .map(|_| {
            let mut v = vec![None; g.tensors.len()];
            v[input] = Some(Array::new(shape.clone(), rng.normals(len, 1.0)));
            v
        })
        .collect();
    let last_use = last_uses(&g);
    for index in 0..g.nodes.len() {
        let node = g.nodes[index].clone();
        if let Op::BatchNorm(_) = node.op {
            let (x, mean, var) = match (node.input(0), node.input(3), node.input(4)) {
                (Some(x), Some(m), Some(v)) => (x, m, v),
                _ => return Err(format!("BatchNorm '{}' lacks an input", node.name)),
            };
            let inputs: Vec<&Array> = values.iter().filter_map(|v| v[x].as_ref()).collect();
            let (m, v) = channel_stats(&inputs)?;
            set_const(&mut g, mb, mean, m);
            set_const(&mut g, mb, var, v);
        }
        for sample in values.iter_mut() {
            let mut inputs = Vec::with_capacity(node.inputs.len());
            for id in &node.inputs {
                inputs.push(match id {
                    None => None,
                    Some(id) => Some(
                        g.const_data(*id)
                            .or(sample[*id].as_ref())
                            .ok_or_else(|| format!("node '{}' reads a value not computed yet", node.name))?,
                    ),
                });
            }
            let infos: Vec<Option<InputInfo<'_>>> = node
                .inputs
                .iter()
                .zip(&inputs)
                .map(|(id, a)| a.map(|a| InputInfo { shape: &a.shape, data: id.and_then(|id| g.const_data(id)) }))
                .collect();
            node.op.infer(&infos).map_err(|e| format!("node '{}': {e}", node.name))?;
            let outputs = node.op.eval(&inputs).map_err(|e| format!("node '{}': {e}", node.name))?;
            for (&id, out) in node.outputs.iter().zip(outputs) {
                sample[id] = Some(out);
            }
            for id in node.inputs.iter().flatten() {
                if last_use[*id] == Some(index) {
                    sample[*id] = None;
                }
            }
        }
    }
    Ok(())
}

/// For each tensor, the index of the last node reading it (`None` for graph outputs and
/// unread tensors, which are never freed).
fn last_uses(g: &Graph) -> Vec<Option<usize>> {
    let mut last = vec![None; g.tensors.len()];
    for (i, n) in g.nodes.iter().enumerate() {
        for id in n.inputs.iter().flatten() {
            last[*id] = Some(i);
        }
    }
    for &o in &g.outputs {
        last[o] = None;
    }
    last
}

/// Per-channel mean and population variance over `N x C x ...` arrays.
fn channel_stats(xs: &[&Array]) -> Result<(Vec<f32>, Vec<f32>), String> {
    let first = xs.first().ok_or("no BatchNorm input was computed")?;
    let c = *first.shape.get(1).ok_or("BatchNorm input has no channel axis")?;
    let (mut sum, mut sq, mut count) = (vec![0f64; c], vec![0f64; c], 0usize);
    for x in xs {
        let inner: usize = x.shape[2..].iter().product();
        for (i, chunk) in x.data.chunks_exact(inner.max(1)).enumerate() {
            let ch = i % c;
            for &v in chunk {
                sum[ch] += v as f64;
                sq[ch] += (v as f64) * (v as f64);
            }
        }
        count += x.data.len() / c;
    }
    let n = count.max(1) as f64;
    let mean: Vec<f32> = sum.iter().map(|s| (s / n) as f32).collect();
    let var = sq.iter().zip(&sum).map(|(q, s)| ((q / n) - (s / n) * (s / n)).max(0.0) as f32).collect();
    Ok((mean, var))
}

fn set_const(g: &mut Graph, mb: &mut ModelBuilder, id: TensorId, data: Vec<f32>) {
    mb.set_initializer(&g.tensors[id].name, &data);
    let shape = vec![data.len()];
    g.tensors[id].data = Some(Arc::new(Array::new(shape, data)));
}
