//! Arena planning: every activation gets a byte offset in one arena, and tensors whose
//! lifetimes do not overlap share bytes.
//!
//! Time runs in ticks: the caller writes the input at tick 0, step `i` runs at tick `i + 1`
//! (reading its inputs and writing its output at that tick), and the caller reads the
//! output after the last step. A tensor lives from the tick that first writes it to the
//! last tick that reads it (or any alias of it); two tensors alive at the same tick never
//! share bytes, so no kernel ever reads and writes the same bytes. Placement is greedy:
//! largest tensor first, each at the lowest aligned offset ([`align_for`]: 16 bytes, a
//! cache line from 1 KiB) that is free for its whole lifetime (several orders are tried,
//! the smallest arena kept).
//!
//! That is [`plan`]'s placement, the least RAM. The default program ([`plan_for_threads`])
//! may trade up to [`THREAD_GROWTH_PERCENT`]% more arena for fewer [`handovers`]: a step
//! split over two threads writes the first half of its output on the calling thread and
//! the second half on the worker, and a core that writes a line the other core wrote last
//! must first take it over from that core's cache (on the Intel host of `bench/README.md`,
//! writing 75 KB took 3.6 us instead of 1.0). Placed so that each half mostly lands on
//! lines its own thread wrote last, MobileNetV2 hands over 0.42 MB a run instead of 1.78 MB.

use super::program::Program;

/// Alignment of every tensor's offset (good for SIMD loads), and of the arena's size.
pub const ALIGN: usize = 16;

/// Tensors of at least this many bytes start on a cache line ([`qrt::arena::ALIGN`]), so
/// that the kernels' 64-byte loads of their rows start on line boundaries where the rows
/// do; smaller ones (a microcontroller model's) keep [`ALIGN`], which wastes less RAM.
pub const LINE_ALIGN_MIN_BYTES: usize = 1024;

/// The alignment of a tensor of `len` bytes.
pub fn align_for(len: usize) -> usize {
    if len >= LINE_ALIGN_MIN_BYTES {
        qrt::arena::ALIGN
    } else {
        ALIGN
    }
}

/// Lifetime of each root tensor as `(first tick, last tick)`; `None` when unused.
pub fn lifetimes(p: &Program) -> Vec<Option<(usize, usize)>> {
    lifetimes_with(p, &p.joined_steps())
}

/// [`lifetimes`] with the steps that run in the job of the step before given.
fn lifetimes_with(p: &Program, joined: &[bool]) -> Vec<Option<(usize, usize)>> {
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
        if joined[i] {
            // Written in the job of the step before, while it runs.
            touch(p.root(step.output), i);
        }
    }
    touch(p.root(p.output), p.steps.len() + 1);
    life
}

/// How much larger than the least arena [`plan_for_threads`] may make it, in percent.
pub const THREAD_GROWTH_PERCENT: usize = 30;

/// Assigns offsets, `arena_bytes` and `arena_lower_bound`, for the least arena. Greedy
/// placement is tried in a few orders (largest first, first written first, longest lived
/// first, largest bytes x ticks first) and the smallest arena wins; ties keep the earlier
/// order.
pub fn plan(p: &mut Program) {
    plan_with(p, false)
}

/// [`plan`], then, if it saves at least half of the [`handovers`] and 64 KiB of them a
/// run, a placement for two threads: tried with arenas up to [`THREAD_GROWTH_PERCENT`]%
/// larger in steps of 5%, the smallest arena whose handovers are within 64 KiB of the
/// fewest. `arena_least_bytes` keeps the least placement's arena.
pub fn plan_for_threads(p: &mut Program) {
    plan_with(p, true)
}

/// The tensors that get bytes of their own: used, and not aliases.
fn placed_roots(p: &Program, life: &[Option<(usize, usize)>]) -> Vec<usize> {
    (0..p.tensors.len()).filter(|&t| life[t].is_some() && p.tensors[t].alias_of.is_none()).collect()
}

