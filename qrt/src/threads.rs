//! A small persistent thread pool for the optional multi-core mode (`std` only).
//!
//! [`Pool::run`] splits a layer into parts that the caller and the workers claim one at a
//! time; each part writes its own rows of the output, so the bytes are those of a
//! single-threaded run whatever the split. Workers spin briefly between jobs (layers come
//! back to back within a run) and then sleep, so an idle model costs nothing.
//!
//! [`Pool::split`] sizes the parts to the threads' speeds. Part `i` is normally run by
//! thread `i` (the caller is thread 0, and claims come in order), and the pool times every
//! part: when a thread is slower than the caller (a slower core, a core shared with
//! another program, a virtual CPU the host runs less often), its parts shrink until both
//! finish together, instead of the caller waiting for it at every layer. The weights move
//! a 64th of the way to each measurement, so one noisy layer does not swing them.

use core::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;
use std::vec::Vec;

/// How many busy-wait rounds a worker spends looking for the next job before sleeping.
const SPIN_ROUNDS: u32 = 50_000;

/// A job: the task of one [`Pool::run`] call, its lifetime erased (see the SAFETY notes).
#[derive(Clone, Copy)]
struct Job {
    task: *const (dyn Fn(usize) + Sync),
    parts: usize,
}

struct Shared {
    /// Bumped (by 1) for every job; workers compare it with the last one they served.
    epoch: AtomicU64,
    /// The current job, written only while no worker can be using the previous one.
    job: Mutex<Option<Job>>,
    /// `epoch << 32 | next part index`: claims are tagged with the job's epoch, so a worker
    /// still holding an older job can never claim a part of a newer one.
    next: AtomicU64,
    /// Parts finished in the current job.
    done: AtomicUsize,
    /// Workers asleep on `wake`.
    sleeping: AtomicUsize,
    /// For each of the first [`MAX_SPLIT`] parts of the current job: the thread that ran
    /// it and its duration in nanoseconds (see [`Pool::split`]).
    timing: [PartTime; MAX_SPLIT],
    wake: Condvar,
    stop: AtomicBool,
}

// SAFETY: the raw task pointer inside `job` is only dereferenced while `Pool::run`, which
// owns the referent, is blocked waiting for every part to finish (see `run_parts`).
unsafe impl Send for Shared {}
// SAFETY: as above; all other fields are atomics or synchronised by the mutex.
unsafe impl Sync for Shared {}

#[derive(Default)]
struct PartTime {
    thread: AtomicUsize,
    ns: AtomicU64,
}

/// The most parts a [`Split`] has.
pub const MAX_SPLIT: usize = 16;

/// How far a weight moves towards each measurement. Layers differ in how evenly their
/// rows cost, so a weight that follows each job closely is wrong for the next layer: with
/// 1/16, MobileNetV2 on two threads ran 1.6% slower than with equal bands when both cores
/// were free; with 1/64 it ran as fast (and 8% faster when one was not).
const LEARN: f32 = 1.0 / 64.0;
/// Jobs with a part shorter than this teach nothing: call overheads and the worker's start
/// dominate such parts.
const LEARN_MIN_NS: u64 = 5_000;
/// The range of a thread's weight, relative to the caller's (1).
const WEIGHTS: (f32, f32) = (0.25, 4.0);

/// `len` items cut into consecutive, non-empty parts sized to the threads' weights (see
/// [`Pool::split`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Split {
    bounds: [usize; MAX_SPLIT + 1],
    parts: usize,
}

impl Split {
    /// Parts: the number asked for, at most `len` and [`MAX_SPLIT`].
    pub fn parts(&self) -> usize {
        self.parts
    }

    /// The items of part `i`.
    pub fn range(&self, i: usize) -> Range<usize> {
        self.bounds[i]..self.bounds[i + 1]
    }

