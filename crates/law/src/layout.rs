//! Which raw parameters the optimiser moves, which are held fixed, and which are tied.
//!
//! The optimiser sees only the *free* vector; [`Layout::expand`] turns it into the form's full
//! raw vector (fixed values filled in, tied parameters copied) and [`Layout::reduce_grad`]
//! sums the raw gradient back onto the free coordinates (a tied pair's two partial
//! derivatives add, by the chain rule). Fixed values come in reported units (`E = 1.69`) and
//! are stored in raw units (`e = ln 1.69`).
//!
//! Bounds (`alpha` in [0, 1], `E` ≥ 1.5) are kept by a change of variables rather than by a
//! constrained optimiser, so that L-BFGS stays unconstrained: a free coordinate u maps to
//! lo + (hi − lo)·σ(u) when both ends are given, lo + e^u or hi − e^u when one is. The bound
//! is then never crossed, and an optimum on the bound is approached, not reached.

use crate::{Error, Form, Result};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Slot {
    Free(usize),
    Fixed(f64),
}

/// How a free coordinate maps to its raw value (bounds in raw units).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Map {
    Identity,
    Lower(f64),
    Upper(f64),
    Both(f64, f64),
}

impl Map {
    #[inline]
    fn value_and_slope(self, u: f64) -> (f64, f64) {
        match self {
            Map::Identity => (u, 1.0),
            Map::Lower(lo) => {
                let e = u.exp();
                (lo + e, e)
            }
            Map::Upper(hi) => {
                let e = u.exp();
                (hi - e, -e)
            }
            Map::Both(lo, hi) => {
                let s = 1.0 / (1.0 + (-u).exp());
                (lo + (hi - lo) * s, (hi - lo) * s * (1.0 - s))
            }
        }
    }

    /// The free coordinate of a raw value, pulled strictly inside the bounds.
    fn inverse(self, raw: f64) -> f64 {
        match self {
            Map::Identity => raw,
            Map::Lower(lo) => (raw - lo).max(1e-6 * (1.0 + lo.abs())).ln(),
            Map::Upper(hi) => (hi - raw).max(1e-6 * (1.0 + hi.abs())).ln(),
            Map::Both(lo, hi) => {
                let t = ((raw - lo) / (hi - lo)).clamp(1e-6, 1.0 - 1e-6);
                (t / (1.0 - t)).ln()
            }
        }
    }
}

/// Mapping between the free vector and the raw vector of one form.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Layout {
    slots: Vec<Slot>,
    maps: Vec<Map>,
    n_free: usize,
}

impl Layout {
    /// Builds the layout; `fixed` and `bounds` are in reported units and names must be the
    /// form's.
    pub(crate) fn new(
        form: Form,
        fixed: &BTreeMap<String, f64>,
        tie: bool,
        bounds: &crate::Bounds,
    ) -> Result<Self> {
        let specs = form.params();
        let mut fixed_raw: Vec<Option<f64>> = vec![None; specs.len()];
        for (name, &v) in fixed {
            let i = form.param_index(name).ok_or_else(|| {
                let names: Vec<&str> = specs.iter().map(|s| s.name).collect();
                Error::InvalidOption(format!(
                    "cannot fix `{name}`: form {form} has parameters {}",
                    names.join(", ")
                ))
            })?;
            fixed_raw[i] = Some(specs[i].transform.to_raw(v).ok_or_else(|| {
                Error::InvalidOption(format!("cannot fix `{name}` at {v}: must be finite and > 0"))
            })?);
        }
        let mut tie_of: Vec<Option<usize>> = vec![None; specs.len()];
        if tie {
            let (a, b) = form.tied_exponents().ok_or_else(|| {
                Error::InvalidOption(format!("form {form} has no pair of exponents to tie"))
            })?;
            let (ia, ib) = (form.param_index(a).unwrap(), form.param_index(b).unwrap());
            match (fixed_raw[ia], fixed_raw[ib]) {
                (Some(x), Some(y)) if x != y => {
                    return Err(Error::InvalidOption(format!(
                        "--tie-exponents with `{a}` and `{b}` fixed at different values"
                    )));
                }
                (Some(x), None) => fixed_raw[ib] = Some(x),
                (None, Some(y)) => fixed_raw[ia] = Some(y),
                _ => {}
            }
            tie_of[ib] = Some(ia);
        }
        let mut slots = vec![Slot::Fixed(0.0); specs.len()];
        let mut n_free = 0;
        for i in 0..specs.len() {
            slots[i] = match (fixed_raw[i], tie_of[i]) {
                (Some(v), _) => Slot::Fixed(v),
                (None, Some(j)) => slots[j],
                (None, None) => {
                    n_free += 1;
                    Slot::Free(n_free - 1)
                }
            };
        }
        let mut maps = vec![Map::Identity; n_free];
        for (name, &(lo, hi)) in bounds {
            let i = form.param_index(name).ok_or_else(|| {
                Error::InvalidOption(format!(
                    "cannot bound `{name}`: form {form} has no such parameter"
                ))
            })?;
            let t = specs[i].transform;
            // A Log parameter is positive already: a lower bound at or below 0 adds nothing.
            let lo = lo.filter(|&v| t == crate::Transform::Identity || v > 0.0);
            let raw = |v: f64| {
                t.to_raw(v).ok_or_else(|| {
                    Error::InvalidOption(format!("bound {v} of `{name}` is out of range"))
                })
            };
            let map = match (lo.map(raw).transpose()?, hi.map(raw).transpose()?) {
                (Some(a), Some(b)) if a >= b => {
                    return Err(Error::InvalidOption(format!(
                        "bounds of `{name}`: lower {} must be below upper {}",
                        lo.unwrap(),
                        hi.unwrap()
                    )));
                }
                (Some(a), Some(b)) => Map::Both(a, b),
                (Some(a), None) => Map::Lower(a),
                (None, Some(b)) => Map::Upper(b),
                (None, None) => Map::Identity,
            };
            match slots[i] {
                Slot::Free(j) => maps[j] = map,
                Slot::Fixed(v) => {
                    let ok = match map {
                        Map::Identity => true,
                        Map::Lower(a) => v >= a,
                        Map::Upper(b) => v <= b,
                        Map::Both(a, b) => v >= a && v <= b,
                    };
                    if !ok {
                        return Err(Error::InvalidOption(format!(
                            "`{name}` is fixed outside its bounds"
                        )));
                    }
                }
            }
        }
        Ok(Self { slots, maps, n_free })
    }

