//! The thread pool runs every part exactly once per job, across many back-to-back jobs,
//! with the caller taking part; dropping it stops the workers.

use qrt::threads::{Pool, Split, MAX_SPLIT};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[test]
fn every_part_runs_once_per_job() {
    for threads in [1, 2, 3, 4] {
        let pool = Pool::new(threads);
        assert_eq!(pool.threads(), threads);
        for job in 0..2000 {
            let parts = 1 + job % 13;
            let hits: Vec<AtomicUsize> = (0..parts).map(|_| AtomicUsize::new(0)).collect();
            pool.run(parts, &|i| {
                hits[i].fetch_add(1, Ordering::Relaxed);
            });
            assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1), "threads {threads} job {job}");
        }
    }
}

#[test]
fn jobs_after_idle_periods_wake_sleeping_workers() {
    let pool = Pool::new(2);
    for _ in 0..3 {
        std::thread::sleep(std::time::Duration::from_millis(30));
        let sum = AtomicUsize::new(0);
        pool.run(8, &|i| {
            sum.fetch_add(i, Ordering::Relaxed);
        });
        assert_eq!(sum.load(Ordering::Relaxed), 28);
    }
}

#[test]
fn splits_cover_everything_once_in_non_empty_parts() {
    let weightings: [&[f32]; 5] = [&[], &[1.0, 1.0, 1.0], &[1.0, 0.25], &[1.0, 4.0, 0.25, 2.0], &[1.0; MAX_SPLIT]];
    for len in [0, 1, 2, 3, 7, 100, 12544] {
        for parts in 1..=MAX_SPLIT + 2 {
            for weights in weightings {
                let split = Split::weighted(len, parts, weights);
                let expected = parts.min(MAX_SPLIT).min(len.max(1));
                assert_eq!(split.parts(), expected, "len {len} parts {parts} {weights:?}");
                let mut next = 0;
                for i in 0..split.parts() {
                    let r = split.range(i);
                    assert_eq!(r.start, next, "len {len} parts {parts} {weights:?}");
                    assert!(len == 0 || !r.is_empty(), "empty part {i}: len {len} parts {parts} {weights:?}");
                    next = r.end;
                }
                assert_eq!(next, len, "len {len} parts {parts} {weights:?}");
            }
        }
    }
}

#[test]
fn splits_follow_the_weights() {
    // Equal weights (or none): the parts differ by at most one item.
    for weights in [&[][..], &[1.0, 1.0, 1.0]] {
        let split = Split::weighted(100, 3, weights);
        let lens: Vec<usize> = (0..3).map(|i| split.range(i).len()).collect();
        assert!(lens.iter().max().unwrap() - lens.iter().min().unwrap() <= 1, "{lens:?}");
    }
    // A worker weighted 1/4 of the caller gets a fifth of the rows; one weighted 3, three
    // quarters; 1 : 2 : 1 cuts 112 rows 28 / 56 / 28.
    assert_eq!(Split::weighted(100, 2, &[1.0, 0.25]).range(1), 80..100);
    assert_eq!(Split::weighted(100, 2, &[1.0, 3.0]).range(0), 0..25);
    let split = Split::weighted(112, 3, &[1.0, 2.0, 1.0]);
    assert_eq!((split.range(0), split.range(1), split.range(2)), (0..28, 28..84, 84..112));
    // Too few weights for the parts: equal parts.
    assert_eq!(Split::weighted(10, 2, &[1.0]).range(0), 0..5);
}

#[test]
fn pool_splits_by_its_weights() {
    let pool = Pool::new(2);
    assert_eq!(pool.weights(), [1.0, 1.0]);
    assert_eq!(pool.split(56, 2).range(0), 0..28);
    pool.set_weights(&[7.0, 0.5]);
    // The caller's weight stays 1; the worker's is kept.
    assert_eq!(pool.weights(), [1.0, 0.5]);
    assert_eq!(pool.split(60, 2).range(0), 0..40);
    // Out of range weights are clamped to 1/4 ..= 4; one that is not a number is ignored.
    pool.set_weights(&[1.0, 100.0]);
    assert_eq!(pool.weights(), [1.0, 4.0]);
    pool.set_weights(&[1.0, f32::NAN]);
    assert_eq!(pool.weights(), [1.0, 4.0]);
    pool.set_weights(&[1.0, f32::NEG_INFINITY]);
    assert_eq!(pool.weights(), [1.0, 0.25]);
    // More parts than threads: equal parts.
    assert_eq!(pool.split(30, 3).range(0), 0..10);
}

