//! The fitting objective: Σ_i H_δ(f(θ; x_i) − y_i) over the observations, where f is the
//! form's fit-space prediction (ln L for loss laws) and H_δ the Huber loss.
//!
//! The sum, not the mean: Besiroglu et al. 2024 ("Chinchilla Scaling: A replication attempt",
//! section 3) traced Hoffmann et al.'s too-narrow intervals and early stops to an averaged
//! objective, whose value and gradient are 1/n as large, so that L-BFGS's absolute stopping
//! tolerances (scipy's defaults: 2.2e-9 on the change of the objective) are met at once near
//! any start. [`Reduction::Mean`] exists only to reproduce that pitfall in tests.
//!
//! Value and gradient come from one pass over the points; the gradient of the free vector is
//! the raw gradient reduced through the [`Layout`].

use crate::Form;
use crate::forms::{N_FEATURES, Point};
use crate::layout::Layout;
use serde::{Deserialize, Serialize};
use std::cell::Cell;

/// How per-point Huber losses are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reduction {
    /// Σ H(r_i): the correct objective.
    #[default]
    Sum,
    /// (1/n) Σ H(r_i): Hoffmann et al.'s apparent choice, kept to demonstrate its pitfall.
    Mean,
}

/// Most raw parameters any form has.
pub(crate) const MAX_PARAMS: usize = 8;

/// The objective at one free vector (the first `n` entries of `free` and `grad`): fixed-size
/// so that remembering it allocates nothing.
#[derive(Clone, Copy)]
pub(crate) struct Cached {
    n: usize,
    free: [f64; MAX_PARAMS],
    pub value: f64,
    grad: [f64; MAX_PARAMS],
}

/// One fitting problem: a form, its points, its layout and the Huber δ.
pub(crate) struct Objective<'a> {
    pub form: Form,
    pub points: &'a [Point],
    pub layout: &'a Layout,
    pub delta: f64,
    pub reduction: Reduction,
    /// Last (free vector, value, gradient): the line search asks for the value and then the
    /// gradient at the same point, and both come from one pass.
    cache: Cell<Option<Cached>>,
}

impl<'a> Objective<'a> {
    pub(crate) fn new(
        form: Form,
        points: &'a [Point],
        layout: &'a Layout,
        delta: f64,
        reduction: Reduction,
    ) -> Self {
        Self { form, points, layout, delta, reduction, cache: Cell::new(None) }
    }

    /// Objective value and free gradient at `free`.
    pub(crate) fn value_grad(&self, free: &[f64], g_free: &mut [f64]) -> f64 {
        let np = self.form.params().len();
        let mut raw = [0.0; MAX_PARAMS];
        self.layout.expand(free, &mut raw[..np]);
        let raw = &raw[..np];
        let mut g_raw = [0.0; MAX_PARAMS];
        let total = self.form.huber_sum(raw, self.points, self.delta, &mut g_raw[..np]);
        let scale = match self.reduction {
            Reduction::Sum => 1.0,
            Reduction::Mean => 1.0 / self.points.len().max(1) as f64,
        };
        self.layout.reduce_grad(free, &g_raw[..np], g_free);
        g_free.iter_mut().for_each(|g| *g *= scale);
        let v = total * scale;
        if v.is_finite() && g_free.iter().all(|g| g.is_finite()) { v } else { f64::INFINITY }
    }

    /// The objective at `free`, from the cache when it was the last point asked for.
    pub(crate) fn cached(&self, free: &[f64]) -> Cached {
        if let Some(c) = self.cache.get()
            && c.free[..c.n] == *free
        {
            return c;
        }
        let n = free.len();
        let mut c = Cached { n, free: [0.0; MAX_PARAMS], value: 0.0, grad: [0.0; MAX_PARAMS] };
        c.free[..n].copy_from_slice(free);
        c.value = self.value_grad(free, &mut c.grad[..n]);
        self.cache.set(Some(c));
        c
    }
}

impl argmin::core::CostFunction for Objective<'_> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, free: &Vec<f64>) -> Result<f64, argmin::core::Error> {
        Ok(self.cached(free).value)
    }
}

impl argmin::core::Gradient for Objective<'_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, free: &Vec<f64>) -> Result<Vec<f64>, argmin::core::Error> {
        let c = self.cached(free);
        Ok(c.grad[..c.n].to_vec())
    }
}

/// Fit-space residuals y_i − f(θ; x_i) at a raw vector.
pub(crate) fn residuals(form: Form, raw: &[f64], points: &[Point]) -> Vec<f64> {
    points.iter().map(|p| p.target - form.eval(raw, &p.x, None)).collect()
}

const _: () = assert!(N_FEATURES == 6);
