//! Thread pools and cancellation.
//!
//! Every parallel entry point takes `n_threads` (0 = all cores) and runs its rayon work inside
//! a pool of exactly that size, so results never depend on a global pool. Work is split so
//! that each output element is computed by exactly one task, in a fixed order: results are
//! bitwise identical for any number of threads. Pools are built once per size and reused
//! ([`lease`]: one pool per size and concurrent call); `n_threads` above [`max_threads`] is
//! refused.
//!
//! Cancellation: long loops call [`check_cancelled`] between chunks of work (a relaxed atomic
//! load); after [`request_cancel`] it returns [`Error::Interrupted`], so every running
//! computation unwinds through its ordinary error path within one chunk. The Python binding
//! requests it when the user presses Ctrl-C (it then raises `KeyboardInterrupt`). The request
//! stays set while any guarded computation ([`CancelScope`]) is running, and is cleared when
//! the last one ends.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use rayon::ThreadPool;

use crate::error::{Error, Result};

/// At most this many threads per available core (results do not depend on the count, so more
/// threads than cores only costs memory and scheduling).
pub const THREADS_PER_CORE: usize = 4;

/// The limit is never below this, so that small machines can still test large thread counts.
pub const MIN_THREAD_LIMIT: usize = 64;

/// Logical cores available to this process (1 if unknown).
pub fn available_cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// The largest accepted `n_threads`: `max(THREADS_PER_CORE × cores, MIN_THREAD_LIMIT)`.
pub fn max_threads() -> usize {
    (THREADS_PER_CORE * available_cores()).max(MIN_THREAD_LIMIT)
}

/// The number of threads `n_threads` stands for: 0 → all cores; above [`max_threads`] →
/// [`Error::InvalidParameter`].
pub fn resolve(n_threads: usize) -> Result<usize> {
    let cores = available_cores();
    match n_threads {
        0 => Ok(cores),
        n if n > max_threads() => crate::bail_param!(
            "n_threads = {n} is too many: at most {} ({THREADS_PER_CORE}× the {cores} available \
             cores, at least {MIN_THREAD_LIMIT}); use 0 for all cores",
            max_threads()
        ),
        n => Ok(n),
    }
}

/// Idle pools, by size: a pool is leased for the duration of one call and returned after, so
/// that concurrent calls (from several Python threads) never queue behind each other in one
/// pool, while consecutive calls reuse the same threads.
fn idle_pools() -> &'static Mutex<HashMap<usize, Vec<ThreadPool>>> {
    static POOLS: OnceLock<Mutex<HashMap<usize, Vec<ThreadPool>>>> = OnceLock::new();
    POOLS.get_or_init(Default::default)
}

static POOLS_BUILT: AtomicUsize = AtomicUsize::new(0);

/// Number of thread pools this process has built so far: [`lease`] builds one only when no
/// idle pool of the requested size is free, so consecutive calls leave it unchanged.
pub fn pools_built() -> usize {
    POOLS_BUILT.load(Ordering::Relaxed)
}

/// Exclusive use of a pool of `n` threads, returned to the idle pools when dropped.
pub struct PoolLease {
    n: usize,
    pool: Option<ThreadPool>,
}

impl PoolLease {
    /// The leased pool.
    pub fn pool(&self) -> &ThreadPool {
        self.pool
            .as_ref()
            .expect("a lease holds its pool until dropped")
    }
}

impl Drop for PoolLease {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            // a poisoned lock only means a panic elsewhere while it was held: the map is intact
            let mut idle = idle_pools().lock().unwrap_or_else(|e| e.into_inner());
            idle.entry(self.n).or_default().push(pool);
        }
    }
}

/// Lease a pool of `n_threads` threads (0: all cores): an idle one, or a new one built now.
/// Errors: `n_threads` above [`max_threads`] (`InvalidParameter`), or the operating system
/// refusing the threads (`Internal`).
pub fn lease(n_threads: usize) -> Result<PoolLease> {
    let n = resolve(n_threads)?;
    let idle = idle_pools()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_mut(&n)
        .and_then(Vec::pop);
    let pool = match idle {
        Some(pool) => pool,
        None => {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .thread_name(move |i| format!("lode_rs-{n}-{i}"))
                .build()
                .map_err(|e| {
                    Error::Internal(format!("could not start a pool of {n} threads: {e}"))
                })?;
            POOLS_BUILT.fetch_add(1, Ordering::Relaxed);
            pool
        }
    };
    Ok(PoolLease {
        n,
        pool: Some(pool),
    })
}

/// Run `work` inside a rayon pool of `n_threads` threads (0: all logical cores). Already on a
/// pool of that size (a nested call), `work` runs right there; otherwise an idle pool is
/// leased ([`lease`]). Errors as [`lease`].
pub fn with_threads<T: Send>(n_threads: usize, work: impl FnOnce() -> T + Send) -> Result<T> {
    let n = resolve(n_threads)?;
    if rayon::current_thread_index().is_some() && rayon::current_num_threads() == n {
        return Ok(work());
    }
    let lease = lease(n)?;
    Ok(lease.pool().install(work))
}