    /// Cuts `0..len` into `parts` consecutive parts in proportion to `weights` (equal parts
    /// where there are fewer weights than parts), every part at least one item long.
    pub fn weighted(len: usize, parts: usize, weights: &[f32]) -> Split {
        let parts = parts.clamp(1, MAX_SPLIT).min(len.max(1));
        let w = |i: usize| if weights.len() >= parts { weights[i].max(f32::MIN_POSITIVE) as f64 } else { 1.0 };
        let total: f64 = (0..parts).map(w).sum();
        let mut bounds = [0; MAX_SPLIT + 1];
        let mut sum = 0.0;
        for i in 1..parts {
            sum += w(i - 1);
            let at = (len as f64 * sum / total).round() as usize;
            // Leave at least one item for this part and each one after it.
            bounds[i] = at.max(bounds[i - 1] + 1).min(len - (parts - i));
        }
        bounds[parts] = len;
        Split { bounds, parts }
    }
}

/// Moves `weights` after a job split by `split` whose part `i` thread `timing[i].0` ran in
/// `timing[i].1` nanoseconds; false (and the weights untouched) if the job teaches nothing
/// (a part run by another thread than its own, or too short to time).
fn learn(weights: &mut [f32], split: &Split, timing: &[(usize, u64)]) -> bool {
    let parts = split.parts();
    if parts < 2 || parts > weights.len() || timing.len() < parts {
        return false;
    }
    if (0..parts).any(|i| timing[i].0 != i || timing[i].1 < LEARN_MIN_NS) {
        return false;
    }
    // Items per nanosecond, relative to the caller's.
    let speed = |i: usize| split.range(i).len() as f64 / timing[i].1 as f64;
    for i in 1..parts {
        let seen = (speed(i) / speed(0)) as f32;
        weights[i] = (weights[i] + LEARN * (seen - weights[i])).clamp(WEIGHTS.0, WEIGHTS.1);
    }
    true
}

/// A pool of `threads - 1` workers; the thread calling [`Pool::run`] is the last one.
pub struct Pool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    threads: usize,
    /// Each thread's speed relative to the caller's (thread 0, always 1), as `f32` bits.
    weights: Vec<AtomicU32>,
}

