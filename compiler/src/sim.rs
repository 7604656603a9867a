//! The integer simulator: runs a planned [`Program`] through the same `qrt` kernels, with
//! the same arena offsets and the same blob layout, as the emitted crate. Whatever it
//! computes is what the crate computes, byte for byte.

use crate::quant::blob::AlignedBlob;
use crate::quant::{BlobRef, ChannelRefs, GemmRefs, Kernel, Program, Step};
use qrt::gemm::GemmQuant;
use qrt::requant::ChannelQuant;

/// A program ready to run, with its blob aligned and its arena allocated.
pub struct Simulator<'p> {
    program: &'p Program,
    blob: AlignedBlob,
    arena: Vec<i8>,
    pool: Option<qrt::threads::Pool>,
}

impl<'p> Simulator<'p> {
    /// Prepares `program` for running.
    pub fn new(program: &'p Program) -> Self {
        Simulator { program, blob: AlignedBlob::new(&program.blob), arena: vec![0; program.arena_bytes], pool: None }
    }

    /// Prepares `program` to run its heavy layers on `threads` threads, as an emitted
    /// crate's `Model::with_threads` does.
    pub fn with_threads(program: &'p Program, threads: usize) -> Self {
        Simulator { pool: (threads > 1).then(|| qrt::threads::Pool::new(threads)), ..Simulator::new(program) }
    }

    /// Runs on an int8 input in ONNX order; returns the int8 output in ONNX order.
    /// `observe` sees each step (its index and itself) and its output tensor right after it runs.
    pub fn run_int8_observed(&mut self, input: &[i8], mut observe: impl FnMut(usize, &Step, &[i8])) -> Vec<i8> {
        let p = self.program;
        let t_in = &p.tensors[p.input];
        assert_eq!(input.len(), t_in.len(), "input length does not match the program");
        self.arena[t_in.offset..t_in.offset + t_in.len()].copy_from_slice(input);
        let par = match &self.pool {
            Some(pool) => qrt::par::Par::pool(pool),
            None => qrt::par::Par::single(),
        };
        for (i, step) in p.steps.iter().enumerate() {
            exec(p, self.blob.bytes(), step, &mut self.arena, par);
            let t = &p.tensors[step.output];
            observe(i, step, &self.arena[t.offset..t.offset + t.len()]);
        }
        let t_out = &p.tensors[p.output];
        self.arena[t_out.offset..t_out.offset + t_out.len()].to_vec()
    }

    /// Runs on an int8 input; returns the int8 output.
    pub fn run_int8(&mut self, input: &[i8]) -> Vec<i8> {
        self.run_int8_observed(input, |_, _, _| {})
    }

    /// Quantizes an f32 input, runs, and dequantizes the output: what the emitted crate's
    /// `run` returns.
    pub fn run(&mut self, input: &[f32]) -> Vec<f32> {
        let p = self.program;
        let (t_in, t_out) = (&p.tensors[p.input], &p.tensors[p.output]);
        let mut q = vec![0i8; input.len()];
        qrt::quant::quantize(t_in.scale, t_in.zero_point, input, &mut q);
        let out = self.run_int8(&q);
        let mut f = vec![0f32; out.len()];
        qrt::quant::dequantize(t_out.scale, t_out.zero_point, &out, &mut f);
        f
    }

    /// Quantizes an f32 input the way the emitted crate does.
    pub fn quantize_input(&self, input: &[f32]) -> Vec<i8> {
        let t_in = &self.program.tensors[self.program.input];
        let mut q = vec![0i8; input.len()];
        qrt::quant::quantize(t_in.scale, t_in.zero_point, input, &mut q);
        q
    }
}

fn i8s(blob: &[u8], r: BlobRef) -> &[i8] {
    qrt::blob::i8s(blob, r.offset, r.len)
}

