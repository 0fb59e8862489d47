//! Which raw parameters the optimiser moves, which are held fixed, and which are tied.
//!
//! The optimiser sees only the *free* vector; [`Layout::expand`] turns it into the form's full
//! raw vector (fixed values filled in, tied parameters copied) and [`Layout::reduce_grad`]
//! sums the raw gradient back onto the free coordinates (a tied pair's two partial
//! derivatives add, by the chain rule). Fixed values come in reported units (`E = 1.69`) and
//! are stored in raw units (`e = ln 1.69`).

use crate::{Error, Form, Result};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Slot {
    Free(usize),
    Fixed(f64),
}

/// Mapping between the free vector and the raw vector of one form.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Layout {
    slots: Vec<Slot>,
    n_free: usize,
}

impl Layout {
    /// Builds the layout; `fixed` is in reported units and names must be the form's.
    pub(crate) fn new(form: Form, fixed: &BTreeMap<String, f64>, tie: bool) -> Result<Self> {
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
        Ok(Self { slots, n_free })
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
                Slot::Free(j) => free[j],
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
                free[j] = *r;
            }
        }
        free
    }

    /// Raw gradient → free gradient.
    #[inline]
    pub(crate) fn reduce_grad(&self, g_raw: &[f64], g_free: &mut [f64]) {
        g_free.iter_mut().for_each(|g| *g = 0.0);
        for (g, s) in g_raw.iter().zip(&self.slots) {
            if let Slot::Free(j) = *s {
                g_free[j] += g;
            }
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
        let l = Layout::new(Form::Chinchilla, &fixed, true).unwrap();
        assert_eq!(l.n_free(), 3); // a, b, α (= β)
        let mut raw = [0.0; 5];
        l.expand(&[6.0, 7.0, 0.3], &mut raw);
        assert_eq!(raw, [1.69f64.ln(), 6.0, 7.0, 0.3, 0.3]);
        let mut g = [0.0; 3];
        l.reduce_grad(&[1.0, 2.0, 3.0, 4.0, 5.0], &mut g);
        assert_eq!(g, [2.0, 3.0, 9.0]);
        let e = Layout::new(Form::Chinchilla, &BTreeMap::from([("gamma".into(), 1.0)]), false);
        assert!(e.unwrap_err().to_string().contains("cannot fix `gamma`"));
    }
}
