//! Where a sweep's runs go on this machine: how many train side by side and each run's
//! threads.

use crate::plan::PlannedRun;
use crate::spec::SweepSpec;
use isoflop_train::EngineKind;

/// The machine and the layout flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayoutOptions {
    /// Cores to use.
    pub cores: usize,
    /// Fixed runs side by side (overrides the spec and the recommendation).
    pub parallel_runs: Option<usize>,
    /// Fixed threads per run (overrides the spec and the recommendation).
    pub threads_per_run: Option<usize>,
}

impl LayoutOptions {
    /// All of this machine's cores, nothing fixed.
    pub fn this_machine() -> Self {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        Self { cores, parallel_runs: None, threads_per_run: None }
    }
}

/// How many runs train side by side at most, and each run's threads.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepLayout {
    /// Runs trained side by side at most.
    pub max_parallel: usize,
    /// Threads of each run, in the plan's order.
    pub threads: Vec<usize>,
}

impl SweepLayout {
    /// The fewest and most threads any run gets.
    pub fn range(&self) -> (usize, usize) {
        let lo = self.threads.iter().copied().min().unwrap_or(1);
        let hi = self.threads.iter().copied().max().unwrap_or(1);
        (lo, hi)
    }

    /// "2 side by side × 1 thread each", or "up to 2 side by side, 1-2 threads each".
    pub fn describe(&self) -> String {
        match self.range() {
            (lo, hi) if lo == hi => {
                format!("{} side by side × {lo} thread(s) each", self.max_parallel)
            }
            (lo, hi) => format!(
                "up to {} side by side, {lo}-{hi} threads each (by shape)",
                self.max_parallel
            ),
        }
    }
}

/// Runs side by side and threads per run for a sweep: flags, then the spec, then the
/// kernels engine's measured recommendation for each run's shape
/// (`recommended_parallelism`: small models one thread each, side by side; larger ones all
/// cores). Every run computes on a pool of its own count (its `TrainConfig::threads`), so a
/// kernels run gets its shape's threads; candle's element-wise ops share one process-wide
/// pool sized once (`CANDLE_NUM_THREADS`), so a candle sweep takes one count for all its runs,
/// that of the median run by FLOPs.
pub fn layout<'a>(
    spec: &SweepSpec,
    runs: impl IntoIterator<Item = &'a PlannedRun>,
    opts: &LayoutOptions,
) -> SweepLayout {
    let runs: Vec<&PlannedRun> = runs.into_iter().collect();
    let cores = opts.cores.max(1);
    let parallel = opts.parallel_runs.or(spec.train.parallel_runs);
    let fixed = opts
        .threads_per_run
        .or(spec.train.threads_per_run)
        .or(parallel.map(|p| (cores / p.max(1)).max(1)));
    let recommended = |r: &PlannedRun| {
        isoflop_train::kernels::recommended_parallelism(&r.model, cores).threads_per_run
    };
    let threads: Vec<usize> = match fixed {
        Some(t) => vec![t; runs.len()],
        None if spec.train.engine == EngineKind::Kernels => {
            runs.iter().map(|r| recommended(r)).collect()
        }
        None => {
            let mut by_flops = runs.clone();
            by_flops.sort_by(|a, b| a.flops_palm.total_cmp(&b.flops_palm));
            let t = by_flops.get(by_flops.len() / 2).map_or(cores, |r| recommended(r));
            vec![t; runs.len()]
        }
    };
    let threads: Vec<usize> = threads.into_iter().map(|t| t.clamp(1, cores)).collect();
    let fewest = threads.iter().copied().min().unwrap_or(cores);
    let max_parallel = parallel.unwrap_or(cores / fewest).max(1);
    SweepLayout { max_parallel, threads }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan;
    use std::collections::HashMap;

    fn spec(engine: &str, extra: &str) -> SweepSpec {
        SweepSpec::parse(
            &format!(
                "name = \"t\"\n[design]\nkind = \"grid\"\nparams = [3e4, 6.5e6]\n\
                 tokens_per_param = [20]\n[train]\nengine = \"{engine}\"\n{extra}"
            ),
            "t",
        )
        .unwrap()
    }

    fn opts(cores: usize) -> LayoutOptions {
        LayoutOptions { cores, parallel_runs: None, threads_per_run: None }
    }

    #[test]
    fn kernels_runs_get_their_shapes_threads() {
        let s = spec("kernels", "");
        let runs = plan(&s).unwrap();
        let l = layout(&s, &runs, &opts(4));
        // The 6.5M-parameter model trains on all four cores, the 33k one on one, beside others.
        let by_key: HashMap<&str, usize> =
            runs.iter().map(|r| r.key.as_str()).zip(l.threads.iter().copied()).collect();
        assert_eq!(by_key.len(), 2);
        let big = runs.iter().find(|r| r.params > 1e6).unwrap();
        let small = runs.iter().find(|r| r.params < 1e5).unwrap();
        assert_eq!((by_key[big.key.as_str()], by_key[small.key.as_str()]), (4, 1));
        assert_eq!(l.max_parallel, 4);
        assert!(l.describe().contains("1-4 threads"), "{}", l.describe());
    }

    #[test]
    fn candle_and_fixed_layouts_are_uniform() {
        let s = spec("candle", "");
        let runs = plan(&s).unwrap();
        let l = layout(&s, &runs, &opts(4));
        assert_eq!(l.range().0, l.range().1);
        let s = spec("kernels", "parallel_runs = 2\n");
        let l = layout(&s, &runs, &opts(4));
        assert_eq!((l.max_parallel, l.threads.clone()), (2, vec![2, 2]));
        let mut o = opts(4);
        o.threads_per_run = Some(3);
        let l = layout(&s, &runs, &o);
        assert_eq!(l.threads, vec![3, 3]);
        assert_eq!(l.describe(), "2 side by side × 3 thread(s) each");
    }
}
