//! L-BFGS from many starts (argmin's `LBFGS` with a Moré–Thuente line search), in parallel.
//!
//! Stopping rules are argmin's: stop when the objective changes by less than `tol_cost`
//! (absolute) or the gradient's norm falls below `tol_grad`. Absolute rules are why the
//! objective must be summed (see [`crate::objective`]): they resolve a summed objective n
//! times more finely than an averaged one. The defaults ([`crate::fit::TOL_COST`] = 1e-10,
//! [`crate::fit::TOL_GRAD`] = 1e-8) are tighter than scipy's L-BFGS-B defaults (ftol =
//! 2.2e-9, relative to max(|f|, 1), so absolute here; gtol = 1e-5), which Hoffmann et al. and
//! Besiroglu et al. used: on a 180-point synthetic sweep with 1% noise, scipy's rules stop the
//! summed fit started from Hoffmann's published values 20% above the optimum's objective,
//! while these reach it (tests/pitfall.rs). They cost about 20% more iterations.
//!
//! Why argmin and not an L-BFGS of our own: before the objective was vectorised, a
//! single-threaded `perf` profile of the 4,500-start fit of 240 points (the criterion bench)
//! put ~80% of the time in the objective (three glibc `exp` and one `ln` per point) and ~15%
//! in argmin's machinery, so the objective was the thing to speed up (a scalar hand-written
//! `ln` had been twice as slow as glibc's; what won was vectorising over points, see
//! [`crate::fastmath`]). Now the objective is ~52% of the profile and argmin's machinery
//! (allocating and copying small vectors ~15%, its function-count hash map ~6%, a clock read
//! in each line search's executor ~3%, the solvers' own arithmetic ~10%) most of the rest.
//! A lean solver might take another 1.3–1.5× off a fit that already meets its target
//! (0.35 s on two cores, issue 2: 0.5 s); it is not worth replicating argmin's line search.

use argmin::core::{CostFunction, Executor, Gradient, State};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;

/// Stopping rules of one L-BFGS run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Stopping {
    pub max_iters: u64,
    pub tol_grad: f64,
    pub tol_cost: f64,
}

/// Where one start ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Run {
    /// Final free vector.
    pub free: Vec<f64>,
    /// Objective there (∞ when the run failed).
    pub value: f64,
    /// Iterations taken.
    pub iters: u64,
}

/// L-BFGS memory: 10 pairs (scipy's default `maxcor`).
const MEMORY: usize = 10;

/// Runs L-BFGS from one start; a failed run reports an infinite value. Any objective with a
/// value and a gradient will do: the form fits' [`crate::objective::Objective`] and the
/// whole-curve law's ([`crate::curve_law`]).
pub(crate) fn minimise<O>(obj: O, start: Vec<f64>, stop: Stopping) -> Run
where
    O: CostFunction<Param = Vec<f64>, Output = f64>
        + Gradient<Param = Vec<f64>, Gradient = Vec<f64>>,
{
    // Through the objective's cache, so that the solver's first request (the same point) is
    // free: one evaluation of ~50 per start. (Handing argmin the value instead would also set
    // its "previous cost", and the cost-change rule would stop the run before its first step.)
    let v0 = obj.cost(&start).unwrap_or(f64::INFINITY);
    let failed = |free: Vec<f64>| Run { free, value: f64::INFINITY, iters: 0 };
    if !v0.is_finite() {
        return failed(start);
    }
    let solver = LBFGS::new(MoreThuenteLineSearch::new(), MEMORY);
    let solver = match solver
        .with_tolerance_grad(stop.tol_grad)
        .and_then(|s| s.with_tolerance_cost(stop.tol_cost))
    {
        Ok(s) => s,
        Err(_) => return failed(start),
    };
    let res = Executor::new(obj, solver)
        .configure(|s| s.param(start.clone()).max_iters(stop.max_iters))
        .timer(false)
        .run();
    match res {
        Ok(r) => {
            let state = r.state();
            let free = state.get_best_param().cloned().unwrap_or(start);
            let value = state.get_best_cost();
            Run {
                free,
                value: if value.is_finite() { value } else { f64::INFINITY },
                iters: state.get_iter(),
            }
        }
        Err(_) => failed(start),
    }
}
