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

mod pool;
#[cfg(test)]
mod tests;

pub use pool::Pool;

use crate::encoder::{EncodeError, Encoder, Encoding, Item};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;
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
