//! Folds an `Add` of a constant bias into the Conv, Gemm or MatMul before it, when the
//! constant adds one value per output channel (or one value overall). PyTorch exports
//! `Linear` on inputs of rank 3 or more as MatMul + Add, and some exporters add conv biases
//! separately; after this pass both quantize as one layer with an int32 bias.

use crate::error::Result;
use crate::ir::{Array, Graph, TensorId};
use crate::ops::Op;

/// Folds every foldable constant-bias Add.
pub fn fold_bias_add(g: &mut Graph) -> Result<bool> {
    let mut changed = false;
    let mut i = 0;
    while i < g.nodes.len() {
        match foldable(g, i) {
            Some((p, bias)) => {
                apply(g, p, bias);
                let out = g.nodes[i].outputs[0];
                g.nodes.remove(i);
                g.nodes[p].outputs[0] = out;
                changed = true;
            }
            None => i += 1,
        }
    }
    Ok(changed)
}

/// The producer index and the per-channel bias when node `i` is a foldable Add.
fn foldable(g: &Graph, i: usize) -> Option<(usize, Vec<f32>)> {
    let node = &g.nodes[i];
    if !matches!(node.op, Op::Add(ref a) if a.act.is_none()) || node.inputs.len() != 2 {
        return None;
    }
    let (a, b) = (node.input(0)?, node.input(1)?);
    let (x, c): (TensorId, &Array) = match (g.const_data(a), g.const_data(b)) {
        (None, Some(c)) => (a, c),
        (Some(c), None) => (b, c),
        _ => return None,
    };
    let p = g.producer(x).filter(|_| super::single_use(g, x))?;
    let out_shape = g.shape(x)?;
    let (channels, channel_axis) = match &g.nodes[p].op {
        Op::Conv(conv) if conv.act.is_none() && out_shape.len() == 4 => (out_shape[1], 1),
        Op::Gemm(gemm) if gemm.act.is_none() => (*out_shape.last()?, out_shape.len() - 1),
        Op::MatMul(mm) if mm.act.is_none() => (*out_shape.last()?, out_shape.len() - 1),
        _ => return None,
    };
    per_channel(c, out_shape.len(), channels, channel_axis).map(|bias| (p, bias))
}

/// The constant as one value per channel, if it broadcasts only along `axis` (of a tensor
/// of rank `rank`), or is a single value.
fn per_channel(c: &Array, rank: usize, channels: usize, axis: usize) -> Option<Vec<f32>> {
    if c.len() == 1 {
        return Some(vec![c.data[0]; channels]);
    }
    if c.len() != channels || c.shape.len() > rank {
        return None;
    }
    // Right-align the constant's dims with the output's; only the channel dim may exceed 1.
    let offset = rank - c.shape.len();
    let only_channel = c.shape.iter().enumerate().all(|(d, &n)| n == 1 || d + offset == axis);
    only_channel.then(|| c.data.clone())
}

/// Adds `bias` to the producer's bias input (creating it if absent).
fn apply(g: &mut Graph, p: usize, bias: Vec<f32>) {
    let node = g.nodes[p].clone();
    let (slot, old): (usize, Option<Vec<f32>>) = match &node.op {
        Op::Conv(_) | Op::MatMul(_) => (2, node.input(2).and_then(|t| g.const_data(t)).map(|a| a.data.clone())),
        Op::Gemm(gemm) => {
            let beta = gemm.beta;
            let old = node.input(2).and_then(|t| g.const_data(t)).map(|a| {
                if a.len() == 1 {
                    vec![a.data[0] * beta; bias.len()]
                } else {
                    a.data.iter().map(|v| v * beta).collect()
                }
            });
            if let Op::Gemm(gemm) = &mut g.nodes[p].op {
                gemm.beta = 1.0;
            }
            (2, old)
        }
        _ => return,
    };
    let merged: Vec<f32> = match old {
        Some(o) => o.iter().zip(&bias).map(|(a, b)| a + b).collect(),
        None => bias,
    };
    let n = merged.len();
    let id = g.add_const(format!("{}.bias.folded", node.name), Array::new(vec![n], merged));
    let inputs = &mut g.nodes[p].inputs;
    inputs.resize(slot + 1, None);
    inputs[slot] = Some(id);
}
