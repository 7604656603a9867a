//! Fusion of planned-to-be steps: a pointwise GEMM whose output only a depthwise layer
//! reads (MobileNet's expand + depthwise) becomes one [`Kernel::ExpandDepthwise`] step,
//! which computes the GEMM's output a few rows at a time into a small scratch tensor. The
//! bytes are those of the two steps (`qrt::fused` explains why); the whole expanded tensor,
//! the largest of every inverted residual block, is never stored, which saves its memory
//! traffic and usually lowers the arena's peak.

use super::program::{Kernel, Layout, Program, QTensor};

/// Intermediate tensors from this size up are fused by default: below it the tensor stays
/// in the L2 cache between the two layers anyway, and the bands' extra calls cost more than
/// they save (measured on MobileNetV2, where only the 112x112x96 expansion, 1.2 MB, gains).
pub const FUSE_MIN_BYTES: usize = 1 << 20;

/// Fuses every eligible GEMM + depthwise pair whose intermediate tensor has at least
/// [`FUSE_MIN_BYTES`], with scratch tensors of [`qrt::fused::DEFAULT_SCRATCH`] bytes, or a
/// quarter of the intermediate tensor if that is less (or the least a pair needs, if more).
pub fn expand_depthwise(p: &mut Program) {
    expand_depthwise_with(p, FUSE_MIN_BYTES, qrt::fused::DEFAULT_SCRATCH);
}

/// [`expand_depthwise`] for intermediate tensors of at least `min_bytes`, with a scratch
/// budget of `budget` bytes per pair.
pub fn expand_depthwise_with(p: &mut Program, min_bytes: usize, budget: usize) {
    let mut i = 0;
    while i < p.steps.len() {
        if let Some(j) = fusable(p, i).filter(|_| p.tensors[p.steps[i].output].len() >= min_bytes) {
            let (Kernel::Gemm(gemm, gemm_refs), Kernel::Depthwise(dw, dw_refs)) =
                (p.steps[i].kernel.clone(), p.steps[j].kernel.clone())
            else {
                unreachable!("`fusable` checked the kernels");
            };
            let pair = qrt::fused::ExpandDepthwise { gemm, dw };
            let mid = &p.tensors[p.steps[i].output];
            // At most a quarter of the tensor it replaces, so that fusing always lowers
            // the step's live bytes (the least scratch wins if it is more).
            let scratch = QTensor {
                name: format!("{}.bands", mid.name),
                shape: vec![pair.scratch_len(budget.min(mid.len() / 4))],
                layout: Layout::RowMajor,
                scale: mid.scale,
                zero_point: mid.zero_point,
                alias_of: None,
                offset: 0,
            };
            p.tensors.push(scratch);
            let scratch = p.tensors.len() - 1;
            let expand = p.steps.remove(i);
            // `j > i`: the depthwise step moved up by one.
            let fused = &mut p.steps[j - 1];
            fused.node = format!("{}+{}", expand.node, fused.node);
            fused.op = format!("{} then {}", expand.op, fused.op);
            fused.kernel = Kernel::ExpandDepthwise { pair, gemm: gemm_refs, dw: dw_refs, scratch };
            fused.inputs = expand.inputs;
            fused.macs += expand.macs;
            // The intermediate tensor is now written and read by no step, so the planner
            // leaves it out of the arena.
        } else {
            i += 1;
        }
    }
}

/// The depthwise step that step `i` can fuse with, if step `i` is a pointwise GEMM over
/// more than one row whose output is read by exactly one step, a depthwise layer taking
/// the GEMM's rows as its pixels, and by nothing else (not the model's output, no alias).
fn fusable(p: &Program, i: usize) -> Option<usize> {
    let Kernel::Gemm(g, _) = &p.steps[i].kernel else { return None };
    let mid = p.steps[i].output;
    if g.rows < 2 || mid == p.output || p.root(p.output) == mid || p.tensors.iter().any(|t| t.alias_of == Some(mid)) {
        return None;
    }
    // Concat writes one tensor from several steps: only a tensor with a single writer.
    if p.steps.iter().filter(|s| s.output == mid).count() != 1 {
        return None;
    }
    let mut readers = p.steps.iter().enumerate().filter(|(_, s)| s.inputs.contains(&mid));
    let (j, reader) = readers.next()?;
    if readers.next().is_some() || j <= i || reader.inputs != [mid] {
        return None;
    }
    let Kernel::Depthwise(d, _) = &reader.kernel else { return None };
    (g.rows == d.in_h * d.in_w && g.n == d.channels && g.output_stride == g.n).then_some(j)
}
