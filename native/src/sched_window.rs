//! The `window` scheduler: N workers claim fixed-size windows of a batch from
//! one shared counter.
//!
//! Per window a worker does ONE relaxed `fetch_add` and writes its results in
//! place into a pre-sized output vector; there is no per-item atomic, no task
//! queue and no stealing. That is the point of comparison with rayon.
//!
//! Design decisions, each measured on a 2-core x86-64 VM (full corpus,
//! 1000-item batches; numbers in native/README.md):
//! - The workers are scoped threads spawned once per run (`Pool::scope`), not
//!   once per batch: spawning N threads for every batch cost more than the
//!   batch itself at high thread counts (0.58x rayon at 8 threads on a quiet
//!   machine, about 0.25x at 88 threads under load).
//! - Per batch: the caller publishes the job, wakes workers, encodes as
//!   worker 0, then closes the batch and waits for the workers that entered
//!   it. Entering, leaving and closing are read-modify-writes of one state
//!   word, a handful of atomics per worker per batch and none per item.
//! - Taking part is optional: a worker that has not entered by the time the
//!   caller closes the batch (not scheduled yet, or parked) skips it. A first
//!   version in which every worker had to check in every batch lost to rayon
//!   at 88 threads when other processes competed for the cores (0.63x).
//! - Wake-ups go down a binary tree (the caller wakes 2, each worker that
//!   enters wakes 2 more while windows remain) instead of the caller waking
//!   everyone: a wake-up is a system call, and the woken thread often
//!   preempts the waker.
//! - An idle worker yields for a few rounds before parking, as rayon's idle
//!   threads do: the gap between two batches (the caller dropping results)
//!   is short, and parking right away made window lose to rayon at 8 threads
//!   (0.91x quiet, 0.75x under load): idle cores halt and must be woken for
//!   every batch.
//! - No more workers run than the process has CPUs (`available_parallelism`,
//!   which honours affinity masks and cgroup quotas): a batch wakes workers
//!   only while fewer than that many are in it, and at most that many idle
//!   workers yield at once; the rest park. With as many CPUs as threads this
//!   changes nothing. With 88 threads on 2 CPUs, 86 idle workers yielding to
//!   each other took 11% of the samples (`sched_yield` and the context
//!   switches it causes) and waking all 88 per batch preempted the workers
//!   doing the encoding; capped, throughput rose 1.34x (55.8 vs 41.6 MiB/s,
//!   medians of 7 interleaved runs; 1.03x at 2 and 8 threads) and the
//!   yield/futex/lock share under perf fell from 12.3% to 3.7%. Pools built
//!   for oversubscription do the same (libgomp throttles spinning when
//!   threads outnumber CPUs; Go spins at most one thread per idle P).

use crate::encoder::{EncodeError, Encoder, Encoding, Item};
use std::cell::UnsafeCell;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread::{self, Thread};

/// Default window size: about four windows per worker (so a slow worker
/// delays the batch by at most a quarter of its share), at most 8 items (so
/// load stays balanced on short batches), at least 1.
pub fn window_size(n: usize, threads: usize) -> usize {
    n.div_ceil(threads.max(1) * 4).clamp(1, 8)
}

/// An atomic alone on its own 128-byte line (two 64-byte lines: adjacent-line
/// prefetchers pair them), so workers hammering one never false-share with
/// another or with neighbouring data.
#[repr(align(128))]
struct Padded<T>(T);

/// A batch as the workers see it: how many items, the window size, and what to
/// do with item `i` on worker `w` (false = failed, stop claiming).
#[derive(Clone, Copy)]
struct Job {
    n: usize,
    window: usize,
    /// Lifetime-erased pointer to a closure on the caller's stack. Valid from
    /// the publication of the batch until every worker that entered it has
    /// checked out, which `Pool::run` waits for before returning.
    task: *const (dyn Fn(usize, usize) -> bool + Sync),
}

/// The batch state word: `generation << 32 | CLOSED? | entered workers`.
/// Entering (compare-exchange), checking out (fetch_sub) and closing
/// (fetch_or) are read-modify-writes of this one word, so they are totally
/// ordered: a worker either enters before the caller closes the batch (and
/// the caller then waits for it), or sees it closed and stays out.
const CLOSED: u64 = 1 << 31;
const COUNT_MASK: u64 = CLOSED - 1;

#[inline]
fn generation(state: u64) -> u64 {
    state >> 32
}

