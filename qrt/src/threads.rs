//! A small persistent thread pool for the optional multi-core mode (`std` only).
//!
//! [`Pool::run`] splits a layer into parts, one per thread: the caller runs part 0 and
//! worker `i` part `i`, so a thread reads mostly rows it wrote itself in the layer before
//! (a row written on another core costs a transfer between the cores' caches). Each part
//! writes its own rows of the output, so the bytes are those of a single-threaded run
//! whatever the split. Workers spin briefly between jobs (layers come back to back within
//! a run) and then sleep, so an idle model costs nothing. A part whose worker is late
//! (asleep, or its core taken by another program) is taken over by the caller, and parts
//! beyond the threads go to whichever thread is free.
//!
//! Every shared word that a job writes sits in its own cache lines, written by one thread:
//! the posted job by the caller, part `i`'s claim and completion by the thread that runs
//! it. Posting a job and joining it thus cost one transfer between cores each way.
//!
//! [`Pool::split`] sizes the parts to the threads' speeds. The pool times every part:
//! when a thread is slower than the caller (a slower core, a core shared with another
//! program, a virtual CPU the host runs less often), its parts shrink until both finish
//! together, instead of the caller waiting for it at every layer. The weights move a 64th
//! of the way to each measurement, so one noisy layer does not swing them.

use core::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, TryLockError};
use std::thread::JoinHandle;
use std::time::Instant;
use std::vec::Vec;

/// How many busy-wait rounds a worker spends looking for the next job before sleeping.
const SPIN_ROUNDS: u32 = 50_000;
/// How many rounds the caller waits for a worker to finish its part before checking
/// whether the worker has even started it (reading the claim would pull the worker's
/// line away from it, so only a late worker's is read).
const LATE_ROUNDS: u32 = 256;

/// A value in a cache-line pair of its own (Intel's adjacent-line prefetcher moves lines
/// in pairs), so that threads writing neighbouring values do not contend.
#[repr(align(128))]
#[derive(Default)]
struct Line<T>(T);

/// The job on offer, written only by the caller.
#[derive(Default)]
struct Posted {
    /// `epoch << 8 | parts`: the epoch is bumped for every job.
    job: AtomicU64,
    /// The caller's `&dyn Fn(usize)` for the job, as a thin pointer to it (see `Shared::job`).
    task: AtomicPtr<()>,
}

/// Part `i`'s completion, written by the thread that ran it.
#[derive(Default)]
struct Done {
    /// The epoch of the job in which the part last finished.
    epoch: AtomicU64,
    /// The thread that ran it.
    thread: AtomicUsize,
    /// How long it took, in nanoseconds (see [`Pool::split`]).
    ns: AtomicU64,
}

struct Shared {
    posted: Line<Posted>,
    /// Part `i`'s claim: the epoch of the job that last claimed it. Part 0 is always the
    /// caller's and is never claimed.
    claims: [Line<AtomicU64>; MAX_SPLIT],
    done: [Line<Done>; MAX_SPLIT],
    threads: usize,
    /// Workers asleep on `wake`.
    sleeping: AtomicUsize,
    /// A worker's part panicked in the current job (the caller panics in turn once every
    /// part has finished).
    panicked: AtomicBool,
    lock: Mutex<()>,
    wake: Condvar,
    stop: AtomicBool,
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
    /// Held by the thread running a job: one job at a time. A second caller, or a part
    /// calling back into its own pool, runs its parts on its own thread.
    running: Mutex<()>,
}

