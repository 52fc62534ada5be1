//! Unit tests of the window scheduler: ordering, worker identity, the CPU cap,
//! errors, panics and batch encoding.

use super::*;
use crate::encoder::tests::{items_of, lines_with_bad_utf8, sample_lines, sequential, tiny_encoder};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[test]
fn window_sizing() {
    assert_eq!(window_size(1000, 1), 8);
    assert_eq!(window_size(1000, 88), 3); // ceil(1000 / 352)
    assert_eq!(window_size(1000, 32), 8); // ceil(1000 / 128) = 8
    assert_eq!(window_size(1000, 40), 7); // ceil(1000 / 160)
    assert_eq!(window_size(10, 4), 1);
    assert_eq!(window_size(0, 4), 1);
    assert_eq!(window_size(1, 1), 1);
    assert_eq!(window_size(1_000_000, 2), 8);
}

#[test]
fn ordered_output_for_every_thread_count() {
    for threads in 1..=16 {
        Pool::scope(threads, |pool| {
            assert_eq!(pool.threads(), threads);
            for n in [0, 1, 2, 3, threads - 1, threads, threads + 1, 7, 100, 1000] {
                for w in [None, Some(1), Some(3), Some(64)] {
                    let w = w.unwrap_or_else(|| window_size(n, threads));
                    let got = pool
                        .run(n, w, |worker, i| {
                            assert!(worker < threads);
                            Ok::<_, ()>(i * 10 + 1)
                        })
                        .unwrap();
                    let want: Vec<usize> = (0..n).map(|i| i * 10 + 1).collect();
                    assert_eq!(got, want, "threads {threads} n {n} window {w}");
                }
            }
        });
    }
}

#[test]
fn each_worker_index_is_one_thread() {
    // Within a pool, each worker index always runs on the same OS thread.
    let seen: Vec<Mutex<Option<thread::ThreadId>>> = (0..8).map(|_| Mutex::new(None)).collect();
    Pool::scope(8, |pool| {
        for _ in 0..20 {
            pool.run(5000, 2, |worker, _| {
                let mut s = seen[worker].lock().unwrap();
                let me = thread::current().id();
                assert!(s.is_none() || *s == Some(me));
                *s = Some(me);
                Ok::<_, ()>(0u8)
            })
            .unwrap();
        }
    });
}

#[test]
fn oversubscribed_pool_runs_about_one_worker_per_cpu() {
    // Slow items, so every worker that is woken has time to enter the
    // batch: without the cap all `threads` would take part.
    let cpus = thread::available_parallelism().map_or(1, |n| n.get());
    let threads = 4 * cpus + 8;
    let per_batch: Vec<usize> = Pool::scope(threads, |pool| {
        (0..4)
            .map(|_| {
                let took_part: Vec<AtomicBool> = (0..threads).map(|_| AtomicBool::new(false)).collect();
                pool.run(threads * 4, 1, |worker, _| {
                    took_part[worker].store(true, Ordering::Relaxed);
                    thread::sleep(Duration::from_millis(2));
                    Ok::<_, ()>(0u8)
                })
                .unwrap();
                took_part.iter().filter(|b| b.load(Ordering::Relaxed)).count()
            })
            .collect()
    });
    // Workers still starting when the first batch opens find it open and
    // join it. After that, up to `cpus` yielding workers may enter on
    // their own, and wake-ups stop once the batch holds `cpus` threads.
    let most = per_batch[1..].iter().max().unwrap();
    assert!(*most <= 2 * cpus + 1, "{per_batch:?} of {threads} workers per batch on {cpus} CPUs");
}

#[test]
fn one_thread_runs_on_the_caller() {
    let me = thread::current().id();
    Pool::scope(1, |pool| {
        let got = pool
            .run(50, 4, |worker, i| {
                assert_eq!(worker, 0);
                assert_eq!(thread::current().id(), me);
                Ok::<_, ()>(i)
            })
            .unwrap();
        assert_eq!(got, (0..50).collect::<Vec<_>>());
    });
}

#[test]
fn error_in_the_middle_stops_the_workers() {
    let n = 100_000;
    let bad = 500;
    for threads in [2, 4, 8] {
        Pool::scope(threads, |pool| {
            // The pool's own stop flag (a copy of the reference, so the
            // closure does not borrow `pool`).
            let shared: &Shared = pool.shared;
            for _ in 0..3 {
                let calls = AtomicUsize::new(0);
                let r = pool.run(n, 8, |_, i| {
                    calls.fetch_add(1, Ordering::Relaxed);
                    if i == bad {
                        return Err(format!("bad item {i}"));
                    }
                    if i > bad {
                        // Items after the bad one wait until its failure
                        // has raised the stop flag, so the bound below
                        // holds however the OS schedules the threads.
                        let t0 = Instant::now();
                        while !shared.stop.load(Ordering::Relaxed) && t0.elapsed() < Duration::from_secs(10) {
                            thread::yield_now();
                        }
                    }
                    Ok(i)
                });
                assert_eq!(r.unwrap_err(), "bad item 500");
                // Windows up to the bad one, plus at most one window in
                // flight per other worker and one more claim each that
                // raced with the flag.
                let done = calls.load(Ordering::Relaxed);
                assert!(done <= bad + 8 + 2 * threads * 8, "threads {threads}: {done} calls");
                // The pool is still usable after an error.
                assert_eq!(pool.run(100, 3, |_, i| Ok::<_, ()>(i)).unwrap().len(), 100);
            }
        });
    }
}

#[test]
fn encode_batch_matches_sequential() {
    let lines = sample_lines();
    let items = items_of(&lines);
    let want = sequential(&items);
    for threads in 1..=16 {
        let mut enc = tiny_encoder(threads);
        Pool::scope(threads, |pool| {
            for _ in 0..2 {
                assert_eq!(encode_batch(pool, &mut enc, &items, None).unwrap(), want);
            }
            // Fewer items than threads.
            assert_eq!(encode_batch(pool, &mut enc, &items[..3], None).unwrap(), want[..3]);
            assert_eq!(encode_batch(pool, &mut enc, &items[..3], Some(1)).unwrap(), want[..3]);
        });
        assert!(enc.slots.cached_words().iter().sum::<usize>() > 0);
    }
}

#[test]
fn encode_batch_reports_invalid_utf8() {
    let lines = lines_with_bad_utf8();
    let items = items_of(&lines);
    for threads in [1, 2, 5] {
        let mut enc = tiny_encoder(threads);
        let err = Pool::scope(threads, |pool| encode_batch(pool, &mut enc, &items, Some(4))).unwrap_err();
        assert_eq!(err, EncodeError { line: 121, byte: 3 });
    }
}

#[test]
fn a_panicking_task_is_reported_not_hung() {
    let r = std::panic::catch_unwind(|| {
        Pool::scope(4, |pool| {
            let _ = pool.run(1000, 1, |_, i| if i == 700 { panic!("boom") } else { Ok::<_, ()>(i) });
        })
    });
    assert!(r.is_err());
}