fn channel_quant<'b>(blob: &'b [u8], r: &ChannelRefs) -> ChannelQuant<'b> {
    ChannelQuant {
        bias: qrt::blob::i32s(blob, r.bias.offset, r.bias.len),
        multiplier: qrt::blob::i32s(blob, r.multiplier.offset, r.multiplier.len),
        shift: qrt::blob::i32s(blob, r.shift.offset, r.shift.len),
    }
}

fn gemm_quant<'b>(blob: &'b [u8], r: &GemmRefs) -> GemmQuant<'b> {
    let c = channel_quant(blob, &r.base);
    GemmQuant {
        bias: c.bias,
        bias_u8: qrt::blob::i32s(blob, r.bias_u8.offset, r.bias_u8.len),
        multiplier: c.multiplier,
        shift: c.shift,
    }
}

/// Executes one step on the arena (the emitted crate's per-layer function does the same).
fn exec(p: &Program, blob: &[u8], step: &Step, arena: &mut [i8], par: qrt::par::Par<'_>) {
    let out = &p.tensors[step.output];
    let split = match step.scratch() {
        Some(s) => {
            let s = &p.tensors[s];
            qrt::arena::split_with_scratch(arena, out.offset, out.len(), s.offset, s.len())
        }
        None => qrt::arena::split(arena, out.offset, out.len()),
    };
    let input = |i: usize| {
        let t = &p.tensors[step.inputs[i]];
        split.input(t.offset, t.len())
    };
    match &step.kernel {
        Kernel::Conv(params, r) => {
            qrt::conv::conv2d(params, input(0), i8s(blob, r.weights), &channel_quant(blob, r), split.output)
        }
        Kernel::Gemm(params, r) => {
            let q = gemm_quant(blob, r);
            qrt::par::gemm(par, params, input(0), i8s(blob, r.base.weights), &q, split.output)
        }
        Kernel::Depthwise(params, r) => {
            qrt::par::depthwise(par, params, input(0), i8s(blob, r.weights), &channel_quant(blob, r), split.output)
        }
        Kernel::ExpandDepthwise { pair, gemm, dw, .. } => qrt::par::expand_depthwise(
            par,
            pair,
            input(0),
            i8s(blob, gemm.base.weights),
            &gemm_quant(blob, gemm),
            i8s(blob, dw.weights),
            &channel_quant(blob, dw),
            split.scratch,
            split.output,
        ),
        Kernel::DepthwiseProject { layers, dw, gemm, .. } => qrt::par::depthwise_project(
            par,
            layers,
            input(0),
            i8s(blob, dw.weights),
            &channel_quant(blob, dw),
            i8s(blob, gemm.base.weights),
            &gemm_quant(blob, gemm),
            if layers.residual.is_some() { input(1) } else { &[] },
            split.scratch,
            split.output,
        ),
        Kernel::Im2colGemm { conv, gemm, .. } => qrt::par::im2col_gemm(
            par,
            conv,
            input(0),
            i8s(blob, gemm.base.weights),
            &gemm_quant(blob, gemm),
            split.scratch,
            split.output,
        ),
        Kernel::Add(params) => qrt::par::add(par, params, input(0), input(1), split.output),
        Kernel::MaxPool(params) => qrt::par::max_pool(par, params, input(0), split.output),
        Kernel::AveragePool(params) => qrt::pool::average_pool(params, input(0), split.output),
        Kernel::GlobalAveragePool(params) => qrt::pool::global_average_pool(params, input(0), split.output),
        Kernel::Clamp(params) => qrt::clamp::clamp(params, input(0), split.output),
        Kernel::CopyInto(params) => qrt::concat::copy_into(params, input(0), split.output),
        Kernel::NhwcToNchw { c, h, w } => qrt::layout::nhwc_to_nchw(*c, *h, *w, input(0), split.output),
        Kernel::NchwToNhwc { c, h, w } => qrt::par::nchw_to_nhwc(par, *c, *h, *w, input(0), split.output),
    }
}
