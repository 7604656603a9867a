//! Lowering: the optimized fp32 graph plus activation statistics become an integer
//! [`Program`] of `qrt` kernel calls. Every op the int8 path cannot run is an error naming
//! the node: there is no float fallback.

use super::blob::BlobBuilder;
use super::params::{activation_qparams, clamp_bounds, QParams};
use super::program::{ChannelRefs, GemmRefs, Kernel, Layout, Program, QTensor, QTensorId, Step};
use crate::calib::Stats;
use crate::error::{Error, Result};
use crate::ir::{Graph, Node, TensorId};
use crate::ops::{Clamp, Op};
use qrt::requant::{OutputQuant, Requant};
use std::collections::HashMap;

mod conv;
mod ops;

/// Quantizes `g` (after the pass pipeline) with the ranges in `stats` (read from
/// `stats_source`, named in errors).
pub fn lower(g: &Graph, stats: &Stats, stats_source: &str) -> Result<Program> {
    let mut l = Lowering {
        g,
        stats,
        stats_source,
        tensors: Vec::new(),
        steps: Vec::new(),
        blob: BlobBuilder::default(),
        map: HashMap::new(),
        converted: HashMap::new(),
    };
    let input = *g.inputs.first().ok_or_else(|| Error::format(&g.source, "the model has no input"))?;
    let q_in = l.qparams_of(input)?;
    let shape = l.shape(input)?.to_vec();
    let input_q = l.add_tensor(&g.tensors[input].name, shape, Layout::RowMajor, q_in, None);
    l.map.insert(input, input_q);
    for node in &g.nodes {
        l.lower_node(node)?;
    }
    let out = *g.outputs.first().ok_or_else(|| Error::format(&g.source, "the model has no output"))?;
    let out_q =
        *l.map.get(&out).ok_or_else(|| Error::tensor(&g.source, &g.tensors[out].name, "the output is not computed"))?;
    let output = l.want(out_q, Layout::RowMajor);
    Ok(Program {
        source: g.source.clone(),
        tensors: l.tensors,
        steps: l.steps,
        input: input_q,
        output,
        blob: l.blob.finish(),
        arena_bytes: 0,
        arena_least_bytes: 0,
        arena_lower_bound: 0,
    })
}

struct Lowering<'a> {
    g: &'a Graph,
    stats: &'a Stats,
    stats_source: &'a str,
    tensors: Vec<QTensor>,
    steps: Vec<Step>,
    blob: BlobBuilder,
    /// fp32 tensor -> its int8 tensor.
    map: HashMap<TensorId, QTensorId>,
    /// (tensor, wanted layout) -> converted tensor, so each conversion happens once.
    converted: HashMap<(QTensorId, Layout), QTensorId>,
}

impl<'a> Lowering<'a> {
    fn node_err(&self, node: &Node, msg: impl Into<String>) -> Error {
        Error::node(&self.g.source, &node.name, node.op.type_name(), msg)
    }

    fn shape(&self, t: TensorId) -> Result<&[usize]> {
        self.g.shape(t).ok_or_else(|| {
            Error::tensor(&self.g.source, &self.g.tensors[t].name, "shape unknown after shape inference")
        })
    }

    fn qparams_of(&self, t: TensorId) -> Result<QParams> {
        let (min, max) = self.stats.range(self.stats_source, &self.g.tensors[t].name)?;
        Ok(activation_qparams(min, max))
    }

    fn add_tensor(
        &mut self,
        name: &str,
        shape: Vec<usize>,
        layout: Layout,
        q: QParams,
        alias_of: Option<QTensorId>,
    ) -> QTensorId {
        self.tensors.push(QTensor {
            name: name.to_string(),
            shape,
            layout,
            scale: q.scale,
            zero_point: q.zero_point,
            alias_of,
            offset: 0,
        });
        self.tensors.len() - 1
    }

