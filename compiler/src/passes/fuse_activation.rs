//! Fuses `Relu` and `Clip` into the Conv, Gemm, MatMul or Add that produces their input,
//! when nothing else reads that producer's output. The activation becomes the producer's
//! clamp; after quantization it is just the integer clamp bounds.

use crate::error::Result;
use crate::ir::Graph;
use crate::ops::{Clamp, Op};

/// Folds each fusable activation into its producer.
pub fn fuse_activation(g: &mut Graph) -> Result<bool> {
    let mut changed = false;
    let mut i = 0;
    while i < g.nodes.len() {
        let clamp = match &g.nodes[i].op {
            Op::Relu => Clamp { min: 0.0, max: f32::INFINITY },
            Op::Clip(c) => c.clamp,
            _ => {
                i += 1;
                continue;
            }
        };
        let Some(input) = g.nodes[i].input(0) else {
            i += 1;
            continue;
        };
        let producer = g.producer(input).filter(|_| super::single_use(g, input));
        let fused = producer.is_some_and(|p| fuse_into(&mut g.nodes[p].op, clamp));
        if !fused {
            i += 1;
            continue;
        }
        let p = producer.unwrap_or_default();
        let out = g.nodes[i].outputs[0];
        g.nodes.remove(i);
        g.nodes[p].outputs[0] = out;
        changed = true;
    }
    Ok(changed)
}

/// Adds `clamp` to an op's fused activation; false when the op cannot take one.
fn fuse_into(op: &mut Op, clamp: Clamp) -> bool {
    let act = match op {
        Op::Conv(c) => &mut c.act,
        Op::Gemm(c) => &mut c.act,
        Op::MatMul(c) => &mut c.act,
        Op::Add(c) => &mut c.act,
        _ => return false,
    };
    *act = act.then(clamp);
    true
}