impl Pool {
    /// A pool using `threads` threads in all (at least 1; 1 runs everything on the caller).
    pub fn new(threads: usize) -> Pool {
        let threads = threads.max(1);
        let shared = Arc::new(Shared {
            epoch: AtomicU64::new(0),
            job: Mutex::new(None),
            next: AtomicU64::new(0),
            done: AtomicUsize::new(0),
            sleeping: AtomicUsize::new(0),
            timing: Default::default(),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let workers = (1..threads)
            .map(|i| {
                let s = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name(std::format!("qrt-{i}"))
                    .spawn(move || worker(&s, i))
                    .expect("qrt: cannot start a worker thread")
            })
            .collect();
        let weights = (0..threads).map(|_| AtomicU32::new(1f32.to_bits())).collect();
        Pool { shared, workers, threads, weights }
    }

    /// Each thread's measured speed relative to the caller's (thread 0, always 1): the
    /// weights [`Pool::split`] cuts by.
    pub fn weights(&self) -> Vec<f32> {
        self.weights.iter().map(|w| f32::from_bits(w.load(Ordering::Relaxed))).collect()
    }

    /// The weights of the first [`MAX_SPLIT`] threads (the only ones a split uses) and how
    /// many there are, without allocating: read for every layer.
    fn split_weights(&self) -> ([f32; MAX_SPLIT], usize) {
        let mut w = [1.0; MAX_SPLIT];
        for (w, slot) in w.iter_mut().zip(&self.weights) {
            *w = f32::from_bits(slot.load(Ordering::Relaxed));
        }
        (w, self.threads.min(MAX_SPLIT))
    }

    /// Sets the weights (clamped to 0.25..=4; thread 0 stays 1, and a weight that is not a
    /// number is ignored): for cores known to differ, and for tests. Later jobs run with
    /// [`Pool::run_split`] go on adjusting them.
    pub fn set_weights(&self, weights: &[f32]) {
        for (slot, &w) in self.weights.iter().zip(weights).skip(1).filter(|(_, w)| !w.is_nan()) {
            slot.store(w.clamp(WEIGHTS.0, WEIGHTS.1).to_bits(), Ordering::Relaxed);
        }
    }

    /// Cuts `len` items into `parts` parts (at most `len`, [`MAX_SPLIT`]), part `i` sized
    /// for thread `i` by the current weights; equal parts if there are more parts than
    /// threads.
    pub fn split(&self, len: usize, parts: usize) -> Split {
        let (w, n) = self.split_weights();
        Split::weighted(len, parts, &w[..n])
    }

    /// [`Pool::run`] over the parts of `split` (from [`Pool::split`]), then moves the
    /// weights towards the speeds the job showed.
    pub fn run_split(&self, split: &Split, task: &(dyn Fn(usize) + Sync)) {
        self.run(split.parts(), task);
        let parts = split.parts();
        if parts < 2 || parts > self.threads {
            return;
        }
        let mut timing = [(0usize, 0u64); MAX_SPLIT];
        for (t, slot) in timing.iter_mut().zip(&self.shared.timing).take(parts) {
            *t = (slot.thread.load(Ordering::Relaxed), slot.ns.load(Ordering::Relaxed));
        }
        let (mut w, n) = self.split_weights();
        if learn(&mut w[..n], split, &timing[..parts]) {
            for (slot, w) in self.weights.iter().zip(&w[..n]) {
                slot.store(w.to_bits(), Ordering::Relaxed);
            }
        }
    }

    /// Threads in all, the caller included.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `task(i)` for every `i` in `0..parts`, spread over the pool, and returns when
    /// all have finished. Parts must not depend on each other.
    pub fn run(&self, parts: usize, task: &(dyn Fn(usize) + Sync)) {
        if parts == 0 {
            return;
        }
        if self.threads == 1 || parts == 1 {
            (0..parts).for_each(task);
            return;
        }
        let s = &*self.shared;
        // SAFETY: this erases the task's lifetime so workers can see it. It is sound
        // because this function does not return before `done == parts`, i.e. before every
        // part that could call the task has returned, and claims are epoch-tagged so no
        // worker can start a part of this job after that.
        let task: *const (dyn Fn(usize) + Sync) = unsafe { std::mem::transmute(task) };
        let epoch = {
            let mut job = s.job.lock().unwrap_or_else(|e| e.into_inner());
            *job = Some(Job { task, parts });
            s.done.store(0, Ordering::Relaxed);
            let epoch = s.epoch.load(Ordering::Relaxed) + 1;
            s.next.store(epoch << 32, Ordering::Relaxed);
            s.epoch.store(epoch, Ordering::Release);
            epoch
        };
        if s.sleeping.load(Ordering::Acquire) > 0 {
            let _guard = s.job.lock().unwrap_or_else(|e| e.into_inner());
            s.wake.notify_all();
        }
        run_parts(s, epoch, Job { task, parts }, 0);
        while s.done.load(Ordering::Acquire) < parts {
            std::hint::spin_loop();
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        {
            let _guard = self.shared.job.lock().unwrap_or_else(|e| e.into_inner());
            self.shared.wake.notify_all();
        }
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

/// Claims and runs parts of the job of `epoch` until none are left; `me` is the thread's
/// index (0 for the caller), recorded with each part's time.
fn run_parts(s: &Shared, epoch: u64, job: Job, me: usize) {
    loop {
        let cur = s.next.load(Ordering::Acquire);
        let (e, i) = (cur >> 32, (cur & 0xFFFF_FFFF) as usize);
        if e != epoch || i >= job.parts {
            return;
        }
        if s.next.compare_exchange_weak(cur, cur + 1, Ordering::AcqRel, Ordering::Relaxed).is_err() {
            continue;
        }
        let start = Instant::now();
        // SAFETY: part `i` of `epoch` was claimed above, so the job is not finished and
        // `Pool::run` is still waiting: the task it points to is alive.
        unsafe { (*job.task)(i) };
        if let Some(t) = s.timing.get(i) {
            t.thread.store(me, Ordering::Relaxed);
            t.ns.store(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
        }
        // Release: the caller reads the timing (and the part's output) after `done`.
        s.done.fetch_add(1, Ordering::AcqRel);
    }
}

fn worker(s: &Shared, me: usize) {
    let mut seen = 0u64;
    loop {
        let mut spins = 0;
        let epoch = loop {
            if s.stop.load(Ordering::Acquire) {
                return;
            }
            let e = s.epoch.load(Ordering::Acquire);
            if e != seen {
                break e;
            }
            spins += 1;
            if spins < SPIN_ROUNDS {
                std::hint::spin_loop();
                continue;
            }
            let guard = s.job.lock().unwrap_or_else(|e| e.into_inner());
            s.sleeping.fetch_add(1, Ordering::AcqRel);
            if s.epoch.load(Ordering::Acquire) == seen && !s.stop.load(Ordering::Acquire) {
                drop(s.wake.wait(guard).unwrap_or_else(|e| e.into_inner()));
            }
            s.sleeping.fetch_sub(1, Ordering::AcqRel);
            spins = 0;
        };
        seen = epoch;
        let job = *s.job.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(job) = job {
            run_parts(s, epoch, job, me);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{learn, Split, LEARN, LEARN_MIN_NS};

    #[test]
    fn weights_move_a_step_towards_each_measurement() {
        // 100 rows cut 50 / 50: the worker took twice as long, so it runs at half speed.
        let split = Split::weighted(100, 2, &[1.0, 1.0]);
        let mut w = [1.0, 1.0];
        assert!(learn(&mut w, &split, &[(0, 10_000), (1, 20_000)]), "a timed job");
        assert_eq!(w, [1.0, 1.0 + (0.5 - 1.0) * LEARN]);
        // Cut 2 : 1 for a worker believed twice as fast, which then took as long per row as
        // the caller: its weight moves back towards 1.
        let split = Split::weighted(90, 2, &[1.0, 2.0]);
        assert_eq!((split.range(0).len(), split.range(1).len()), (30, 60));
        let mut w = [1.0, 2.0];
        assert!(learn(&mut w, &split, &[(0, 30_000), (1, 60_000)]), "a timed job");
        assert_eq!(w, [1.0, 2.0 + (1.0 - 2.0) * LEARN]);
    }

    #[test]
    fn repeated_measurements_converge_and_stay_in_range() {
        // A worker at a third of the caller's speed: the weights settle near 1/3 and the
        // rows follow (a quarter of them for the worker).
        let mut w = std::vec![1.0f32, 1.0];
        for _ in 0..2000 {
            let split = Split::weighted(1200, 2, &w);
            let ns = |i: usize, per_row: u64| (i, split.range(i).len() as u64 * per_row);
            let timing = [ns(0, 100), ns(1, 300)];
            assert!(learn(&mut w, &split, &timing), "a timed job");
        }
        assert!((w[1] - 1.0 / 3.0).abs() < 0.01, "{w:?}");
        assert_eq!(Split::weighted(1200, 2, &w).range(1).len(), 300);
        // A worker a hundred times slower: clamped at 1/4.
        let split = Split::weighted(100, 2, &[1.0, 0.25]);
        let mut w = [1.0, 0.25];
        assert!(learn(&mut w, &split, &[(0, 10_000), (1, 1_000_000)]), "a timed job");
        assert_eq!(w, [1.0, 0.25]);
    }

    #[test]
    fn jobs_that_teach_nothing_leave_the_weights() {
        let split = Split::weighted(100, 2, &[1.0, 1.0]);
        let untouched = |split: &Split, timing: &[(usize, u64)]| {
            let mut w = [1.0, 1.0];
            !learn(&mut w, split, timing) && w == [1.0, 1.0]
        };
        // The caller ran both parts (the worker was late), or part 1 ran on thread 0.
        assert!(untouched(&split, &[(0, 10_000), (0, 10_000)]));
        // Too short to time.
        assert!(untouched(&split, &[(0, LEARN_MIN_NS - 1), (1, 10_000)]));
        // One part, or more parts than threads.
        assert!(untouched(&Split::weighted(100, 1, &[]), &[(0, 10_000)]));
        let three = Split::weighted(99, 3, &[]);
        assert!(untouched(&three, &[(0, 9_000), (1, 9_000), (2, 9_000)]));
    }
}