fn plan_with(p: &mut Program, for_threads: bool) {
    let life = lifetimes(p);
    let roots = placed_roots(p, &life);
    let (mut arena, mut offsets) = best_placement(p, &life, &roots);
    p.arena_least_bytes = arena.next_multiple_of(ALIGN);
    if for_threads {
        const SLACK: usize = 64 * 1024;
        let least = handovers(p, &roots, &offsets);
        let tries: Vec<(usize, usize, Vec<usize>)> = (0..=THREAD_GROWTH_PERCENT)
            .step_by(5)
            .filter_map(|growth| place_owned(p, &life, &roots, arena + arena * growth / 100))
            .map(|(placed, end)| (handovers(p, &roots, &placed), end, placed))
            .collect();
        // The smallest arena within 64 KiB of the fewest handovers.
        let fewest = tries.iter().map(|t| t.0).min().unwrap_or(usize::MAX);
        let pick = tries.into_iter().filter(|t| t.0 <= fewest.saturating_add(SLACK)).min_by_key(|t| t.1);
        if let Some((_, end, placed)) = pick.filter(|t| 2 * t.0 <= least && least - t.0 >= SLACK) {
            (arena, offsets) = (end, placed);
        }
    }
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

/// The byte ranges, in order, of the `placed` tensors (offset, length, lifetime) alive at
/// some tick of `span`.
fn busy_during(placed: &[(usize, usize, (usize, usize))], span: (usize, usize)) -> Vec<(usize, usize)> {
    let mut busy: Vec<(usize, usize)> = placed
        .iter()
        .filter(|(_, _, s)| s.0 <= span.1 && span.0 <= s.1)
        .map(|&(off, len, _)| (off, off + len))
        .collect();
    busy.sort_unstable();
    busy
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
        let busy = busy_during(&placed, span);
        let align = align_for(size);
        let mut offset = 0;
        for (start, end) in busy {
            if offset + size <= start {
                break;
            }
            offset = offset.max(end.next_multiple_of(align));
        }
        offset_of[t] = offset;
        arena = arena.max(offset + size);
        placed.push((offset, size, span));
    }
    let mut sorted = order.to_vec();
    sorted.sort_unstable();
    (sorted.iter().map(|&t| offset_of[t]).collect(), arena)
}

