//! A small persistent thread pool for the optional multi-core mode (`std` only).
//!
//! [`Pool::run`] splits a layer into parts that the caller and the workers claim one at a
//! time; each part writes its own rows of the output, so the bytes are those of a
//! single-threaded run whatever the split. Workers spin briefly between jobs (layers come
//! back to back within a run) and then sleep, so an idle model costs nothing.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
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
    wake: Condvar,
    stop: AtomicBool,
}

// SAFETY: the raw task pointer inside `job` is only dereferenced while `Pool::run`, which
// owns the referent, is blocked waiting for every part to finish (see `run_parts`).
unsafe impl Send for Shared {}
// SAFETY: as above; all other fields are atomics or synchronised by the mutex.
unsafe impl Sync for Shared {}

/// A pool of `threads - 1` workers; the thread calling [`Pool::run`] is the last one.
pub struct Pool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    threads: usize,
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
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let workers = (1..threads)
            .map(|i| {
                let s = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name(std::format!("qrt-{i}"))
                    .spawn(move || worker(&s))
                    .expect("qrt: cannot start a worker thread")
            })
            .collect();
        Pool { shared, workers, threads }
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
        run_parts(s, epoch, Job { task, parts });
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

/// Claims and runs parts of the job of `epoch` until none are left.
fn run_parts(s: &Shared, epoch: u64, job: Job) {
    loop {
        let cur = s.next.load(Ordering::Acquire);
        let (e, i) = (cur >> 32, (cur & 0xFFFF_FFFF) as usize);
        if e != epoch || i >= job.parts {
            return;
        }
        if s.next.compare_exchange_weak(cur, cur + 1, Ordering::AcqRel, Ordering::Relaxed).is_err() {
            continue;
        }
        // SAFETY: part `i` of `epoch` was claimed above, so the job is not finished and
        // `Pool::run` is still waiting: the task it points to is alive.
        unsafe { (*job.task)(i) };
        s.done.fetch_add(1, Ordering::AcqRel);
    }
}

fn worker(s: &Shared) {
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
            run_parts(s, epoch, job);
        }
    }
}

/// Splits `0..len` into `parts` nearly equal ranges; range `i`.
pub fn range(len: usize, parts: usize, i: usize) -> core::ops::Range<usize> {
    let parts = parts.max(1);
    (len * i / parts)..(len * (i + 1) / parts)
}
