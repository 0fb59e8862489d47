//! A prior on the irreducible loss E: a value to hold it at, or an interval to keep it in.
//!
//! E is the parameter a sweep of small models identifies worst: the loss still falls steeply
//! there, and a floor 0.3 nats lower with larger A and B fits those runs about as well, then
//! extrapolates very differently (Besiroglu et al. 2024, "Chinchilla scaling: a replication
//! attempt", found E moving most between refits). A user often knows E from elsewhere (a
//! larger sweep on the same data, the entropy of the text), and holding E to that knowledge
//! leaves the runs to pin A, B, α and β. The prior is expressed with what every fit already
//! has: a fixed parameter ([`FitOptions::fixed`]) or bounds ([`FitOptions::bounds`], kept by
//! the change of variables E = lo + (hi − lo)·σ(u) of the `layout` module), so a fit with a
//! prior is an ordinary fit whose options say so in fit.json.

use crate::{Error, FitOptions, Result};
use std::fmt;

/// The name of the irreducible-loss parameter in every form that has one.
pub const E_PARAM: &str = "E";

/// What is known of E, in loss units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EPrior {
    /// E held at this value (one free parameter fewer).
    Fixed(f64),
    /// E kept strictly inside (lo, hi).
    Interval {
        /// Lower end.
        lo: f64,
        /// Upper end.
        hi: f64,
    },
}

impl std::str::FromStr for EPrior {
    type Err = Error;
    /// `LO:HI` (an interval) or `VALUE` (fixed); every number finite and > 0, LO < HI.
    fn from_str(s: &str) -> Result<Self> {
        let bad = |why: String| Err(Error::InvalidOption(format!("E prior `{s}`: {why}")));
        let num = |t: &str| -> std::result::Result<f64, String> {
            let t = t.trim();
            let v: f64 = t.parse().map_err(|_| format!("`{t}` is not a number"))?;
            if !v.is_finite() || v <= 0.0 {
                return Err(format!("{t} is not a loss floor (E must be finite and > 0)"));
            }
            Ok(v)
        };
        match s.split_once(':') {
            None => num(s).map(EPrior::Fixed).or_else(bad),
            Some((lo, hi)) => {
                let (lo, hi) = match (num(lo), num(hi)) {
                    (Ok(lo), Ok(hi)) => (lo, hi),
                    (Err(e), _) | (_, Err(e)) => return bad(e),
                };
                if lo >= hi {
                    return bad(format!("lower end {lo} must be below upper end {hi}"));
                }
                Ok(EPrior::Interval { lo, hi })
            }
        }
    }
}

impl fmt::Display for EPrior {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EPrior::Fixed(v) => write!(f, "{v}"),
            EPrior::Interval { lo, hi } => write!(f, "{lo}:{hi}"),
        }
    }
}

impl EPrior {
    /// Whether E lies within the prior (equal to it, when fixed).
    pub fn contains(&self, e: f64) -> bool {
        match *self {
            EPrior::Fixed(v) => e == v,
            EPrior::Interval { lo, hi } => lo <= e && e <= hi,
        }
    }

    /// `opts` with E fixed or bounded. Refused when the form has no E, or when the options
    /// already fix or bound E (two statements about E, of which neither should win silently).
    pub fn apply(&self, opts: &FitOptions) -> Result<FitOptions> {
        let form = opts.form;
        if form.param_index(E_PARAM).is_none() {
            return Err(Error::InvalidOption(format!(
                "E prior {self}: form {form} has no irreducible loss E"
            )));
        }
        if opts.fixed.contains_key(E_PARAM) || opts.bounds.contains_key(E_PARAM) {
            return Err(Error::InvalidOption(format!(
                "E prior {self}: E is already fixed or bounded in the fit's options"
            )));
        }
        let mut out = opts.clone();
        match *self {
            EPrior::Fixed(v) => {
                out.fixed.insert(E_PARAM.to_string(), v);
            }
            EPrior::Interval { lo, hi } => {
                out.bounds.insert(E_PARAM.to_string(), (Some(lo), Some(hi)));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Form;

    #[test]
    fn parses_values_and_intervals_and_refuses_the_rest() {
        assert_eq!("1.69".parse::<EPrior>().unwrap(), EPrior::Fixed(1.69));
        assert_eq!(" 1.6 : 1.9".parse::<EPrior>().unwrap(), EPrior::Interval { lo: 1.6, hi: 1.9 });
        for (text, why) in [
            ("1.9:1.6", "E prior `1.9:1.6`: lower end 1.9 must be below upper end 1.6"),
            ("1.7:1.7", "lower end 1.7 must be below upper end 1.7"),
            ("-1:2", "-1 is not a loss floor"),
            ("0", "0 is not a loss floor"),
            ("abc", "E prior `abc`: `abc` is not a number"),
            ("1.6:", "`` is not a number"),
            ("1:x", "`x` is not a number"),
            ("inf", "inf is not a loss floor"),
        ] {
            let e = text.parse::<EPrior>().unwrap_err().to_string();
            assert!(e.contains(why), "{text}: {e}");
        }
    }

    #[test]
    fn applies_as_a_fixed_value_or_bounds_and_only_where_there_is_an_e() {
        let base = FitOptions::for_form(Form::Chinchilla);
        let fixed = EPrior::Fixed(1.7).apply(&base).unwrap();
        assert_eq!(fixed.fixed[E_PARAM], 1.7);
        assert_eq!(fixed.layout().unwrap().n_free(), 4);
        let iv = EPrior::Interval { lo: 1.6, hi: 1.9 }.apply(&base).unwrap();
        assert_eq!(iv.bounds[E_PARAM], (Some(1.6), Some(1.9)));
        assert_eq!(iv.layout().unwrap().n_free(), 5);
        let e = EPrior::Fixed(1.7).apply(&FitOptions::for_form(Form::KaplanNd)).unwrap_err();
        assert!(e.to_string().contains("form kaplan-nd has no irreducible loss E"), "{e}");
        let e = EPrior::Fixed(1.7).apply(&fixed).unwrap_err();
        assert!(e.to_string().contains("already fixed or bounded"), "{e}");
    }
}
