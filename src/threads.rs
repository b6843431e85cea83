//! Thread pools: every parallel entry point takes `n_threads` (0 = all cores) and runs its
//! rayon work inside a pool of exactly that size, so results never depend on a global pool.
//! Work is split so that each output element is computed by exactly one task, in a fixed
//! order: results are bitwise identical for any number of threads.

use crate::error::{Error, Result};

/// Run `work` inside a rayon pool of `n_threads` threads (0: the number of logical cores).
pub fn with_threads<T: Send>(n_threads: usize, work: impl FnOnce() -> T + Send) -> Result<T> {
    let n = if n_threads == 0 {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    } else {
        n_threads
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build()
        .map_err(|e| Error::Internal(format!("could not start a pool of {n} threads: {e}")))?;
    Ok(pool.install(work))
}