/// State shared by the caller and the workers of one pool.
struct Shared {
    /// The window counter of the current batch.
    next: Padded<AtomicUsize>,
    /// See `CLOSED`.
    state: Padded<AtomicU64>,
    /// Set when a task failed: workers stop claiming windows.
    stop: AtomicBool,
    shutdown: AtomicBool,
    /// Set by a worker that panicked, so the caller does not wait forever.
    poisoned: AtomicBool,
    /// Written by the caller only while no worker can read it (see `run`).
    job: UnsafeCell<Job>,
    /// The caller's thread, unparked by the last worker to check out.
    caller: Thread,
    /// Worker `k`'s thread at index `k - 1`; set once, before the first batch.
    workers: OnceLock<Vec<Thread>>,
    /// The CPUs this process may run on: the most threads worth running a
    /// batch on, and the most idle workers allowed to yield at once.
    cpus: usize,
    /// Idle workers yielding (not parked) right now.
    spinning: Padded<AtomicUsize>,
}

// SAFETY: `job` is the only non-Sync field. The caller writes it only between
// batches: after closing the previous batch and seeing no worker left in it
// (entered count 0, read with Acquire), and before publishing the next batch
// (Release store of the state word). A worker reads it only after entering a
// batch (compare-exchange with Acquire on an open state word of that
// generation) and before checking out. A closed batch cannot be entered, so
// reads and writes never overlap. The raw closure pointer inside is only
// called within that span.
unsafe impl Sync for Shared {}

/// Idle rounds (each a `yield_now`) before a worker parks.
const SPIN_ROUNDS: u32 = 64;

impl Shared {
    /// Wake-up tree: the caller (worker 0) wakes workers 1 and 2, worker `k`
    /// wakes `2k + 1` and `2k + 2`. Waking costs a system call, and on an
    /// oversubscribed machine the woken thread often preempts the waker;
    /// spreading the wake-ups keeps the caller working and wakes N workers
    /// in log2(N) steps. A worker that has not been scheduled by the time the
    /// batch is done does not take part (nor wake its subtree). Nobody is
    /// woken once the caller and the workers in the batch fill every CPU.
    #[inline]
    fn wake_children(&self, parent: usize) {
        if let Some(workers) = self.workers.get() {
            // The caller plus the workers that have entered.
            let running = 1 + (self.state.0.load(Ordering::Relaxed) & COUNT_MASK) as usize;
            for (k, child) in [2 * parent + 1, 2 * parent + 2].into_iter().enumerate() {
                if running + k >= self.cpus {
                    return;
                }
                if let Some(t) = workers.get(child - 1) {
                    t.unpark();
                }
            }
        }
    }

    /// Takes one of the `cpus` yielding slots; false if all are taken.
    fn start_spinning(&self) -> bool {
        if self.spinning.0.fetch_add(1, Ordering::Relaxed) < self.cpus {
            return true;
        }
        self.spinning.0.fetch_sub(1, Ordering::Relaxed);
        false
    }

    fn stop_spinning(&self) {
        self.spinning.0.fetch_sub(1, Ordering::Relaxed);
    }

    /// Claims and runs windows of `job` until none is left or a task fails.
    fn drain(&self, job: &Job, worker: usize) {
        // Relaxed is enough here: the counter only has to hand out distinct
        // windows, `stop` is a hint, and results reach the caller through the
        // check-out (Release) / close-and-wait (Acquire) on the state word.
        while !self.stop.load(Ordering::Relaxed) {
            let start = self.next.0.fetch_add(job.window, Ordering::Relaxed);
            if start >= job.n {
                break;
            }
            for i in start..(start + job.window).min(job.n) {
                // SAFETY: the job is live until this worker checks out.
                let ok = unsafe { (*job.task)(worker, i) };
                if !ok {
                    self.stop.store(true, Ordering::Relaxed);
                    return;
                }
            }
        }
    }

    fn worker_loop(&self, worker: usize) {
        // Last generation this worker has dealt with (entered or found closed).
        let mut seen = 0;
        // Yield rounds left before parking while idle (holding a yielding
        // slot while > 0); None right after a batch, before deciding.
        let mut rounds: Option<u32> = None;
        loop {
            let state = self.state.0.load(Ordering::Acquire);
            if generation(state) != seen {
                if state & CLOSED != 0 {
                    seen = generation(state); // missed it: nothing to do
                    continue;
                }
                if self.state.0.compare_exchange_weak(state, state + 1, Ordering::Acquire, Ordering::Relaxed).is_err() {
                    continue; // someone else entered, or the caller closed it
                }
                seen = generation(state);
                if rounds.take().is_some_and(|r| r > 0) {
                    self.stop_spinning();
                }
                // Checks out on every path, unwinding included.
                let _out = CheckOut(self);
                // SAFETY: we entered this batch, so the job is published and
                // will not be rewritten until we check out (see `Sync`).
                let job = unsafe { *self.job.get() };
                if self.next.0.load(Ordering::Relaxed) < job.n {
                    self.wake_children(worker);
                }
                self.drain(&job, worker);
                continue;
            }
            if self.shutdown.load(Ordering::Acquire) {
                if rounds.is_some_and(|r| r > 0) {
                    self.stop_spinning();
                }
                return;
            }
            // Idle: yield a while if a yielding slot is free (the next batch
            // usually comes soon), then park until the caller or a parent
            // worker wakes us.
            match rounds {
                None => rounds = Some(if self.start_spinning() { SPIN_ROUNDS } else { 0 }),
                Some(0) => thread::park(),
                Some(r) => {
                    thread::yield_now();
                    rounds = Some(r - 1);
                    if r == 1 {
                        self.stop_spinning();
                    }
                }
            }
        }
    }
}

