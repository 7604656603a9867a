//! Lowering of the ops without weights: Add, pools, Concat, standalone activations and
//! reshapes.

use super::Lowering;
use crate::error::Result;
use crate::ir::Node;
use crate::ops::{Clamp, Op};
use crate::quant::params::clamp_bounds;
use crate::quant::program::{Kernel, Layout, Step};
use qrt::requant::Requant;

impl Lowering<'_> {
    pub(super) fn add(&mut self, node: &Node, act: Clamp) -> Result<()> {
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
    pub(super) fn pool(&mut self, node: &Node, pool: &crate::ops::pool::Pool2d) -> Result<()> {
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

    pub(super) fn global_average_pool(&mut self, node: &Node) -> Result<()> {
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
    pub(super) fn concat(&mut self, node: &Node, axis: i64) -> Result<()> {
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
    pub(super) fn clamp(&mut self, node: &Node, act: Clamp) -> Result<()> {
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
    pub(super) fn reshape(&mut self, node: &Node) -> Result<()> {
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
