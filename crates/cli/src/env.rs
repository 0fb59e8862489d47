//! Process-wide settings the binary makes on its main thread, before any other thread starts.

/// Sizes candle's process-wide pool for element-wise ops on the CPU: candle reads
/// `CANDLE_NUM_THREADS` once, at that pool's first use, and no pool of a run reaches it
/// (isoflop_train's `PooledEngine` keeps candle's matrix products on the run's own threads).
/// Candle runs only: the kernels engine takes its threads from the run's config alone.
pub fn set_candle_threads(threads: usize) {
    // SAFETY: called on the main thread before any thread that reads the environment (the
    // training workers, rayon pools, candle's pool, the Ctrl-C handler) is started.
    unsafe {
        std::env::set_var("CANDLE_NUM_THREADS", threads.to_string());
    }
}