static CANCEL_REQUESTED: AtomicBool = AtomicBool::new(false);
static ACTIVE_SCOPES: AtomicUsize = AtomicUsize::new(0);

/// `Err(Error::Interrupted)` once cancellation was requested; call it between chunks of work
/// (its cost is one relaxed atomic load).
#[inline]
pub fn check_cancelled() -> Result<()> {
    if CANCEL_REQUESTED.load(Ordering::Relaxed) {
        Err(Error::Interrupted)
    } else {
        Ok(())
    }
}

/// Ask every running computation to stop at its next [`check_cancelled`]. Without an active
/// [`CancelScope`] the request is dropped (nothing is running to stop).
pub fn request_cancel() {
    if ACTIVE_SCOPES.load(Ordering::SeqCst) > 0 {
        CANCEL_REQUESTED.store(true, Ordering::SeqCst);
    }
}

/// Marks a cancellable computation as running; the last scope to end clears a pending request,
/// so that the next computation starts afresh.
pub struct CancelScope(());

impl CancelScope {
    /// Enter a scope (one per guarded computation).
    pub fn enter() -> CancelScope {
        ACTIVE_SCOPES.fetch_add(1, Ordering::SeqCst);
        CancelScope(())
    }
}

impl Drop for CancelScope {
    fn drop(&mut self) {
        if ACTIVE_SCOPES.fetch_sub(1, Ordering::SeqCst) == 1 {
            CANCEL_REQUESTED.store(false, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn n_threads_is_validated() {
        assert_eq!(resolve(0).unwrap(), available_cores());
        assert_eq!(resolve(3).unwrap(), 3);
        assert_eq!(resolve(max_threads()).unwrap(), max_threads());
        for n in [max_threads() + 1, 1 << 40, usize::MAX] {
            match resolve(n) {
                Err(Error::InvalidParameter(m)) => assert!(m.contains("n_threads"), "{m}"),
                other => panic!("n_threads = {n}: {other:?}"),
            }
            assert!(with_threads(n, || ()).is_err());
        }
    }

    /// Pools are reused by consecutive calls, distinct for concurrent ones (no queueing), and
    /// a nested call of the same size runs inline.
    #[test]
    fn pools_are_reused() {
        // a size no other test uses, so that the idle list is ours
        let n = 5;
        let threads = |lease: &PoolLease| {
            let mut ids = lease.pool().broadcast(|_| std::thread::current().id());
            ids.sort_by_key(|id| format!("{id:?}"));
            ids
        };
        let first = lease(n).unwrap();
        let ids = threads(&first);
        drop(first);
        let built = pools_built();
        let again = lease(n).unwrap();
        assert_eq!(threads(&again), ids, "the idle pool is reused");
        assert!(pools_built() >= built, "the counter only grows");
        let concurrent = lease(n).unwrap();
        assert_eq!(concurrent.pool().current_num_threads(), n);
        assert!(threads(&concurrent).iter().all(|id| !ids.contains(id)));
        drop((again, concurrent));

        assert_eq!(with_threads(3, rayon::current_num_threads).unwrap(), 3);
        let nested = with_threads(3, || {
            let outer = std::thread::current().id();
            let inner = with_threads(3, || std::thread::current().id()).unwrap();
            (
                outer == inner,
                with_threads(2, rayon::current_num_threads).unwrap(),
            )
        });
        assert_eq!(nested.unwrap(), (true, 2));
    }

    /// The global flag would disturb other tests running in parallel threads of this binary,
    /// so the cancellation test runs alone in a child process (this binary, filtered to the
    /// ignored test below).
    #[test]
    fn cancellation_reaches_running_work_and_is_cleared() {
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "threads::tests::cancellation_child", "--ignored"])
            .args(["--test-threads", "1", "--quiet"])
            .status()
            .unwrap();
        assert!(status.success());
    }

    #[test]
    #[ignore = "run in a child process by cancellation_reaches_running_work_and_is_cleared"]
    fn cancellation_child() {
        use rayon::prelude::*;
        // without a scope, a request is dropped
        request_cancel();
        assert!(check_cancelled().is_ok());

        let scope = CancelScope::enter();
        let started = std::sync::Barrier::new(2);
        std::thread::scope(|s| {
            let worker = s.spawn(|| {
                with_threads(2, || {
                    started.wait();
                    (0..u64::MAX).into_par_iter().try_for_each(|i| {
                        if i % 1024 == 0 {
                            check_cancelled()?;
                        }
                        Ok(())
                    })
                })
                .unwrap()
            });
            started.wait();
            request_cancel();
            assert_eq!(worker.join().unwrap(), Err(Error::Interrupted));
        });
        assert_eq!(check_cancelled(), Err(Error::Interrupted));
        drop(scope);
        assert!(check_cancelled().is_ok());
    }
}
