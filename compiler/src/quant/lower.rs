//! Lowering: the optimized fp32 graph plus activation statistics become an integer
//! [`Program`] of `qrt` kernel calls. Every op the int8 path cannot run is an error naming
//! the node: there is no float fallback.

use super::blob::BlobBuilder;
use super::params::{activation_qparams, clamp_bounds, quantize_per_channel, QParams};
use super::program::{ChannelRefs, GemmRefs, Kernel, Layout, Program, QTensor, QTensorId, Step};
use crate::calib::Stats;
use crate::error::{Error, Result};
use crate::ir::{Graph, Node, TensorId};
use crate::ops::{Clamp, Op};
use qrt::requant::{OutputQuant, Requant};
use std::collections::HashMap;

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

    /// Bias, multipliers and shifts of a layer whose weights are `wq` with `scales` per
    /// output channel, reading an input with `q_in` and writing `q_out`.
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

    fn conv(&mut self, node: &Node, conv: &crate::ops::conv::Conv) -> Result<()> {
        let x = self.input(node, 0)?;
        let x = self.want(x, Layout::Nhwc);
        let w = self.weights(node, 1)?;
        let bias = match node.input(2) {
            Some(_) => Some(self.weights(node, 2)?.data.as_slice()),
            None => None,
        };
        let (in_shape, q_in) = (self.tensors[x].shape.clone(), self.q(x));
        let (_, out) = self.output(node, Layout::Nhwc)?;
        let (out_shape, q_out) = (self.tensors[out].shape.clone(), self.q(out));
        if in_shape.len() != 4 || w.shape.len() != 4 {
            return Err(self.node_err(node, "only 2-D convolutions are supported"));
        }
        let (m, cpg, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3]);
        let pads = conv.resolved_pads([in_shape[2], in_shape[3]], [kh, kw]);
        // ONNX weights are [M][C/g][kh][kw]; the kernel reads [M][kh][kw][C/g].
        let mut ohwi = vec![0.0f32; w.len()];
        for o in 0..m {
            for ci in 0..cpg {
                for y in 0..kh {
                    for xx in 0..kw {
                        ohwi[((o * kh + y) * kw + xx) * cpg + ci] = w.data[((o * cpg + ci) * kh + y) * kw + xx];
                    }
                }
            }
        }
        let (wq, scales) = quantize_per_channel(&ohwi, m);
        let consts = self.channel_consts(node, &wq, &scales, bias, q_in, q_out)?;
        let output = self.output_quant(conv.act, q_out);
        let macs = (out_shape[2] * out_shape[3] * m * kh * kw * cpg) as u64;
        let unit = |v: [usize; 2]| v == [1, 1];
        let kernel =
            if conv.group == 1 && kh == 1 && kw == 1 && unit(conv.strides) && unit(conv.dilations) && pads == [0; 4] {
                // A pointwise conv over NHWC is a GEMM over pixels.
                let (rows, k, n) = (in_shape[2] * in_shape[3], in_shape[1], m);
                let p = qrt::gemm::Gemm { rows, k, n, input_stride: k, output_stride: n, output };
                Kernel::Gemm(p, self.gemm_refs(&wq, k, n, &consts))
            } else if cpg == 1 && conv.group == in_shape[1] && m == conv.group && unit(conv.dilations) {
                let mut packed = vec![0i8; qrt::depthwise::packed_len(kh, kw, m)];
                qrt::depthwise::pack(&wq, kh, kw, m, &mut packed);
                let p = qrt::depthwise::Depthwise {
                    in_h: in_shape[2],
                    in_w: in_shape[3],
                    channels: m,
                    out_h: out_shape[2],
                    out_w: out_shape[3],
                    kernel_h: kh,
                    kernel_w: kw,
                    stride_h: conv.strides[0],
                    stride_w: conv.strides[1],
                    pad_top: pads[0],
                    pad_left: pads[1],
                    input_zero_point: q_in.zero_point,
                    output,
                };
                Kernel::Depthwise(p, self.channel_refs(&packed, &consts))
            } else if conv.group == 1 {
                // A dense k x k conv: gather windows into a planned scratch tensor, then GEMM.
                let (rows, k, n) = (out_shape[2] * out_shape[3], kh * kw * in_shape[1], m);
                let g = qrt::im2col::Im2col {
                    in_h: in_shape[2],
                    in_w: in_shape[3],
                    in_c: in_shape[1],
                    out_h: out_shape[2],
                    out_w: out_shape[3],
                    kernel_h: kh,
                    kernel_w: kw,
                    stride_h: conv.strides[0],
                    stride_w: conv.strides[1],
                    dilation_h: conv.dilations[0],
                    dilation_w: conv.dilations[1],
                    pad_top: pads[0],
                    pad_left: pads[1],
                    zero_point: q_in.zero_point as i8,
                };
                let name = format!("{}.im2col", self.tensors[x].name);
                let cols = self.add_tensor(&name, vec![rows, k], Layout::RowMajor, q_in, None);
                let gather = Kernel::Im2col(g);
                self.steps.push(Step {
                    node: node.name.clone(),
                    op: "Im2col".into(),
                    kernel: gather,
                    inputs: vec![x],
                    output: cols,
                    macs: 0,
                });
                let p = qrt::gemm::Gemm { rows, k, n, input_stride: k, output_stride: n, output };
                let refs = self.gemm_refs(&wq, k, n, &consts);
                let op = Self::label(node, conv.act);
                self.steps.push(Step {
                    node: node.name.clone(),
                    op,
                    kernel: Kernel::Gemm(p, refs),
                    inputs: vec![cols],
                    output: out,
                    macs,
                });
                return Ok(());
            } else {
                Kernel::Conv(
                    self.conv_params(conv, &in_shape, &out_shape, [kh, kw], pads, q_in, output),
                    self.channel_refs(&wq, &consts),
                )
            };
        self.steps.push(Step {
            node: node.name.clone(),
            op: Self::label(node, conv.act),
            kernel,
            inputs: vec![x],
            output: out,
            macs,
        });
        Ok(())
    }

    /// Constants of the general convolution kernel.
    #[allow(clippy::too_many_arguments)]
    fn conv_params(
        &self,
        conv: &crate::ops::conv::Conv,
        in_shape: &[usize],
        out_shape: &[usize],
        [kh, kw]: [usize; 2],
        pads: [usize; 4],
        q_in: QParams,
        output: OutputQuant,
    ) -> qrt::conv::Conv2d {
        qrt::conv::Conv2d {
            in_h: in_shape[2],
            in_w: in_shape[3],
            in_c: in_shape[1],
            out_h: out_shape[2],
            out_w: out_shape[3],
            out_c: out_shape[1],
            kernel_h: kh,
            kernel_w: kw,
            stride_h: conv.strides[0],
            stride_w: conv.strides[1],
            dilation_h: conv.dilations[0],
            dilation_w: conv.dilations[1],
            pad_top: pads[0],
            pad_left: pads[1],
            groups: conv.group,
            input_zero_point: q_in.zero_point,
            output,
        }
    }

    /// Gemm and MatMul with constant weights: a fully connected layer over the rows of the input.
    fn fully_connected(&mut self, node: &Node) -> Result<()> {
        let x = self.input(node, 0)?;
        let x = self.want(x, Layout::RowMajor);
        let w = self.weights(node, 1)?;
        let (act, w_nk, bias) = match &node.op {
            Op::Gemm(gemm) => {
                let (k, n) = if gemm.trans_b { (w.shape[1], w.shape[0]) } else { (w.shape[0], w.shape[1]) };
                let mut w_nk = vec![0.0f32; n * k];
                for ni in 0..n {
                    for ki in 0..k {
                        let v = if gemm.trans_b { w.data[ni * k + ki] } else { w.data[ki * n + ni] };
                        w_nk[ni * k + ki] = v * gemm.alpha;
                    }
                }
                let bias = match node.input(2) {
                    None => None,
                    Some(_) => {
                        let c = self.weights(node, 2)?;
                        let b: Vec<f32> = match c.len() {
                            1 => vec![c.data[0] * gemm.beta; n],
                            len if len == n => c.data.iter().map(|v| v * gemm.beta).collect(),
                            _ => {
                                return Err(self.node_err(
                                    node,
                                    format!(
                                        "bias C has shape {:?}; the int8 path needs one value per output ({n})",
                                        c.shape
                                    ),
                                ))
                            }
                        };
                        Some(b)
                    }
                };
                (gemm.act, w_nk, bias)
            }
            Op::MatMul(mm) => {
                if w.shape.len() != 2 {
                    return Err(self.node_err(node, "the right operand must be a constant 2-D matrix"));
                }
                let (k, n) = (w.shape[0], w.shape[1]);
                let mut w_nk = vec![0.0f32; n * k];
                for ki in 0..k {
                    for ni in 0..n {
                        w_nk[ni * k + ki] = w.data[ki * n + ni];
                    }
                }
                let bias = match node.input(2) {
                    Some(_) => Some(self.weights(node, 2)?.data.clone()),
                    None => None,
                };
                (mm.act, w_nk, bias)
            }
            _ => unreachable!("fully_connected is only called for Gemm and MatMul"),
        };
        let in_shape = self.tensors[x].shape.clone();
        let q_in = self.q(x);
        let (_, out) = self.output(node, Layout::RowMajor)?;
        let q_out = self.q(out);
        let k = *in_shape.last().unwrap_or(&0);
        let n = w_nk.len() / k.max(1);
        let rows = self.tensors[x].len() / k.max(1);
        let (wq, scales) = quantize_per_channel(&w_nk, n);
        let consts = self.channel_consts(node, &wq, &scales, bias.as_deref(), q_in, q_out)?;
        let p =
            qrt::gemm::Gemm { rows, k, n, input_stride: k, output_stride: n, output: self.output_quant(act, q_out) };
        let macs = (rows * k * n) as u64;
        let refs = self.gemm_refs(&wq, k, n, &consts);
        self.steps.push(Step {
            node: node.name.clone(),
            op: Self::label(node, act),
            kernel: Kernel::Gemm(p, refs),
            inputs: vec![x],
            output: out,
            macs,
        });
        Ok(())
    }

    fn add(&mut self, node: &Node, act: Clamp) -> Result<()> {
        let (a, b) = (self.input(node, 0)?, self.input(node, 1)?);
        if self.tensors[a].shape != self.tensors[b].shape {
            return Err(self.node_err(
                node,
                format!(
                    "inputs have shapes {:?} and {:?}; the int8 path adds tensors of the same shape",
                    self.tensors[a].shape, self.tensors[b].shape
                ),
            ));
        }
        let layout = if self.tensors[a].shape.len() == 4 { Layout::Nhwc } else { Layout::RowMajor };
        let (a, b) = (self.want(a, layout), self.want(b, layout));
        let (_, out) = self.output(node, layout)?;
        let (qa, qb, qo) = (self.q(a), self.q(b), self.q(out));
        let (ma, mb, shift) =
            qrt::add::encode_pair(qa.scale as f64 / qo.scale as f64, qb.scale as f64 / qo.scale as f64)
                .ok_or_else(|| self.node_err(node, "input scales are too far from the output scale to rescale"))?;
        let p = qrt::add::Add {
            len: self.tensors[out].len(),
            a_zero_point: qa.zero_point,
            a_multiplier: ma,
            b_zero_point: qb.zero_point,
            b_multiplier: mb,
            shift,
            output: self.output_quant(act, qo),
        };
        self.steps.push(Step {
            node: node.name.clone(),
            op: Self::label(node, act),
            kernel: Kernel::Add(p),
            inputs: vec![a, b],
            output: out,
            macs: 0,
        });
        Ok(())
    }

    /// Max and average pools keep their input's quantization.
    fn pool(&mut self, node: &Node, pool: &crate::ops::pool::Pool2d) -> Result<()> {
        let x = self.input(node, 0)?;
        let x = self.want(x, Layout::Nhwc);
        let (in_shape, q) = (self.tensors[x].shape.clone(), self.q(x));
        let t = node.outputs[0];
        let out_shape = self.shape(t)?.to_vec();
        let out = self.add_tensor(&self.g.tensors[t].name.clone(), out_shape.clone(), Layout::Nhwc, q, None);
        self.map.insert(t, out);
        let pads = pool.resolved_pads([in_shape[2], in_shape[3]]);
        let p = qrt::pool::Pool2d {
            in_h: in_shape[2],
            in_w: in_shape[3],
            channels: in_shape[1],
            out_h: out_shape[2],
            out_w: out_shape[3],
            kernel_h: pool.kernel[0],
            kernel_w: pool.kernel[1],
            stride_h: pool.strides[0],
            stride_w: pool.strides[1],
            pad_top: pads[0],
            pad_left: pads[1],
            pad_bottom: pads[2],
            pad_right: pads[3],
            count_include_pad: pool.count_include_pad,
            zero_point: q.zero_point,
        };
        let kernel = if matches!(node.op, Op::MaxPool(_)) { Kernel::MaxPool(p) } else { Kernel::AveragePool(p) };
        self.steps.push(Step {
            node: node.name.clone(),
            op: node.op.type_name().into(),
            kernel,
            inputs: vec![x],
            output: out,
            macs: 0,
        });
        Ok(())
    }

    fn global_average_pool(&mut self, node: &Node) -> Result<()> {
        let x = self.input(node, 0)?;
        let x = self.want(x, Layout::Nhwc);
        let (in_shape, q_in) = (self.tensors[x].shape.clone(), self.q(x));
        let (_, out) = self.output(node, Layout::Nhwc)?;
        let q_out = self.q(out);
        let pixels = in_shape[2] * in_shape[3];
        let m = q_in.scale as f64 / (q_out.scale as f64 * pixels as f64);
        let requant = Requant::from_f64(m)
            .ok_or_else(|| self.node_err(node, format!("requantization multiplier {m:e} is out of range")))?;
        let p = qrt::pool::GlobalAveragePool {
            pixels,
            channels: in_shape[1],
            in_zero_point: q_in.zero_point,
            requant,
            out_zero_point: q_out.zero_point,
        };
        self.steps.push(Step {
            node: node.name.clone(),
            op: "GlobalAveragePool".into(),
            kernel: Kernel::GlobalAveragePool(p),
            inputs: vec![x],
            output: out,
            macs: 0,
        });
        Ok(())
    }

    /// Concat: one rescaling copy per input into its slice of the output.
    fn concat(&mut self, node: &Node, axis: i64) -> Result<()> {
        let t = node.outputs[0];
        let out_shape = self.shape(t)?.to_vec();
        let rank = out_shape.len() as i64;
        let axis = if axis < 0 { axis + rank } else { axis };
        if !(0..rank).contains(&axis) {
            return Err(self.node_err(node, format!("axis {axis} is out of range for rank {rank}")));
        }
        let layout = if rank == 4 { Layout::Nhwc } else { Layout::RowMajor };
        // Dimensions in storage order, and where the concat axis sits among them.
        let storage = |s: &[usize]| if layout == Layout::Nhwc { vec![s[0], s[2], s[3], s[1]] } else { s.to_vec() };
        let pos = if layout == Layout::Nhwc { [0, 3, 1, 2][axis as usize] } else { axis as usize };
        let (_, out) = self.output(node, layout)?;
        let q_out = self.q(out);
        let out_dims = storage(&out_shape);
        let outer: usize = out_dims[..pos].iter().product();
        let out_inner: usize = out_dims[pos..].iter().product();
        let mut offset = 0;
        for i in 0..node.inputs.len() {
            let x = self.input(node, i)?;
            let x = self.want(x, layout);
            let q_in = self.q(x);
            let inner: usize = storage(&self.tensors[x].shape)[pos..].iter().product();
            let (multiplier, shift) = qrt::concat::encode(q_in.scale as f64 / q_out.scale as f64).ok_or_else(|| {
                self.node_err(node, format!("input {i}'s scale is too far from the output scale to rescale"))
            })?;
            let p = qrt::concat::CopyInto {
                outer,
                inner,
                out_inner,
                offset,
                in_zero_point: q_in.zero_point,
                multiplier,
                shift,
                out_zero_point: q_out.zero_point,
            };
            self.steps.push(Step {
                node: node.name.clone(),
                op: format!("Concat[{i}]"),
                kernel: Kernel::CopyInto(p),
                inputs: vec![x],
                output: out,
                macs: 0,
            });
            offset += inner;
        }
        Ok(())
    }

    /// An activation that could not be fused: an integer clamp at the input's quantization
    /// (the output keeps the input's scale and zero point).
    fn clamp(&mut self, node: &Node, act: Clamp) -> Result<()> {
        let x = self.input(node, 0)?;
        let (q, layout, shape) = (self.q(x), self.tensors[x].layout, self.tensors[x].shape.clone());
        let t = node.outputs[0];
        let out = self.add_tensor(&self.g.tensors[t].name.clone(), shape, layout, q, None);
        self.map.insert(t, out);
        let (min, max) = clamp_bounds(act, q);
        let p = qrt::clamp::Clamp { len: self.tensors[out].len(), min, max };
        self.steps.push(Step {
            node: node.name.clone(),
            op: node.op.type_name().into(),
            kernel: Kernel::Clamp(p),
            inputs: vec![x],
            output: out,
            macs: 0,
        });
        Ok(())
    }

    /// Flatten, Reshape (and any leftover Identity/Dropout): the ONNX-order bytes are
    /// unchanged, so the output aliases the input in row-major layout.
    fn reshape(&mut self, node: &Node) -> Result<()> {
        let x = self.input(node, 0)?;
        let x = self.want(x, Layout::RowMajor);
        let t = node.outputs[0];
        let shape = self.shape(t)?.to_vec();
        let q = self.q(x);
        let out = self.add_tensor(&self.g.tensors[t].name.clone(), shape, Layout::RowMajor, q, Some(x));
        self.map.insert(t, out);
        Ok(())
    }
}

/// Per-channel constants of a conv or GEMM layer, before they go into the blob.
#[derive(Default)]
struct Consts {
    bias: Vec<i32>,
    multiplier: Vec<i32>,
    shift: Vec<i32>,
}