    fn q(&self, t: QTensorId) -> QParams {
        QParams { scale: self.tensors[t].scale, zero_point: self.tensors[t].zero_point }
    }

    /// The int8 tensor of a node's activation input `i`.
    fn input(&self, node: &Node, i: usize) -> Result<QTensorId> {
        let t = node.input(i).ok_or_else(|| self.node_err(node, format!("input {i} is missing")))?;
        if self.g.tensors[t].is_const() {
            return Err(self.node_err(
                node,
                format!("input '{}' is a constant; the int8 path needs an activation here", self.g.tensors[t].name),
            ));
        }
        self.map
            .get(&t)
            .copied()
            .ok_or_else(|| self.node_err(node, format!("input '{}' was not computed", self.g.tensors[t].name)))
    }

    /// `t` in the wanted layout: itself, an alias when the bytes are the same, or a copy.
    fn want(&mut self, t: QTensorId, layout: Layout) -> QTensorId {
        let tensor = &self.tensors[t];
        if tensor.layout == layout || tensor.shape.len() != 4 {
            return t;
        }
        if let Some(&c) = self.converted.get(&(t, layout)) {
            return c;
        }
        let (c, h, w) = (tensor.shape[1], tensor.shape[2], tensor.shape[3]);
        let name = format!("{}.{}", tensor.name, if layout == Layout::Nhwc { "nhwc" } else { "nchw" });
        let (shape, q) = (tensor.shape.clone(), self.q(t));
        let converted = if c == 1 || h * w == 1 {
            self.add_tensor(&name, shape, layout, q, Some(t))
        } else {
            let out = self.add_tensor(&name, shape, layout, q, None);
            let kernel =
                if layout == Layout::Nhwc { Kernel::NchwToNhwc { c, h, w } } else { Kernel::NhwcToNchw { c, h, w } };
            let op = if layout == Layout::Nhwc { "NCHW->NHWC" } else { "NHWC->NCHW" };
            self.steps.push(Step {
                node: self.tensors[t].name.clone(),
                op: op.into(),
                kernel,
                inputs: vec![t],
                output: out,
                macs: 0,
            });
            out
        };
        self.converted.insert((t, layout), converted);
        converted
    }

    /// A new output tensor for `node`'s output 0 with its own statistics.
    fn output(&mut self, node: &Node, layout: Layout) -> Result<(TensorId, QTensorId)> {
        let t = node.outputs[0];
        let q = self.qparams_of(t)?;
        let shape = self.shape(t)?.to_vec();
        let id = self.add_tensor(&self.g.tensors[t].name.clone(), shape, layout, q, None);
        self.map.insert(t, id);
        Ok((t, id))
    }

    fn output_quant(&self, act: Clamp, q: QParams) -> OutputQuant {
        let (min, max) = clamp_bounds(act, q);
        OutputQuant { zero_point: q.zero_point, min, max }
    }

    fn lower_node(&mut self, node: &Node) -> Result<()> {
        match &node.op {
            Op::Conv(conv) => self.conv(node, conv),
            Op::Gemm(_) | Op::MatMul(_) => self.fully_connected(node),
            Op::Add(add) => self.add(node, add.act),
            Op::MaxPool(p) | Op::AveragePool(p) => self.pool(node, p),
            Op::GlobalAveragePool => self.global_average_pool(node),
            Op::Concat(c) => self.concat(node, c.axis),
            Op::Flatten(_) | Op::Reshape(_) | Op::Identity | Op::Dropout => self.reshape(node),
            Op::Relu => self.clamp(node, Clamp { min: 0.0, max: f32::INFINITY }),
            Op::Clip(c) => self.clamp(node, c.clamp),
            Op::BatchNorm(_) => Err(self.node_err(
                node,
                "a BatchNormalization that could not be folded into a Conv is not supported by the int8 path",
            )),
        }
    }

