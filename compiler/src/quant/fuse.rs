//! Fusion of planned-to-be steps.
//!
//! A pointwise GEMM whose output only a depthwise layer reads (MobileNet's expand +
//! depthwise) becomes one [`Kernel::ExpandDepthwise`] step, which computes the GEMM's
//! output a few rows at a time into a small scratch tensor. The bytes are those of the two
//! steps (`qrt::fused` explains why); the whole expanded tensor, the largest of every
//! inverted residual block, is never stored, which saves its memory traffic and usually
//! lowers the arena's peak.
//!
//! A depthwise layer whose output only a pointwise GEMM reads, and the residual Add that
//! alone reads that GEMM's output (MobileNet's depthwise + project [+ add]), become one
//! [`Kernel::DepthwiseProject`] step, computed band by band through scratch
//! (`qrt::fused_project`): the two tensors in between are never stored, and on several
//! threads the block needs one join where it needed three.

use super::program::{Kernel, Layout, Program, QTensor, Step};

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
            let len = pair.scratch_len(budget.min(mid.len() / 4));
            let scratch = add_scratch(p, p.steps[i].output, len);
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
    let j = sole_reader(p, i).filter(|_| g.rows >= 2)?;
    let reader = &p.steps[j];
    if reader.inputs != [p.steps[i].output] {
        return None;
    }
    let Kernel::Depthwise(d, _) = &reader.kernel else { return None };
    (g.rows == d.in_h * d.in_w && g.n == d.channels && g.output_stride == g.n).then_some(j)
}

/// The one step after step `i` that reads step `i`'s output, if that output is read by
/// exactly one step and by nothing else: not the model's output, no alias, and written by
/// step `i` alone (Concat writes one tensor from several steps).
fn sole_reader(p: &Program, i: usize) -> Option<usize> {
    let out = p.steps[i].output;
    if out == p.output || p.root(p.output) == out || p.tensors.iter().any(|t| t.alias_of == Some(out)) {
        return None;
    }
    if p.steps.iter().filter(|s| s.output == out).count() != 1 {
        return None;
    }
    let mut readers = p.steps.iter().enumerate().filter(|(_, s)| s.inputs.contains(&out));
    let (j, _) = readers.next()?;
    (readers.next().is_none() && j > i).then_some(j)
}

/// Fuses every depthwise step with the pointwise GEMM that alone reads its output (and the
/// Add that alone reads the GEMM's, if one does), with scratch tensors of
/// [`qrt::fused_project::DEFAULT_SCRATCH`] bytes, or the depthwise output's size less the
/// step's output if that is less (or the least the step needs, if more).
pub fn depthwise_project(p: &mut Program) {
    depthwise_project_with(p, qrt::fused_project::DEFAULT_SCRATCH);
}

/// [`depthwise_project`] with a scratch budget of `budget` bytes per step (at least one
/// output row's).
pub fn depthwise_project_with(p: &mut Program, budget: usize) {
    let mut i = 0;
    while i < p.steps.len() {
        let Some((layers, j, add)) = projectable(p, i) else {
            i += 1;
            continue;
        };
        let (Kernel::Depthwise(_, dw), Kernel::Gemm(_, gemm)) = (p.steps[i].kernel.clone(), p.steps[j].kernel.clone())
        else {
            unreachable!("`projectable` checked the kernels");
        };
        let out = &p.tensors[p.steps[add.unwrap_or(j)].output];
        // At most the depthwise output it replaces less the step's output, so that the
        // step's live bytes never exceed the depthwise step's (small layers' plans do not
        // grow).
        let cap = p.tensors[p.steps[i].output].len().saturating_sub(out.len());
        let scratch = add_scratch(p, p.steps[add.unwrap_or(j)].output, layers.scratch_len(budget.min(cap)));
        // The steps are consecutive (`projectable`); removing at `i` takes them in order.
        let parts: Vec<Step> = (0..if add.is_some() { 3 } else { 2 }).map(|_| p.steps.remove(i)).collect();
        let mut inputs = parts[0].inputs.clone();
        if let Some(add) = parts.get(2) {
            // The Add's other input: the one the GEMM did not write.
            inputs.extend(add.inputs.iter().filter(|&&t| t != parts[1].output));
        }
        let fused = Step {
            node: parts.iter().map(|s| s.node.as_str()).collect::<Vec<_>>().join("+"),
            op: parts.iter().map(|s| s.op.as_str()).collect::<Vec<_>>().join(" then "),
            inputs,
            output: parts[parts.len() - 1].output,
            macs: parts.iter().map(|s| s.macs).sum(),
            kernel: Kernel::DepthwiseProject { layers, dw, gemm, scratch, parts },
        };
        p.steps.insert(i, fused);
        i += 1;
    }
}

