//! How the element-wise kernels split rows among the threads of the engine's rayon pool.
//!
//! Each pass over an activation is a few hundred microseconds at most, so tasks must be few
//! (rayon's overhead is a few microseconds each) but more than one per thread, so that a thread
//! slowed by a neighbour on a shared machine does not hold the others back.

/// Rows per task for a pass over `rows` rows of `cols` values each.
pub fn rows_per_task(rows: usize, cols: usize) -> usize {
    // At least ~16k values per task: below that a task costs less than scheduling it.
    const MIN_VALUES_PER_TASK: usize = 16 * 1024;
    let threads = rayon::current_num_threads().max(1);
    let by_threads = rows.div_ceil(4 * threads);
    let by_size = MIN_VALUES_PER_TASK.div_ceil(cols.max(1));
    by_threads.max(by_size).clamp(1, rows.max(1))
}
