//! Arena planning: every activation gets a byte offset in one arena, and tensors whose
//! lifetimes do not overlap share bytes.
//!
//! Time runs in ticks: the caller writes the input at tick 0, step `i` runs at tick `i + 1`
//! (reading its inputs and writing its output at that tick), and the caller reads the
//! output after the last step. A tensor lives from the tick that first writes it to the
//! last tick that reads it (or any alias of it); two tensors alive at the same tick never
//! share bytes, so no kernel ever reads and writes the same bytes. Placement is greedy:
//! largest tensor first, each at the lowest 16-byte aligned offset that is free for its
//! whole lifetime.

use super::program::Program;

/// Alignment of every tensor's offset (good for SIMD loads).
pub const ALIGN: usize = 16;

/// Lifetime of each root tensor as `(first tick, last tick)`; `None` when unused.
pub fn lifetimes(p: &Program) -> Vec<Option<(usize, usize)>> {
    let mut life: Vec<Option<(usize, usize)>> = vec![None; p.tensors.len()];
    let mut touch = |t: usize, tick: usize| {
        let e = life[t].get_or_insert((tick, tick));
        e.0 = e.0.min(tick);
        e.1 = e.1.max(tick);
    };
    touch(p.root(p.input), 0);
    for (i, step) in p.steps.iter().enumerate() {
        for &t in step.inputs.iter().chain(&step.scratch()) {
            touch(p.root(t), i + 1);
        }
        touch(p.root(step.output), i + 1);
    }
    touch(p.root(p.output), p.steps.len() + 1);
    life
}

/// Assigns offsets, `arena_bytes` and `arena_lower_bound`.
pub fn plan(p: &mut Program) {
    let life = lifetimes(p);
    let mut order: Vec<usize> =
        (0..p.tensors.len()).filter(|&t| life[t].is_some() && p.tensors[t].alias_of.is_none()).collect();
    order.sort_by_key(|&t| (std::cmp::Reverse(p.tensors[t].len()), life[t].map_or(0, |l| l.0)));
    let mut placed: Vec<(usize, usize, (usize, usize))> = Vec::new();
    let mut arena = 0;
    for t in order {
        let size = p.tensors[t].len();
        let span = life[t].unwrap_or_default();
        let mut busy: Vec<(usize, usize)> = placed
            .iter()
            .filter(|(_, _, s)| s.0 <= span.1 && span.0 <= s.1)
            .map(|&(off, len, _)| (off, off + len))
            .collect();
        busy.sort_unstable();
        let mut offset = 0;
        for (start, end) in busy {
            if offset + size <= start {
                break;
            }
            offset = offset.max(end.next_multiple_of(ALIGN));
        }
        p.tensors[t].offset = offset;
        arena = arena.max(offset + size);
        placed.push((offset, size, span));
    }
    for t in 0..p.tensors.len() {
        let root = p.root(t);
        p.tensors[t].offset = p.tensors[root].offset;
    }
    p.arena_bytes = arena.next_multiple_of(ALIGN);
    p.arena_lower_bound = live_bytes(p, &life).into_iter().max().unwrap_or(0);
}

/// Bytes of live tensors at each tick (the lower bound is their maximum).
pub fn live_bytes(p: &Program, life: &[Option<(usize, usize)>]) -> Vec<usize> {
    let ticks = p.steps.len() + 2;
    let mut live = vec![0; ticks];
    for (t, l) in life.iter().enumerate() {
        if let Some((a, b)) = l {
            for v in &mut live[*a..=*b] {
                *v += p.tensors[t].len();
            }
        }
    }
    live
}