/// A worker's check-out from the batch it entered, done on drop so that a
/// panicking task still releases the caller (which then reports the panic).
struct CheckOut<'a>(&'a Shared);

impl Drop for CheckOut<'_> {
    fn drop(&mut self) {
        if thread::panicking() {
            self.0.poisoned.store(true, Ordering::Relaxed);
            self.0.stop.store(true, Ordering::Relaxed);
        }
        let before = self.0.state.0.fetch_sub(1, Ordering::AcqRel);
        // The last one out of a closed batch wakes the waiting caller. (If
        // the batch is still open, the caller will find the count at 0 when
        // it closes and will not wait.)
        if before & CLOSED != 0 && before & COUNT_MASK == 1 {
            self.0.caller.unpark();
        }
    }
}

/// Output base pointer shared by the workers.
struct OutPtr<T>(*mut T);

// SAFETY: workers write disjoint elements through it (see `Pool::run`); the
// values written are `Send`.
unsafe impl<T: Send> Sync for OutPtr<T> {}

impl<T> OutPtr<T> {
    /// Overwrites element `i`, dropping the placeholder that was there.
    ///
    /// # Safety
    /// `i` is in bounds of the vector `self.0` points into, and no other
    /// thread accesses element `i` meanwhile.
    #[inline]
    unsafe fn write(&self, i: usize, v: T) {
        *self.0.add(i) = v;
    }
}

/// The caller's handle on a running pool: worker 0 is the caller itself,
/// workers `1..threads` are scoped threads parked between batches.
pub struct Pool<'p> {
    shared: &'p Shared,
    /// Spawned workers (the caller is worker 0 on top of these).
    workers: usize,
    /// Not Send: `run` must be called on the thread that created the pool,
    /// the one the last worker unparks.
    _caller_only: PhantomData<*const ()>,
}

