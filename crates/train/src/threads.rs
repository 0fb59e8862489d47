//! How many compute threads a run gets, and the pool they live in.
//!
//! A run's count is resolved once from its own config ([`resolve_threads`]: 0 means one per
//! physical core) and is the one count its engine's pool, the peak-FLOPs measurement (hence
//! its MFU) and its report use. Nothing reads it from the environment: a sweep trains runs of
//! different counts side by side in one process, each in its own [`RunPool`].
//!
//! A count above the machine's logical CPUs is refused ([`check_threads`]): it cannot run
//! faster than one thread per CPU, and a mistyped `100000` would start that many threads.

use crate::{Error, Result};
use std::sync::{Arc, Condvar, Mutex};

/// This machine's logical CPUs (`std::thread::available_parallelism`, which honours the
/// process's CPU affinity and cgroup quota), at least 1.
pub fn logical_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// This machine's physical cores, at least 1 and at most [`logical_cpus`]: the count a run
/// gets when it asks for 0 (hyper-threads share one core's FMA units, so they add no FLOPs).
pub fn physical_cores() -> usize {
    num_cpus::get_physical().clamp(1, logical_cpus())
}

/// Refuses `requested` threads when they exceed the machine's logical CPUs; `what` names the
/// input that asked for them (a flag or a spec key), for the message.
pub fn check_threads(what: &str, requested: usize) -> Result<()> {
    let limit = logical_cpus();
    if requested > limit {
        return Err(Error::TooManyThreads { what: what.to_string(), requested, limit });
    }
    Ok(())
}

/// The threads a run asking for `requested` gets: one per physical core for 0, else
/// `requested` (checked against the machine by [`check_threads`]).
pub fn resolve_threads(what: &str, requested: usize) -> Result<usize> {
    check_threads(what, requested)?;
    Ok(if requested == 0 { physical_cores() } else { requested })
}

/// A run's own rayon pool of a fixed number of threads. Dropping it waits until its threads
/// have exited (rayon's own pool only asks them to), so a run's threads are gone when the run
/// returns and the next run of a sweep never shares the cores with them.
pub struct RunPool {
    pool: Option<rayon::ThreadPool>,
    threads: usize,
    alive: Arc<(Mutex<usize>, Condvar)>,
}

impl std::fmt::Debug for RunPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunPool").field("threads", &self.threads).finish_non_exhaustive()
    }
}

impl RunPool {
    /// A pool of `threads` (at least 1) threads named `{name}-{i}`.
    pub fn new(name: &str, threads: usize) -> Result<Self> {
        let err = |message: String| Error::Engine { engine: "threads", message };
        if threads == 0 {
            return Err(err("a pool needs at least 1 thread".into()));
        }
        let alive = Arc::new((Mutex::new(0usize), Condvar::new()));
        let (up, down) = (alive.clone(), alive.clone());
        let name = name.to_string();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(move |i| format!("{name}-{i}"))
            .start_handler(move |_| *up.0.lock().expect("pool count") += 1)
            .exit_handler(move |_| {
                let (count, cv) = &*down;
                *count.lock().expect("pool count") -= 1;
                cv.notify_all();
            })
            .build()
            .map_err(|e| err(format!("cannot start {threads} threads: {e}")))?;
        Ok(Self { pool: Some(pool), threads, alive })
    }

    /// Threads of the pool.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `f` on the pool: every rayon call inside it (the kernels', gemm's, candle's) uses
    /// the pool's threads and no others.
    pub fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        self.pool.as_ref().expect("the pool lives until drop").install(f)
    }
}

impl Drop for RunPool {
    fn drop(&mut self) {
        let Some(pool) = self.pool.take() else { return };
        // A pool dropped from one of its own threads cannot wait for itself.
        let inside = pool.current_thread_index().is_some();
        drop(pool);
        if inside {
            return;
        }
        let (count, cv) = &*self.alive;
        let mut n = count.lock().expect("pool count");
        while *n > 0 {
            n = cv.wait(n).expect("pool count");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_means_the_physical_cores_and_too_many_is_refused() {
        assert_eq!(resolve_threads("--threads", 0).unwrap(), physical_cores());
        assert_eq!(resolve_threads("--threads", 1).unwrap(), 1);
        assert!(physical_cores() >= 1 && physical_cores() <= logical_cpus());
        let limit = logical_cpus();
        assert!(check_threads("--threads", limit).is_ok());
        let e = resolve_threads("--threads", limit + 1).unwrap_err().to_string();
        assert!(e.contains("--threads"), "{e}");
        assert!(e.contains(&format!("{}", limit + 1)), "{e}");
        assert!(e.contains(&format!("{limit} logical CPUs")), "{e}");
    }

    #[test]
    fn a_pool_has_its_threads_and_they_are_gone_when_it_is_dropped() {
        let pool = RunPool::new("isoflop-test", 3).unwrap();
        assert_eq!(pool.threads(), 3);
        assert_eq!(pool.install(rayon::current_num_threads), 3);
        // Every thread has started once work has run on all of them.
        pool.install(|| rayon::broadcast(|_| ()));
        assert_eq!(*pool.alive.0.lock().unwrap(), 3);
        let alive = pool.alive.clone();
        drop(pool);
        assert_eq!(*alive.0.lock().unwrap(), 0);
        assert!(RunPool::new("isoflop-test", 0).is_err());
    }
}