    fn label(node: &Node, act: Clamp) -> String {
        let base = node.op.type_name();
        if act.is_none() {
            base.to_string()
        } else if act.min == 0.0 && act.max == f32::INFINITY {
            format!("{base}+Relu")
        } else if act.min == 0.0 && act.max == 6.0 {
            format!("{base}+Relu6")
        } else {
            format!("{base}+Clip[{}, {}]", act.min, act.max)
        }
    }

    /// Per-channel bias (zero-point terms folded in), multipliers and shifts of a layer
    /// whose int8 weights are `wq` (`[channel][per]`) with `scales` per output channel.
    fn channel_consts(
        &self,
        node: &Node,
        wq: &[i8],
        scales: &[f32],
        bias: Option<&[f32]>,
        q_in: QParams,
        q_out: QParams,
    ) -> Result<Consts> {
        let channels = scales.len();
        let per = wq.len() / channels.max(1);
        let mut out = Consts::default();
        for c in 0..channels {
            let acc_scale = q_in.scale as f64 * scales[c] as f64;
            let real_bias = bias.map_or(0.0, |b| b[c] as f64);
            let qb = (real_bias / acc_scale).round();
            let wsum: i64 = wq[c * per..(c + 1) * per].iter().map(|&v| v as i64).sum();
            let folded = qb - (q_in.zero_point as i64 * wsum) as f64;
            // Worst case of the accumulator on every backend, including the unsigned-input
            // form `bias - 128 * Σw + Σ (x + 128) * w` of the VNNI kernels.
            let worst = (folded.abs() + per as f64 * 128.0 * 127.0)
                .max((folded - 128.0 * wsum as f64).abs() + per as f64 * 255.0 * 127.0);
            if worst >= i32::MAX as f64 {
                return Err(self.node_err(
                    node,
                    format!("channel {c}: bias {real_bias} at scale {acc_scale:e} does not fit the int32 accumulator"),
                ));
            }
            out.bias.push(folded as i32);
            let m = acc_scale / q_out.scale as f64;
            let r = Requant::from_f64(m).ok_or_else(|| {
                self.node_err(node, format!("channel {c}: requantization multiplier {m:e} is out of range"))
            })?;
            out.multiplier.push(r.multiplier);
            out.shift.push(r.shift);
        }
        Ok(out)
    }

    /// Puts weights in the blob as they are, with their per-channel constants.
    fn channel_refs(&mut self, weights: &[i8], c: &Consts) -> ChannelRefs {
        ChannelRefs {
            weights: self.blob.push_i8(weights),
            bias: self.blob.push_i32(&c.bias),
            multiplier: self.blob.push_i32(&c.multiplier),
            shift: self.blob.push_i32(&c.shift),
        }
    }

    /// Packs `[n][k]` weights for the GEMM kernels, with the unsigned-input bias beside.
    fn gemm_refs(&mut self, wq: &[i8], k: usize, n: usize, c: &Consts) -> GemmRefs {
        let mut packed = vec![0i8; qrt::gemm::packed_len(k, n)];
        qrt::gemm::pack(wq, k, n, &mut packed);
        let bias_u8: Vec<i32> = (0..n).map(|ch| qrt::gemm::bias_u8(c.bias[ch], &wq[ch * k..(ch + 1) * k])).collect();
        let base = self.channel_refs(&packed, c);
        GemmRefs { base, bias_u8: self.blob.push_i32(&bias_u8) }
    }

    fn weights(&self, node: &Node, i: usize) -> Result<&'a crate::ir::Array> {
        let g: &'a Graph = self.g;
        node.input(i)
            .and_then(|t| g.const_data(t))
            .ok_or_else(|| self.node_err(node, format!("input {i} (weights) must be a constant")))
    }
}

/// Per-channel constants of a conv or GEMM layer, before they go into the blob.
#[derive(Default)]
struct Consts {
    bias: Vec<i32>,
    multiplier: Vec<i32>,
    shift: Vec<i32>,
}