impl Pool<'_> {
    /// Starts `threads - 1` workers, runs `f` with the pool, stops them.
    /// If the OS refuses a thread, the pool simply has fewer workers.
    pub fn scope<R>(threads: usize, f: impl FnOnce(&mut Pool<'_>) -> R) -> R {
        let threads = threads.max(1);
        let noop: &(dyn Fn(usize, usize) -> bool + Sync) = &|_, _| true;
        let shared = Shared {
            next: Padded(AtomicUsize::new(0)),
            // Generation 0, closed: nothing to enter before the first batch.
            state: Padded(AtomicU64::new(CLOSED)),
            stop: AtomicBool::new(false),
            shutdown: AtomicBool::new(false),
            poisoned: AtomicBool::new(false),
            // SAFETY (lifetime erasure): a placeholder, never called.
            job: UnsafeCell::new(Job { n: 0, window: 1, task: unsafe { erase(noop) } }),
            caller: thread::current(),
            workers: OnceLock::new(),
            cpus: thread::available_parallelism().map_or(threads, |n| n.get()),
            spinning: Padded(AtomicUsize::new(0)),
        };
        thread::scope(|s| {
            let mut workers = Vec::with_capacity(threads - 1);
            for worker in 1..threads {
                let shared = &shared;
                match thread::Builder::new().spawn_scoped(s, move || shared.worker_loop(worker)) {
                    Ok(h) => workers.push(h.thread().clone()),
                    Err(_) => break,
                }
            }
            let _ = shared.workers.set(workers);
            // Stops the workers on every exit path, or the scope would wait
            // for them forever.
            struct Stop<'a>(&'a Shared);
            impl Drop for Stop<'_> {
                fn drop(&mut self) {
                    self.0.shutdown.store(true, Ordering::Release);
                    for t in self.0.workers.get().into_iter().flatten() {
                        t.unpark();
                    }
                }
            }
            let _stop = Stop(&shared);
            let workers = shared.workers.get().map_or(0, Vec::len);
            let mut pool = Pool { shared: &shared, workers, _caller_only: PhantomData };
            f(&mut pool)
        })
    }

    /// Number of workers, the caller included.
    pub fn threads(&self) -> usize {
        self.workers + 1
    }

    /// Runs `f(worker, index)` for every index in `0..n` and returns the
    /// results in index order, or the first error. Worker indices are
    /// `< self.threads()`, and during this call each index is used by at most
    /// one thread, one item at a time: the basis of "worker `i` uses slot `i`".
    /// After an error, workers finish the window in hand and claim no more.
    pub fn run<T, E, F>(&mut self, n: usize, window: usize, f: F) -> Result<Vec<T>, E>
    where
        T: Default + Send,
        E: Send,
        F: Fn(usize, usize) -> Result<T, E> + Sync,
    {
        let window = window.max(1);
        if self.workers == 0 || n <= window {
            // One worker (or one window): a plain loop on the caller, no
            // atomics, no wake-up.
            return (0..n).map(|i| f(0, i)).collect();
        }
        // Pre-filled with empty values (no allocation for `Encoding`), so
        // every element is always initialized and no MaybeUninit is needed.
        let mut out: Vec<T> = (0..n).map(|_| T::default()).collect();
        let base = OutPtr(out.as_mut_ptr());
        let first_error: Mutex<Option<E>> = Mutex::new(None);
        let task = |worker: usize, i: usize| match f(worker, i) {
            // SAFETY: `i < n = out.len()`, and `i` lies in a window that one
            // fetch_add handed to this worker alone, so no other thread
            // touches element `i`; `out` is not otherwise accessed until every
            // worker has checked out.
            Ok(v) => {
                unsafe { base.write(i, v) };
                true
            }
            Err(e) => {
                let mut slot = first_error.lock().unwrap_or_else(|p| p.into_inner());
                if slot.is_none() {
                    *slot = Some(e);
                }
                false
            }
        };
        let task: &(dyn Fn(usize, usize) -> bool + Sync) = &task;
        let sh = self.shared;
        let job = Job { n, window, task: unsafe { erase(task) } };
        // SAFETY: `&mut self` means no batch is in flight; the previous `run`
        // returned only after closing its batch and seeing every worker that
        // entered it check out, so no worker reads `job` now. `task` outlives
        // its use: this function does not return (or unwind past `_wait`)
        // before all workers that entered have checked out.
        unsafe { *sh.job.get() = job };
        sh.next.0.store(0, Ordering::Relaxed);
        sh.stop.store(false, Ordering::Relaxed);
        // Publishes the job, counter and flag (Release) to workers that enter
        // (Acquire): new generation, open, nobody in.
        let gen = generation(sh.state.0.load(Ordering::Relaxed)) + 1;
        sh.state.0.store(gen << 32, Ordering::Release);
        sh.wake_children(0);
        {
            // Closes the batch and waits for the workers in it, on every exit
            // path (the caller's own task may panic).
            struct Wait<'a>(&'a Shared);
            impl Drop for Wait<'_> {
                fn drop(&mut self) {
                    let state = &self.0.state.0;
                    if state.fetch_or(CLOSED, Ordering::AcqRel) & COUNT_MASK == 0 {
                        return;
                    }
                    let mut idle = 0;
                    while state.load(Ordering::Acquire) & COUNT_MASK != 0 {
                        if idle < SPIN_ROUNDS {
                            idle += 1;
                            thread::yield_now();
                        } else {
                            thread::park();
                        }
                    }
                }
            }
            let _wait = Wait(sh);
            sh.drain(&job, 0);
        }
        if sh.poisoned.load(Ordering::Relaxed) {
            panic!("a window worker panicked");
        }
        match first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }
}

/// Erases a task's lifetime so the shared job can hold it.
///
/// # Safety
/// The caller must not let the pointer be used after `task` is gone.
unsafe fn erase<'a>(
    task: &'a (dyn Fn(usize, usize) -> bool + Sync + 'a),
) -> *const (dyn Fn(usize, usize) -> bool + Sync) {
    std::mem::transmute::<&'a (dyn Fn(usize, usize) -> bool + Sync + 'a), &'static (dyn Fn(usize, usize) -> bool + Sync)>(
        task,
    )
}

/// Encodes one batch on the pool.
///
/// `&mut Encoder` guarantees no other batch uses this encoder's slots
/// meanwhile; within the batch, worker `i` is one thread (see `Pool::run`),
/// so slot `i` has one user at a time.
pub fn encode_batch(
    pool: &mut Pool<'_>,
    enc: &mut Encoder,
    items: &[Item<'_>],
    window: Option<usize>,
) -> Result<Vec<Encoding>, EncodeError> {
    let w = window.unwrap_or_else(|| window_size(items.len(), pool.threads()));
    let enc = &*enc;
    pool.run(items.len(), w, |worker, i| {
        // SAFETY: during this batch only this thread is worker `worker`, it
        // encodes one item at a time, and the reference ends with this call.
        let slot = (worker < enc.slots.len()).then(|| unsafe { enc.slots.get(worker) });
        enc.encode(slot, &items[i])
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoder::tests::{items_of, lines_with_bad_utf8, sample_lines, sequential, tiny_encoder};
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
}