/// Busy for `d` (a part that takes a known time).
fn spin_for(d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

#[test]
fn weights_learn_only_from_parts_their_own_thread_ran() {
    let pool = Pool::new(2);
    let caller = std::thread::current().id();
    for round in 0..8 {
        // Idle long enough for the worker to fall asleep: waking it takes a while, and the
        // caller often runs both parts meanwhile.
        std::thread::sleep(Duration::from_millis(20));
        pool.set_weights(&[1.0, 1.0]);
        let split = pool.split(100, 2);
        let on_caller = [AtomicBool::new(false), AtomicBool::new(false)];
        // Part 1 takes three times as long as part 0 for as many rows.
        pool.run_split(&split, &|i| {
            on_caller[i].store(std::thread::current().id() == caller, Ordering::Relaxed);
            spin_for(Duration::from_micros(if i == 0 { 6 } else { 18 }));
        });
        let (first, second) = (on_caller[0].load(Ordering::Relaxed), on_caller[1].load(Ordering::Relaxed));
        let worker = pool.weights()[1];
        if first && !second {
            // Each thread ran its own part: the job was learnt from (the worker looks three
            // times slower, unless the caller was held up; the direction is unit-tested).
            assert_ne!(worker, 1.0, "round {round}");
        } else {
            // The caller ran both (or the worker took part 0): nothing to learn.
            assert_eq!(worker, 1.0, "round {round}: caller ran part 0 {first}, part 1 {second}");
        }
    }
}

#[test]
fn a_worker_running_its_own_part_moves_its_weight() {
    let pool = Pool::new(2);
    let caller = std::thread::current().id();
    let mut learnt = false;
    for _ in 0..20 {
        pool.set_weights(&[1.0, 1.0]);
        let split = pool.split(100, 2);
        let started = AtomicBool::new(false);
        let on_caller = [AtomicBool::new(false), AtomicBool::new(false)];
        pool.run_split(&split, &|i| {
            on_caller[i].store(std::thread::current().id() == caller, Ordering::Relaxed);
            if i == 1 {
                started.store(true, Ordering::Release);
                spin_for(Duration::from_micros(30));
            } else {
                // Part 1 must start elsewhere while this one runs (a second at most, if the
                // worker sleeps through it); then this part is three times shorter.
                let since = Instant::now();
                while !started.load(Ordering::Acquire) && since.elapsed() < Duration::from_secs(1) {
                    std::hint::spin_loop();
                }
                spin_for(Duration::from_micros(10));
            }
        });
        if on_caller[0].load(Ordering::Relaxed) && !on_caller[1].load(Ordering::Relaxed) {
            assert_ne!(pool.weights()[1], 1.0, "a job with each part on its own thread teaches");
            learnt = true;
            break;
        }
    }
    assert!(learnt, "in 20 jobs the caller never ran part 0 while the worker ran part 1");
}

#[test]
fn the_caller_runs_part_zero_and_each_awake_worker_its_own_part() {
    let pool = Pool::new(3);
    let caller = std::thread::current().id();
    let mut own = 0;
    for job in 0..500 {
        let ran: Vec<std::sync::Mutex<Option<std::thread::ThreadId>>> = (0..3).map(|_| Default::default()).collect();
        let started = AtomicUsize::new(0);
        pool.run(3, &|i| {
            *ran[i].lock().unwrap() = Some(std::thread::current().id());
            // Each part waits (a second at most) until all three have started: a part can
            // only be run by a thread that is not busy with another.
            started.fetch_add(1, Ordering::AcqRel);
            let since = Instant::now();
            while started.load(Ordering::Acquire) < 3 && since.elapsed() < Duration::from_secs(1) {
                std::hint::spin_loop();
            }
        });
        let ids: Vec<_> = ran.iter().map(|r| r.lock().unwrap().expect("every part ran")).collect();
        assert_eq!(ids[0], caller, "job {job}: part 0 ran off the caller");
        // Workers are asleep at first, and a late worker's part is taken over by the
        // caller; otherwise parts 1 and 2 ran on two different workers.
        if ids[1] != caller && ids[2] != caller {
            assert_ne!(ids[1], ids[2], "job {job}");
            own += 1;
        }
    }
    assert!(own > 0, "the workers never ran their own parts");
}

#[test]
fn a_panicking_part_reaches_the_caller_and_the_pool_goes_on() {
    let pool = Pool::new(2);
    for bad in [0, 1] {
        let finished = AtomicUsize::new(0);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.run(2, &|i| {
                if i == bad {
                    panic!("part {i} fails");
                }
                spin_for(Duration::from_micros(50));
                finished.fetch_add(1, Ordering::Relaxed);
            })
        }));
        assert!(result.is_err(), "the panic of part {bad} was lost");
        // The other part had finished when the caller unwound.
        assert_eq!(finished.load(Ordering::Relaxed), 1, "part {bad}");
    }
    let sum = AtomicUsize::new(0);
    pool.run(4, &|i| {
        sum.fetch_add(i, Ordering::Relaxed);
    });
    assert_eq!(sum.load(Ordering::Relaxed), 6);
}

#[test]
fn concurrent_and_nested_jobs_each_run_every_part_once() {
    let pool = Pool::new(2);
    std::thread::scope(|scope| {
        for t in 0..3 {
            let pool = &pool;
            scope.spawn(move || {
                for job in 0..300 {
                    let hits: Vec<AtomicUsize> = (0..4).map(|_| AtomicUsize::new(0)).collect();
                    pool.run(2, &|i| {
                        // Each part runs a job of its own on the same pool.
                        pool.run(2, &|j| {
                            hits[2 * i + j].fetch_add(1, Ordering::Relaxed);
                        });
                    });
                    assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1), "thread {t} job {job}");
                }
            });
        }
    });
}
