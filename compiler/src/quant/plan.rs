//! Arena planning: every activation gets a byte offset in one arena, and tensors whose
//! lifetimes do not overlap share bytes.
//!
//! Time runs in ticks: the caller writes the input at tick 0, step `i` runs at tick `i + 1`
//! (reading its inputs and writing its output at that tick), and the caller reads the
//! output after the last step. A tensor lives from the tick that first writes it to the
//! last tick that reads it (or any alias of it); two tensors alive at the same tick never
//! share bytes, so no kernel ever reads and writes the same bytes. Placement is greedy:
//! largest tensor first, each at the lowest 16-byte aligned offset that is free for its
//! whole lifetime (several orders are tried, the smallest arena kept).

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

/// Assigns offsets, `arena_bytes` and `arena_lower_bound`. Greedy placement is tried in a
/// few orders (largest first, first written first, longest lived first, largest
/// bytes x ticks first) and the smallest arena wins; ties keep the earlier order.
pub fn plan(p: &mut Program) {
    let life = lifetimes(p);
    let roots: Vec<usize> =
        (0..p.tensors.len()).filter(|&t| life[t].is_some() && p.tensors[t].alias_of.is_none()).collect();
    let (arena, offsets) = best_placement(p, &life, &roots);
    for (&t, &off) in roots.iter().zip(&offsets) {
        p.tensors[t].offset = off;
    }
    for t in 0..p.tensors.len() {
        let root = p.root(t);
        p.tensors[t].offset = p.tensors[root].offset;
    }
    p.arena_bytes = arena.next_multiple_of(ALIGN);
    p.arena_lower_bound = live_bytes(p, &life).into_iter().max().unwrap_or(0);
}

/// The smallest arena over the placement orders: `(arena end, offsets of roots)`.
fn best_placement(p: &Program, life: &[Option<(usize, usize)>], roots: &[usize]) -> (usize, Vec<usize>) {
    let span = |t: usize| life[t].unwrap_or_default();
    let len = |t: usize| p.tensors[t].len();
    let ticks = |t: usize| span(t).1 - span(t).0 + 1;
    type Key<'a> = Box<dyn Fn(usize) -> (std::cmp::Reverse<usize>, usize, usize) + 'a>;
    let orders: [Key<'_>; 4] = [
        Box::new(|t| (std::cmp::Reverse(len(t)), span(t).0, t)),
        Box::new(|t| (std::cmp::Reverse(0), span(t).0, usize::MAX - len(t))),
        Box::new(|t| (std::cmp::Reverse(ticks(t)), usize::MAX - len(t), span(t).0)),
        Box::new(|t| (std::cmp::Reverse(len(t) * ticks(t)), span(t).0, t)),
    ];
    let mut best: Option<(usize, Vec<usize>)> = None;
    for key in &orders {
        let mut order = roots.to_vec();
        order.sort_by_key(|&t| key(t));
        let (offsets, arena) = place(p, life, &order);
        if best.as_ref().is_none_or(|(a, _)| arena < *a) {
            best = Some((arena, offsets));
        }
    }
    best.unwrap_or_default()
}

/// Places root tensors in `order`, each at the lowest aligned offset free for its whole
/// lifetime. Returns the offsets (indexed like `roots` sorted by id) and the arena's end.
fn place(p: &Program, life: &[Option<(usize, usize)>], order: &[usize]) -> (Vec<usize>, usize) {
    let mut placed: Vec<(usize, usize, (usize, usize))> = Vec::new();
    let mut offset_of = vec![0usize; p.tensors.len()];
    let mut arena = 0;
    for &t in order {
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
        offset_of[t] = offset;
        arena = arena.max(offset + size);
        placed.push((offset, size, span));
    }
    let mut sorted = order.to_vec();
    sorted.sort_unstable();
    (sorted.iter().map(|&t| offset_of[t]).collect(), arena)
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