impl Pool {
    /// A pool using `threads` threads in all (at least 1; 1 runs everything on the caller).
    pub fn new(threads: usize) -> Pool {
        let threads = threads.max(1);
        let shared = Arc::new(Shared {
            posted: Line::default(),
            claims: Default::default(),
            done: Default::default(),
            threads,
            sleeping: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
            lock: Mutex::new(()),
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
        Pool { shared, workers, threads, weights, running: Mutex::new(()) }
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
        let parts = split.parts();
        let timing = self.run_timed(parts, task);
        let Some(timing) = timing.filter(|_| parts >= 2 && parts <= self.threads) else {
            return;
        };
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
        self.run_timed(parts, task);
    }

    /// [`Pool::run`], returning which thread ran each part and for how long (nanoseconds)
    /// when the job went through the pool in one piece.
    fn run_timed(&self, parts: usize, task: &(dyn Fn(usize) + Sync)) -> Option<[(usize, u64); MAX_SPLIT]> {
        if parts == 0 {
            return None;
        }
        // A poisoned lock only means an earlier job's part panicked (and that panic was
        // passed on to its caller): the pool itself is in order.
        let running = match self.running.try_lock() {
            Ok(guard) => Some(guard),
            Err(TryLockError::Poisoned(e)) => Some(e.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        };
        if self.threads == 1 || parts == 1 || running.is_none() {
            (0..parts).for_each(task);
            return None;
        }
        if parts > MAX_SPLIT {
            for first in (0..parts).step_by(MAX_SPLIT) {
                let n = (parts - first).min(MAX_SPLIT);
                self.shared.job(n, &|i| task(first + i));
            }
            return None;
        }
        self.shared.job(parts, task);
        let mut timing = [(0usize, 0u64); MAX_SPLIT];
        for (t, d) in timing.iter_mut().zip(&self.shared.done).take(parts) {
            *t = (d.0.thread.load(Ordering::Relaxed), d.0.ns.load(Ordering::Relaxed));
        }
        Some(timing)
    }
}

impl Shared {
    /// Posts a job of `parts` (2 to [`MAX_SPLIT`]) parts, runs part 0 and any part nobody
    /// else takes, and returns when every part has finished. Only one thread at a time
    /// (the holder of `Pool::running`) calls it.
    fn job(&self, parts: usize, task: &(dyn Fn(usize) + Sync)) {
        let epoch = (self.posted.0.job.load(Ordering::Relaxed) >> 8) + 1;
        // Workers reach the task through this pointer to the caller's reference to it. It
        // stays valid until this function returns, which is after every part has finished:
        // a thread dereferences it only after claiming a part of this epoch, and each
        // part's `done` is written after its call returns.
        let task_ref: &(dyn Fn(usize) + Sync) = task;
        let ptr = (&task_ref as *const &(dyn Fn(usize) + Sync)).cast_mut().cast::<()>();
        self.posted.0.task.store(ptr, Ordering::Relaxed);
        // Release, not SeqCst: a fence here would hold the caller until the line comes back
        // from the workers watching it (a fifth of a microsecond on some hosts), on every
        // job. Without it, the load of `sleeping` may overtake the store, and a worker just
        // falling asleep may miss this job's wake-up; its part is then taken over after
        // `LATE_ROUNDS` (see below), and the next job, seeing it asleep, wakes it.
        self.posted.0.job.store(epoch << 8 | parts as u64, Ordering::Release);
        let asleep = self.sleeping.load(Ordering::Relaxed) > 0;
        if asleep {
            let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            self.wake.notify_all();
        }
        // A panic in one of the caller's parts waits until every part has finished: the
        // workers may be using the task until then.
        let mut payload = None;
        let mut run_here = |i: usize| {
            if let Err(p) = self.run_part(epoch, task, i, 0) {
                payload.get_or_insert(p);
            }
        };
        run_here(0);
        for i in self.threads..parts {
            if self.claim(i, epoch) {
                run_here(i);
            }
        }
        for i in 1..parts {
            // A part whose worker was asleep, or has not started it after a while, is run
            // here if still unclaimed; once claimed by another thread, only its completion
            // is awaited.
            let mut rounds = 0u32;
            let mut taken = false;
            while self.done[i].0.epoch.load(Ordering::Acquire) != epoch {
                if !taken && (asleep || rounds >= LATE_ROUNDS) {
                    if self.claim(i, epoch) {
                        run_here(i);
                    }
                    taken = true;
                }
                rounds += 1;
                std::hint::spin_loop();
            }
        }
        if let Some(p) = payload {
            std::panic::resume_unwind(p);
        }
        // Read before swapping: the swap would take the line from the workers every job.
        if self.panicked.load(Ordering::Relaxed) && self.panicked.swap(false, Ordering::Relaxed) {
            panic!("qrt: a part of a job run on a worker thread panicked");
        }
    }

    /// Claims part `i` (not 0) of the job of `epoch`; false if another thread has it.
    fn claim(&self, i: usize, epoch: u64) -> bool {
        let claim = &self.claims[i].0;
        let last = claim.load(Ordering::Relaxed);
        last < epoch && claim.compare_exchange(last, epoch, Ordering::AcqRel, Ordering::Relaxed).is_ok()
    }

    /// Runs part `i` of the job of `epoch` on thread `me` and marks it finished, even if
    /// it panicked (the panic's payload is returned).
    fn run_part(&self, epoch: u64, task: &(dyn Fn(usize) + Sync), i: usize, me: usize) -> std::thread::Result<()> {
        let start = Instant::now();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| task(i)));
        if me != 0 && result.is_err() {
            self.panicked.store(true, Ordering::Relaxed);
        }
        let done = &self.done[i].0;
        done.thread.store(me, Ordering::Relaxed);
        done.ns.store(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
        // Release: the caller reads the timing (and the part's output) after this.
        done.epoch.store(epoch, Ordering::Release);
        result
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        {
            let _guard = self.shared.lock.lock().unwrap_or_else(|e| e.into_inner());
            self.shared.wake.notify_all();
        }
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

/// Worker `me`'s loop: waits for each job, runs its own part of it and then any part
/// beyond the threads that nobody has taken.
fn worker(s: &Shared, me: usize) {
    let mut seen = 0u64;
    loop {
        let mut spins = 0;
        let job = loop {
            if s.stop.load(Ordering::Acquire) {
                return;
            }
            let job = s.posted.0.job.load(Ordering::Acquire);
            if job >> 8 != seen {
                break job;
            }
            spins += 1;
            if spins < SPIN_ROUNDS {
                std::hint::spin_loop();
                continue;
            }
            let guard = s.lock.lock().unwrap_or_else(|e| e.into_inner());
            s.sleeping.fetch_add(1, Ordering::SeqCst);
            if s.posted.0.job.load(Ordering::SeqCst) >> 8 == seen && !s.stop.load(Ordering::SeqCst) {
                drop(s.wake.wait(guard).unwrap_or_else(|e| e.into_inner()));
            }
            s.sleeping.fetch_sub(1, Ordering::SeqCst);
            spins = 0;
        };
        let (epoch, parts) = (job >> 8, (job & 0xff) as usize);
        seen = epoch;
        let ptr = s.posted.0.task.load(Ordering::Relaxed);
        let mine = (me < parts).then_some(me).into_iter();
        for i in mine.chain(s.threads..parts) {
            if s.claim(i, epoch) {
                // SAFETY: `ptr` is the job's (it was stored before the job, read after
                // it); part `i` of `epoch` is claimed, so the job is not finished and
                // `Shared::job` has not returned: the reference `ptr` points to and the
                // task are alive. (Had the caller moved on to a later job, every part of
                // this one would have been claimed and the claim would have failed.)
                let task = unsafe { *ptr.cast_const().cast::<&(dyn Fn(usize) + Sync)>() };
                // A panic is passed on by the caller (`Shared::job`).
                let _ = s.run_part(epoch, task, i, me);
            }
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