    /// Number of free coordinates.
    pub(crate) fn n_free(&self) -> usize {
        self.n_free
    }

    /// Free vector → raw vector.
    #[inline]
    pub(crate) fn expand(&self, free: &[f64], raw: &mut [f64]) {
        for (r, s) in raw.iter_mut().zip(&self.slots) {
            *r = match *s {
                Slot::Free(j) => self.maps[j].value_and_slope(free[j]).0,
                Slot::Fixed(v) => v,
            };
        }
    }

    /// Raw vector → free vector (a start's fixed entries are dropped; a tied pair takes the
    /// first member's value).
    pub(crate) fn project(&self, raw: &[f64]) -> Vec<f64> {
        let mut free = vec![f64::NAN; self.n_free];
        for (r, s) in raw.iter().zip(&self.slots) {
            if let Slot::Free(j) = *s
                && free[j].is_nan()
            {
                free[j] = self.maps[j].inverse(*r);
            }
        }
        free
    }

    /// Raw gradient → free gradient at the free vector `free`.
    #[inline]
    pub(crate) fn reduce_grad(&self, free: &[f64], g_raw: &[f64], g_free: &mut [f64]) {
        g_free.iter_mut().for_each(|g| *g = 0.0);
        for (g, s) in g_raw.iter().zip(&self.slots) {
            if let Slot::Free(j) = *s {
                g_free[j] += g;
            }
        }
        for (j, g) in g_free.iter_mut().enumerate() {
            if self.maps[j] != Map::Identity {
                *g *= self.maps[j].value_and_slope(free[j]).1;
            }
        }
    }

    /// The free coordinate that moves raw parameter `i` (`None` when it is fixed; the two
    /// members of a tied pair share one).
    pub(crate) fn free_index(&self, i: usize) -> Option<usize> {
        match self.slots[i] {
            Slot::Free(j) => Some(j),
            Slot::Fixed(_) => None,
        }
    }

    /// Whether raw parameter `i` is free (not fixed).
    pub(crate) fn is_free(&self, i: usize) -> bool {
        matches!(self.slots[i], Slot::Free(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixes_and_ties_chinchilla() {
        let fixed = BTreeMap::from([("E".to_string(), 1.69)]);
        let l = Layout::new(Form::Chinchilla, &fixed, true, &BTreeMap::new()).unwrap();
        assert_eq!(l.n_free(), 3); // a, b, α (= β)
        let mut raw = [0.0; 5];
        l.expand(&[6.0, 7.0, 0.3], &mut raw);
        assert_eq!(raw, [1.69f64.ln(), 6.0, 7.0, 0.3, 0.3]);
        let mut g = [0.0; 3];
        l.reduce_grad(&[6.0, 7.0, 0.3], &[1.0, 2.0, 3.0, 4.0, 5.0], &mut g);
        assert_eq!(g, [2.0, 3.0, 9.0]);
        let e = Layout::new(
            Form::Chinchilla,
            &BTreeMap::from([("gamma".into(), 1.0)]),
            false,
            &BTreeMap::new(),
        );
        assert!(e.unwrap_err().to_string().contains("cannot fix `gamma`"));
    }

    #[test]
    fn bounds_map_and_chain_the_gradient() {
        let bounds = BTreeMap::from([
            ("alpha".to_string(), (Some(0.0), Some(1.0))),
            ("E".to_string(), (Some(1.5), None)),
        ]);
        let l = Layout::new(Form::Chinchilla, &BTreeMap::new(), false, &bounds).unwrap();
        let start = [1.7f64.ln(), 6.0, 7.0, 0.3, 0.3];
        let free = l.project(&start);
        let mut raw = [0.0; 5];
        l.expand(&free, &mut raw);
        for (a, b) in raw.iter().zip(&start) {
            assert!((a - b).abs() < 1e-12, "{raw:?} vs {start:?}");
        }
        // d raw_alpha / d u = σ(1 − σ) = 0.3 · 0.7 for alpha = 0.3 in [0, 1].
        let mut g = [0.0; 5];
        l.reduce_grad(&free, &[0.0, 0.0, 0.0, 1.0, 0.0], &mut g);
        assert!((g[3] - 0.21).abs() < 1e-12, "{g:?}");
        let far = [-10.0, 0.0, 0.0, 50.0, 50.0];
        l.expand(&far, &mut raw);
        assert!(raw[3] <= 1.0 && raw[0] > 1.5f64.ln());
        let bad = BTreeMap::from([("beta".to_string(), (Some(1.0), Some(0.5)))]);
        assert!(Layout::new(Form::Chinchilla, &BTreeMap::new(), false, &bad).is_err());
    }
}