/// The layers that depthwise step `i` fuses with, if step `i + 1` is a pointwise GEMM
/// taking the depthwise output pixels as its rows and reading nothing else, and nothing
/// else reads that output: the fused layers, the GEMM's index and, if step `i + 2` is an
/// Add that alone reads the GEMM's output (with another tensor as its other input), its
/// index.
fn projectable(p: &Program, i: usize) -> Option<(qrt::fused_project::DepthwiseProject, usize, Option<usize>)> {
    let Kernel::Depthwise(d, _) = &p.steps[i].kernel else { return None };
    let j = sole_reader(p, i).filter(|&j| j == i + 1 && p.steps[j].inputs == [p.steps[i].output])?;
    let Kernel::Gemm(g, _) = &p.steps[j].kernel else { return None };
    let pixels = g.rows == d.out_h * d.out_w && g.k == d.channels;
    if !pixels || g.input_stride != g.k || g.output_stride != g.n {
        return None;
    }
    let mut layers = qrt::fused_project::DepthwiseProject { dw: *d, gemm: *g, residual: None };
    let add = sole_reader(p, j).filter(|&k| k == j + 1).and_then(|k| {
        let Kernel::Add(a) = &p.steps[k].kernel else { return None };
        let ins = &p.steps[k].inputs;
        let gemm_out = p.steps[j].output;
        // Exactly one of the two inputs is the GEMM's output.
        if ins.len() != 2 || (ins[0] == gemm_out) == (ins[1] == gemm_out) || a.len != g.rows * g.n {
            return None;
        }
        layers.residual = Some(qrt::fused_project::Residual { add: *a, gemm_is_a: ins[0] == gemm_out });
        Some(k)
    });
    Some((layers, j, add))
}

/// Undoes [`depthwise_project`]: every fused step becomes the steps it replaced again
/// (their tensors never left the program; the scratch tensor is left unused).
pub fn split_depthwise_project(p: &mut Program) {
    let mut i = 0;
    while i < p.steps.len() {
        if let Kernel::DepthwiseProject { parts, .. } = &mut p.steps[i].kernel {
            let parts = std::mem::take(parts);
            let n = parts.len();
            p.steps.splice(i..=i, parts);
            i += n;
        } else {
            i += 1;
        }
    }
}

/// Threads the compiler sizes bands for, as [`super::plan::plan_for_threads`] places the
/// arena for two.
pub const PLANNED_THREADS: usize = 2;

/// Widens the scratch of each fused depthwise + project step so that on `threads` threads
/// each thread's band of pixels runs in one chunk: one depthwise call, one GEMM and one
/// Add, where a narrower scratch cuts a band into several, each paying the kernels' fixed
/// costs again. A band of `ceil(rows / threads)` rows' worth of pixels may straddle one
/// more row, so each thread's share gets that many rows plus one. Only where that fits in
/// [`qrt::fused_project::DEFAULT_SCRATCH`] (widening larger layers' bands part of the way
/// measured no faster) and the step's live bytes stay within the program's peak (with the
/// steps run in the job of the step before counted), so the arena's lower bound does not
/// move. MobileNetV2's 7x7 steps had 2 rows a band on two threads, two calls of each
/// kernel per band; they now have 5, and run 1.2 to 3.5 us faster each.
pub fn widen_for_threads(p: &mut Program, threads: usize) {
    let joined = p.joined_steps();
    let live = super::plan::live_bytes_with(p, &joined);
    let peak = live.iter().copied().max().unwrap_or(0);
    for i in 0..p.steps.len() {
        let Kernel::DepthwiseProject { layers, scratch, .. } = &p.steps[i].kernel else {
            continue;
        };
        let (layers, scratch) = (*layers, *scratch);
        let rows = layers.dw.out_h.div_ceil(threads.max(1)) + 1;
        let want = threads.max(1) * rows * layers.min_scratch();
        let have = p.tensors[scratch].len();
        // Step `i` runs at tick `i + 1` of the live bytes.
        if want > have && want <= qrt::fused_project::DEFAULT_SCRATCH && live[i + 1] + (want - have) <= peak {
            p.tensors[scratch].shape = vec![want];
        }
    }
}

/// Adds a fused step's band buffer of `len` bytes, named after tensor `like` (whose scale
/// and zero point it takes), and returns its id.
fn add_scratch(p: &mut Program, like: usize, len: usize) -> usize {
    let like = &p.tensors[like];
    let scratch = QTensor {
        name: format!("{}.bands", like.name),
        shape: vec![len],
        layout: Layout::RowMajor,
        scale: like.scale,
        zero_point: like.zero_point,
        alias_of: None,
        offset: 0,
    };
    p.tensors.push(scratch);
    p.tensors.len() - 1
}
