//! The thread pool runs every part exactly once per job, across many back-to-back jobs,
//! with the caller taking part; dropping it stops the workers.

use qrt::threads::{range, Pool};
use std::sync::atomic::{AtomicUsize, Ordering};

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
fn ranges_cover_everything_once() {
    for len in [0, 1, 7, 100, 12544] {
        for parts in 1..9 {
            let mut next = 0;
            for i in 0..parts {
                let r = range(len, parts, i);
                assert_eq!(r.start, next);
                next = r.end;
            }
            assert_eq!(next, len);
        }
    }
}
