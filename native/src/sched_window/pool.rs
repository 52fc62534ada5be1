//! The caller's side of the window scheduler: `Pool::scope` starts the workers,
//! `Pool::run` publishes one batch, takes part as worker 0 and collects the results.

use super::{generation, Job, Padded, Shared, CLOSED, COUNT_MASK, SPIN_ROUNDS};
use std::cell::UnsafeCell;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread;

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
    /// `pub(super)`: the tests read the stop flag through it.
    pub(super) shared: &'p Shared,
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
                // Named for profiles, which group threads by name ("win-worker-*"):
                // short enough for Linux's 15-byte thread names up to worker 9999.
                let named = thread::Builder::new().name(format!("win-worker-{worker}"));
                match named.spawn_scoped(s, move || shared.worker_loop(worker)) {
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
