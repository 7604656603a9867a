//! Folds inference-mode BatchNormalization into the Conv before it:
//! `W'[m] = W[m] * f[m]`, `b'[m] = (b[m] - mean[m]) * f[m] + beta[m]`, with
//! `f[m] = gamma[m] / sqrt(var[m] + eps)` (computed in f64). A BatchNormalization on a
//! 4-D tensor that does not follow a foldable Conv becomes a depthwise 1x1 Conv with the
//! same per-channel scale and shift, so it quantizes like any conv.

use crate::error::{Error, Result};
use crate::ir::{Array, Graph, Node};
use crate::ops::conv::{AutoPad, Conv};
use crate::ops::{Clamp, Op};

/// Folds or rewrites every BatchNormalization.
pub fn fold_batch_norm(g: &mut Graph) -> Result<bool> {
    let mut changed = false;
    let mut i = 0;
    while i < g.nodes.len() {
        let Op::BatchNorm(bn) = &g.nodes[i].op else {
            i += 1;
            continue;
        };
        let eps = bn.epsilon as f64;
        let node = g.nodes[i].clone();
        let (scale, shift) = affine(g, &node, eps)?;
        let x = node.input(0).ok_or_else(|| node_err(g, &node, "has no input"))?;
        let conv = g
            .producer(x)
            .filter(|&p| super::single_use(g, x) && matches!(g.nodes[p].op, Op::Conv(ref c) if c.act.is_none()));
        match conv {
            Some(p) => fold_into_conv(g, p, &scale, &shift)?,
            None => {
                let rank = g.shape(x).map_or(0, |s| s.len());
                if rank != 4 {
                    return Err(node_err(g, &node, "BatchNormalization is supported after a Conv or on a 4-D tensor"));
                }
                insert_depthwise(g, i, &scale, &shift);
                i += 1;
                changed = true;
                continue;
            }
        }
        let p = conv.unwrap_or_default();
        g.nodes[p].outputs[0] = node.outputs[0];
        g.nodes.remove(i);
        changed = true;
    }
    Ok(changed)
}

fn node_err(g: &Graph, node: &Node, msg: &str) -> Error {
    Error::node(&g.source, &node.name, node.op.type_name(), msg)
}

/// Per-channel `(f, beta - mean * f)` of a BatchNormalization node.
fn affine(g: &Graph, node: &Node, eps: f64) -> Result<(Vec<f64>, Vec<f64>)> {
    let mut params = Vec::with_capacity(4);
    for (k, what) in ["scale", "B", "mean", "var"].iter().enumerate() {
        let data = node
            .input(k + 1)
            .and_then(|id| g.const_data(id))
            .ok_or_else(|| node_err(g, node, &format!("input '{what}' must be a constant")))?;
        params.push(data);
    }
    let c = params[0].len();
    if params.iter().any(|p| p.len() != c) {
        return Err(node_err(g, node, "scale, B, mean and var must have the same length"));
    }
    let mut scale = Vec::with_capacity(c);
    let mut shift = Vec::with_capacity(c);
    for m in 0..c {
        let var = params[3].data[m] as f64;
        if var + eps <= 0.0 {
            return Err(node_err(g, node, &format!("channel {m} has variance {var} + epsilon <= 0")));
        }
        let f = params[0].data[m] as f64 / (var + eps).sqrt();
        scale.push(f);
        shift.push(params[1].data[m] as f64 - params[2].data[m] as f64 * f);
    }
    Ok((scale, shift))
}

fn fold_into_conv(g: &mut Graph, p: usize, scale: &[f64], shift: &[f64]) -> Result<()> {
    let conv = g.nodes[p].clone();
    let w_id = conv.input(1).ok_or_else(|| node_err(g, &conv, "has no weights"))?;
    let w = g.const_data(w_id).ok_or_else(|| node_err(g, &conv, "weights must be a constant"))?.clone();
    let m = w.shape.first().copied().unwrap_or(0);
    if m != scale.len() {
        return Err(node_err(
            g,
            &conv,
            &format!("has {m} output channels, the BatchNormalization after it {}", scale.len()),
        ));
    }
    let per = w.len() / m.max(1);
    let mut new_w = w.data.clone();
    for (o, chunk) in new_w.chunks_mut(per).enumerate() {
        for v in chunk {
            *v = (*v as f64 * scale[o]) as f32;
        }
    }
    let bias: Vec<f32> = match conv.input(2).and_then(|id| g.const_data(id)) {
        Some(b) => b.data.clone(),
        None => vec![0.0; m],
    };
    let new_b: Vec<f32> = (0..m).map(|o| (bias[o] as f64 * scale[o] + shift[o]) as f32).collect();
    let w_name = format!("{}.weight.bn_folded", conv.name);
    let b_name = format!("{}.bias.bn_folded", conv.name);
    let w_new = g.add_const(w_name, Array::new(w.shape.clone(), new_w));
    let b_new = g.add_const(b_name, Array::new(vec![m], new_b));
    let inputs = &mut g.nodes[p].inputs;
    inputs.resize(3, None);
    inputs[1] = Some(w_new);
    inputs[2] = Some(b_new);
    Ok(())
}

fn insert_depthwise(g: &mut Graph, i: usize, scale: &[f64], shift: &[f64]) {
    let node = g.nodes[i].clone();
    let c = scale.len();
    let w = g.add_const(
        format!("{}.weight.dw", node.name),
        Array::new(vec![c, 1, 1, 1], scale.iter().map(|&v| v as f32).collect()),
    );
    let b =
        g.add_const(format!("{}.bias.dw", node.name), Array::new(vec![c], shift.iter().map(|&v| v as f32).collect()));
    let conv = Conv {
        kernel_shape: Some([1, 1]),
        strides: [1, 1],
        dilations: [1, 1],
        pads: [0; 4],
        auto_pad: AutoPad::NotSet,
        group: c,
        act: Clamp::NONE,
    };
    g.nodes[i] = Node {
        name: node.name,
        op: Op::Conv(conv),
        inputs: vec![node.inputs[0], Some(w), Some(b)],
        outputs: vec![node.outputs[0]],
    };
}
