//! The integer program: what the quantizer produces, the planner places in the arena, the
//! simulator executes and codegen writes out. Each [`Step`] is one call of a `qrt` kernel
//! with constants fixed at compile time.

use qrt::add::Add;
use qrt::concat::CopyInto;
use qrt::conv::Conv2d;
use qrt::pool::{GlobalAveragePool, Pool2d};

/// Index of a tensor in [`Program::tensors`].
pub type QTensorId = usize;

/// How a tensor's elements are ordered in the arena.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layout {
    /// Channels innermost (`[N, H, W, C]`); used for rank-4 tensors inside the model.
    Nhwc,
    /// ONNX's own order (NCHW for rank 4).
    RowMajor,
}

/// One int8 activation tensor.
#[derive(Clone, Debug)]
pub struct QTensor {
    /// The fp32 tensor it quantizes (or a derived name for layout copies).
    pub name: String,
    /// ONNX dimensions (NCHW for rank 4, whatever the layout).
    pub shape: Vec<usize>,
    /// Element order in the arena.
    pub layout: Layout,
    /// Real value of one step.
    pub scale: f32,
    /// The int8 value that stands for 0.0.
    pub zero_point: i32,
    /// Shares the bytes of another tensor (a reshape that keeps the byte order).
    pub alias_of: Option<QTensorId>,
    /// Byte offset in the arena (set by the planner; aliases copy their root's).
    pub offset: usize,
}

impl QTensor {
    /// Number of elements (= bytes).
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// True for an empty tensor.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A slice of the weight blob: `len` elements starting at byte `offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlobRef {
    /// Byte offset (64-byte aligned for int8 arrays, 16 for int32).
    pub offset: usize,
    /// Number of elements.
    pub len: usize,
}

/// Per-channel constants of a conv or fully connected layer, in the blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelRefs {
    /// int8 weights in the kernel's layout.
    pub weights: BlobRef,
    /// int32 biases (zero-point terms folded in).
    pub bias: BlobRef,
    /// int32 Q31 multipliers.
    pub multiplier: BlobRef,
    /// int32 right shifts.
    pub shift: BlobRef,
}

/// Constants of a GEMM layer in the blob: packed weights, per-channel constants, and the
/// bias for unsigned-input kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GemmRefs {
    /// Packed weights ([`qrt::gemm::pack`]) and the per-channel constants.
    pub base: ChannelRefs,
    /// `bias - 128 * Σw` per channel.
    pub bias_u8: BlobRef,
}