/// Bytes of live tensors at each tick with the steps that run in the job of the step
/// before given (see [`Program::joined_steps`]).
pub fn live_bytes_with(p: &Program, joined: &[bool]) -> Vec<usize> {
    live_bytes(p, &lifetimes_with(p, joined))
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

/// [`handovers`] of `p` as planned.
pub fn program_handovers(p: &Program) -> usize {
    let roots = placed_roots(p, &lifetimes(p));
    let offsets: Vec<usize> = roots.iter().map(|&t| p.tensors[t].offset).collect();
    handovers(p, &roots, &offsets)
}

/// Cache lines are the unit the cores hand over.
const LINE: usize = 64;

/// The byte ranges of tensor `t` (relative to its offset) that each of two threads writes:
/// the first half on the caller (thread 0) and the second on the worker when `split`, all
/// of it on the caller otherwise. The model input is quantized plane by plane, each plane's
/// first half of rows on the caller (`qrt::par::quantize_planes`).
fn thread_parts(p: &Program, t: usize, split: bool) -> Vec<(usize, usize, u8)> {
    let len = p.tensors[t].len();
    if !split || len < 2 * LINE {
        return vec![(0, len, 0)];
    }
    if p.root(t) == p.root(p.input) {
        if let [n, c, h, w] = p.tensors[t].shape[..] {
            if (1..=qrt::par::MAX_PLANES).contains(&(n * c)) && h >= 2 {
                let plane = h * w;
                return (0..n * c)
                    .flat_map(|k| [(k * plane, k * plane + h / 2 * w, 0), (k * plane + h / 2 * w, (k + 1) * plane, 1)])
                    .collect();
            }
        }
    }
    vec![(0, len / 2, 0), (len / 2, len, 1)]
}

/// Arena bytes that one of two threads writes after the other wrote them last: each
/// split step writes the first half of its output (and of its scratch) on the calling
/// thread and the second half on the worker, steps that are not split write on the
/// caller, and runs repeat. A core writing a line the other core's cache holds first takes
/// it over (a transfer between the cores), where a line of its own is written in place.
pub fn handovers(p: &Program, roots: &[usize], offsets: &[usize]) -> usize {
    let mut offset = vec![0usize; p.tensors.len()];
    for (&t, &o) in roots.iter().zip(offsets) {
        offset[t] = o;
    }
    let end = roots.iter().zip(offsets).map(|(&t, &o)| o + p.tensors[t].len()).max().unwrap_or(0);
    let mut owner = vec![u8::MAX; end.div_ceil(LINE)];
    let mut count = 0;
    for pass in 0..2 {
        for (t, split) in writes(p) {
            let o = offset[p.root(t)];
            for (a, b, th) in thread_parts(p, t, split) {
                for line in (o + a) / LINE..(o + b).div_ceil(LINE) {
                    if pass == 1 && owner[line] != u8::MAX && owner[line] != th {
                        count += LINE;
                    }
                    owner[line] = th;
                }
            }
        }
    }
    count
}

/// The tensors a run writes, in order, each with whether its writer is split over threads:
/// the input (its quantize is cut into the same bands as the steps), then each step's
/// output and scratch.
fn writes(p: &Program) -> Vec<(usize, bool)> {
    let mut out = vec![(p.input, true)];
    for step in &p.steps {
        let split = step.kernel.splits_over_threads();
        out.extend(std::iter::once(step.output).chain(step.scratch()).map(|t| (t, split)));
    }
    out
}

/// Which root tensors are written by a step split over threads (see [`writes`]).
fn split_writes(p: &Program) -> Vec<bool> {
    let mut split = vec![false; p.tensors.len()];
    for (t, s) in writes(p) {
        split[p.root(t)] |= s;
    }
    split
}

/// [`place_owned_after`], each tensor that does not fit moved to the front in turn (at most
/// 16 times); `None` if some tensor still does not fit within `limit`.
fn place_owned(
    p: &Program,
    life: &[Option<(usize, usize)>],
    roots: &[usize],
    limit: usize,
) -> Option<(Vec<usize>, usize)> {
    let mut first = Vec::new();
    for _ in 0..16 {
        match place_owned_after(p, life, roots, limit, &first) {
            Ok(placed) => return Some(placed),
            Err(t) if !first.contains(&t) => first.push(t),
            Err(_) => return None,
        }
    }
    None
}

/// Placement in the order the steps write (after the tensors of `first`), each tensor at
/// the offset (free for its whole lifetime, ending within `limit`) whose lines its writers
/// last wrote themselves, as far as possible: see [`handovers`]; the lowest such offset
/// among equals. `Err` names a tensor that does not fit within `limit`.
fn place_owned_after(
    p: &Program,
    life: &[Option<(usize, usize)>],
    roots: &[usize],
    limit: usize,
    first: &[usize],
) -> Result<(Vec<usize>, usize), usize> {
    let split = split_writes(p);
    let mut owner = vec![u8::MAX; limit.div_ceil(LINE) + 1];
    let mut offset_of: Vec<Option<usize>> = vec![None; p.tensors.len()];
    let mut placed: Vec<(usize, usize, (usize, usize))> = Vec::new();
    let mut written: Vec<usize> = first.to_vec();
    written.extend(writes(p).into_iter().map(|(t, _)| p.root(t)));
    written.extend(roots);
    for t in written {
        if offset_of[t].is_some() || life[t].is_none() || p.tensors[t].alias_of.is_some() {
            continue;
        }
        let size = p.tensors[t].len();
        let span = life[t].unwrap_or_default();
        let busy = busy_during(&placed, span);
        let free = |o: usize| o + size <= limit && busy.iter().all(|&(a, b)| o + size <= a || b <= o);
        // Candidates: the start and the end of every gap, and every offset that puts the
        // tensor's halfway point where the owners of the lines change.
        let align = align_for(size);
        // The aligned offset at or below `o`.
        let down = |o: usize| o / align * align;
        let mut candidates = vec![0, down(limit.saturating_sub(size))];
        for &(a, b) in &busy {
            candidates.push(b.next_multiple_of(align));
            candidates.push(down(a.saturating_sub(size)));
        }
        for line in 1..owner.len() {
            if owner[line] != owner[line - 1] {
                candidates.push(down((line * LINE).saturating_sub(size / 2)));
            }
        }
        let parts = thread_parts(p, t, split[t]);
        let cost = |o: usize| {
            parts
                .iter()
                .map(|&(a, b, th)| {
                    ((o + a) / LINE..(o + b).div_ceil(LINE)).filter(|&l| owner[l] != u8::MAX && owner[l] != th).count()
                })
                .sum::<usize>()
        };
        let Some(best) = candidates.into_iter().filter(|&o| free(o)).min_by_key(|&o| (cost(o), o)) else {
            return Err(t);
        };
        for &(a, b, th) in &parts {
            for l in (best + a) / LINE..(best + b).div_ceil(LINE) {
                owner[l] = th;
            }
        }
        offset_of[t] = Some(best);
        placed.push((best, size, span));
    }
    let offsets: Vec<usize> = roots.iter().map(|&t| offset_of[t].unwrap_or(0)).collect();
    let end = roots.iter().zip(&offsets).map(|(&t, &o)| o + p.tensors[t].len()).max().unwrap_or(0);
    Ok((offsets, end))
}
