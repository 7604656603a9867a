//! Lowering of the layers with weights: convolutions (GEMM, depthwise, im2col + GEMM, or
//! the general kernel) and fully connected layers (Gemm, MatMul).

use super::Lowering;
use crate::error::Result;
use crate::ir::Node;
use crate::ops::Op;
use crate::quant::params::{quantize_per_channel, QParams};
use crate::quant::program::{Kernel, Layout, Step};
use qrt::requant::OutputQuant;

impl Lowering<'_> {
    pub(super) fn conv(&mut self, node: &Node, conv: &crate::ops::conv::Conv) -> Result<()> {
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
        // The geometry, read from the ONNX attributes once; the specialised kernels take
        // their parts of it.
        let c = self.conv_params(conv, &in_shape, &out_shape, [kh, kw], pads, q_in, output);
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
                    in_h: c.in_h,
                    in_w: c.in_w,
                    channels: m,
                    out_h: c.out_h,
                    out_w: c.out_w,
                    kernel_h: kh,
                    kernel_w: kw,
                    stride_h: c.stride_h,
                    stride_w: c.stride_w,
                    pad_top: c.pad_top,
                    pad_left: c.pad_left,
                    input_zero_point: c.input_zero_point,
                    output,
                };
                Kernel::Depthwise(p, self.channel_refs(&packed, &consts))
            } else if conv.group == 1 {
                // A dense k x k conv: windows gathered a band at a time into a planned
                // scratch tensor, each band multiplied while it is in cache.
                let (rows, k, n) = (out_shape[2] * out_shape[3], kh * kw * in_shape[1], m);
                let g = qrt::im2col::Im2col {
                    in_h: c.in_h,
                    in_w: c.in_w,
                    in_c: c.in_c,
                    out_h: c.out_h,
                    out_w: c.out_w,
                    kernel_h: kh,
                    kernel_w: kw,
                    stride_h: c.stride_h,
                    stride_w: c.stride_w,
                    dilation_h: c.dilation_h,
                    dilation_w: c.dilation_w,
                    pad_top: c.pad_top,
                    pad_left: c.pad_left,
                    zero_point: c.input_zero_point as i8,
                };
                let gemm = qrt::gemm::Gemm { rows, k, n, input_stride: k, output_stride: n, output };
                let conv = qrt::im2col::Im2colGemm { gather: g, gemm };
                let name = format!("{}.bands", self.tensors[x].name);
                let scratch = self.add_tensor(&name, vec![conv.default_scratch()], Layout::RowMajor, q_in, None);
                Kernel::Im2colGemm { conv, gemm: self.gemm_refs(&wq, k, n, &consts), scratch }
            } else {
                Kernel::Conv(c, self.channel_refs(&wq, &consts))
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
    pub(super) fn fully_connected(&mut self, node: &Node) -> Result<()> {
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
}