/// One kernel call with its constants. Exhaustive matches over this enum in the simulator
/// and in codegen keep the two in step.
#[derive(Clone, Debug, PartialEq)]
pub enum Kernel {
    /// `qrt::conv::conv2d`.
    Conv(Conv2d, ChannelRefs),
    /// `qrt::gemm::gemm`: pointwise convolutions and fully connected layers.
    Gemm(qrt::gemm::Gemm, GemmRefs),
    /// `qrt::depthwise::depthwise`.
    Depthwise(qrt::depthwise::Depthwise, ChannelRefs),
    /// `qrt::fused::expand_depthwise`: a pointwise GEMM and the depthwise layer that alone
    /// reads its output, computed in bands through `scratch` (see [`super::fuse`]).
    ExpandDepthwise {
        /// The two layers' shapes.
        pair: qrt::fused::ExpandDepthwise,
        /// The GEMM's constants.
        gemm: GemmRefs,
        /// The depthwise layer's constants.
        dw: ChannelRefs,
        /// The band buffer, a tensor of its own in the arena, live only during this step.
        scratch: QTensorId,
    },
    /// `qrt::fused_project::depthwise_project`: a depthwise layer, the pointwise GEMM that
    /// alone reads its output, and optionally the Add that alone reads the GEMM's,
    /// computed in bands through `scratch` (see [`super::fuse`]). Inputs: the depthwise
    /// input, then the Add's other input.
    DepthwiseProject {
        /// The layers' shapes and the Add's constants.
        layers: qrt::fused_project::DepthwiseProject,
        /// The depthwise layer's constants.
        dw: ChannelRefs,
        /// The GEMM's constants.
        gemm: GemmRefs,
        /// The band buffer, a tensor of its own in the arena, live only during this step.
        scratch: QTensorId,
        /// The two or three steps it replaced, in order (to undo the fusion).
        parts: Vec<Step>,
    },
    /// `qrt::im2col::im2col_gemm`: a dense k x k conv, its windows gathered a band of
    /// pixels at a time into `scratch` and multiplied there.
    Im2colGemm {
        /// The gather and the GEMM.
        conv: qrt::im2col::Im2colGemm,
        /// The GEMM's constants.
        gemm: GemmRefs,
        /// The band buffer, a tensor of its own in the arena, live only during this step.
        scratch: QTensorId,
    },
    /// `qrt::add::add`.
    Add(Add),
    /// `qrt::pool::max_pool`.
    MaxPool(Pool2d),
    /// `qrt::pool::average_pool`.
    AveragePool(Pool2d),
    /// `qrt::pool::global_average_pool`.
    GlobalAveragePool(GlobalAveragePool),
    /// `qrt::clamp::clamp` (an activation that could not be fused).
    Clamp(qrt::clamp::Clamp),
    /// `qrt::concat::copy_into` (one per Concat input).
    CopyInto(CopyInto),
    /// `qrt::layout::nhwc_to_nchw`.
    NhwcToNchw {
        /// Channels.
        c: usize,
        /// Height.
        h: usize,
        /// Width.
        w: usize,
    },
    /// `qrt::layout::nchw_to_nhwc`.
    NchwToNhwc {
        /// Channels.
        c: usize,
        /// Height.
        h: usize,
        /// Width.
        w: usize,
    },
}

/// One step of the program.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// The source node it implements (layout copies name the tensor they convert).
    pub node: String,
    /// What it computes, e.g. `Conv+Relu6` (fused activations are named).
    pub op: String,
    /// The kernel call.
    pub kernel: Kernel,
    /// Tensors read.
    pub inputs: Vec<QTensorId>,
    /// Tensor written (a Concat's steps each write a part of the same tensor).
    pub output: QTensorId,
    /// Multiply-accumulates per run.
    pub macs: u64,
}

impl Kernel {
    /// Whether the kernel runs through `qrt::par`, split over a thread pool (the emitted
    /// step then takes the pool handle). Listed exhaustively so that a new kernel decides.
    pub fn splits_over_threads(&self) -> bool {
        match self {
            Kernel::Gemm(..)
            | Kernel::Depthwise(..)
            | Kernel::ExpandDepthwise { .. }
            | Kernel::DepthwiseProject { .. }
            | Kernel::Im2colGemm { .. }
            | Kernel::Add(_)
            | Kernel::MaxPool(_)
            | Kernel::NchwToNhwc { .. } => true,
            Kernel::Conv(..)
            | Kernel::AveragePool(_)
            | Kernel::GlobalAveragePool(_)
            | Kernel::Clamp(_)
            | Kernel::CopyInto(_)
            | Kernel::NhwcToNchw { .. } => false,
        }
    }
}

impl Step {
    /// The scratch tensor the step writes and reads while it runs, if any.
    pub fn scratch(&self) -> Option<QTensorId> {
        match self.kernel {
            Kernel::ExpandDepthwise { scratch, .. }
            | Kernel::DepthwiseProject { scratch, .. }
            | Kernel::Im2colGemm { scratch, .. } => Some(scratch),
            _ => None,
        }
    }
}

/// A quantized, planned model.
#[derive(Clone, Debug)]
pub struct Program {
    /// The model file it came from.
    pub source: String,
    /// All int8 tensors.
    pub tensors: Vec<QTensor>,
    /// Steps in execution order.
    pub steps: Vec<Step>,
    /// The model input (ONNX order), written by the caller before step 0.
    pub input: QTensorId,
    /// The model output (ONNX order).
    pub output: QTensorId,
    /// Weights, biases, multipliers and shifts, little-endian: int8 arrays on 64-byte
    /// lines, int32 arrays on 16-byte boundaries.
    pub blob: Vec<u8>,
    /// Arena bytes the plan needs.
    pub arena_bytes: usize,
    /// Arena bytes of the least placement of the same steps (less than `arena_bytes` when
    /// the plan is placed for two threads: see `plan::plan_for_threads`).
    pub arena_least_bytes: usize,
    /// The largest sum of simultaneously live tensor bytes (no plan can need less).
    pub arena_lower_bound: usize,
}

impl Program {
    /// For each step, whether it runs in the job of the step before: a 1x1 GEMM right after
    /// a fused depthwise + project [+ add] step that reads that step's output, pixel for
    /// pixel (`qrt::par::depthwise_project_then_gemm`). Each band of the GEMM then reads
    /// only what the same thread's band just wrote, so the two need one join, not two. The
    /// GEMM's output is live from the step before on (`plan::lifetimes`), since one thread
    /// may write it while the other still reads that step's inputs; a pair is joined only
    /// where that keeps the live bytes at or below the program's peak, so the arena's lower
    /// bound does not grow (MobileNetV2: the pairs from 28x28 down).
    pub fn joined_steps(&self) -> Vec<bool> {
        let mut joined = vec![false; self.steps.len()];
        let mut live = crate::quant::plan::live_bytes_with(self, &joined);
        let peak = live.iter().copied().max().unwrap_or(0);
        for i in 1..self.steps.len() {
            let (prev, step) = (&self.steps[i - 1], &self.steps[i]);
            if let (Kernel::DepthwiseProject { layers, .. }, Kernel::Gemm(g, _)) = (&prev.kernel, &step.kernel) {
                let reads_prev = step.inputs.len() == 1 && self.root(step.inputs[0]) == self.root(prev.output);
                let fits = live[i] + self.tensors[step.output].len() <= peak;
                if reads_prev && fits && g.rows == layers.gemm.rows && g.k == layers.gemm.n && g.input_stride == g.k {
                    joined[i] = true;
                    live[i] += self.tensors[step.output].len();
                }
            }
        }
        joined
    }

    /// The tensor whose bytes `t` uses (follows aliases).
    pub fn root(&self, mut t: QTensorId) -> QTensorId {
        while let Some(a) = self.tensors[t].alias_of {
            t = a;
        }
        t
    }

    /// Total multiply-accumulates per run.
    pub fn macs(&self) -> u64 {
        self.steps.iter().map(|s| s.macs).sum()
    }

    /// Bytes of int8 weights (excluding biases and multipliers).
    pub fn weight_bytes(&self) -> usize {
        self.steps
            .iter()
            .map(|s| match &s.kernel {
                Kernel::Conv(p, _) => p.weight_len(),
                Kernel::Gemm(p, _) | Kernel::Im2colGemm { conv: qrt::im2col::Im2colGemm { gemm: p, .. }, .. } => {
                    p.k * p.n
                }
                Kernel::Depthwise(p, _) => p.channels * p.kernel_h * p.kernel_w,
                Kernel::ExpandDepthwise { pair: qrt::fused::ExpandDepthwise { gemm, dw }, .. }
                | Kernel::DepthwiseProject { layers: qrt::fused_project::DepthwiseProject { gemm, dw, .. }, .. } => {
                    gemm.k * gemm.n + dw.channels * dw.kernel_h * dw.kernel_w
                }
                Kernel::Add(_)
                | Kernel::MaxPool(_)
                | Kernel::AveragePool(_)
                | Kernel::GlobalAveragePool(_)
                | Kernel::Clamp(_)
                | Kernel::CopyInto(_)
                | Kernel::NhwcToNchw { .. }
                | Kernel::NchwToNhwc { .. } => 0,
            })
            .sum()
    }
}
