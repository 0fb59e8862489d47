//! Chinchilla's approaches 1 and 2 (Hoffmann et al. 2022, sections 3.1 and 3.2): read the
//! compute-optimal N and D off the runs directly, then fit power laws N_opt = k_N · C^a and
//! D_opt = k_D · C^b by least squares in log-log space. (Approach 3 is [`crate::fit()`].)

mod envelope;
mod isoflop;

pub use envelope::{Envelope, EnvelopePoint, envelope, envelope_points};
pub use isoflop::{Isoflop, IsoflopBudget, isoflop, isoflop_profiles};

use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// y = coefficient · C^exponent, C in FLOPs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PowerLaw {
    /// Multiplier k.
    pub coefficient: f64,
    /// Exponent.
    pub exponent: f64,
    /// Bootstrap 95% interval of the exponent, when computed.
    pub exponent_interval: Option<[f64; 2]>,
}

impl PowerLaw {
    /// k · C^exponent.
    pub fn at(&self, c: f64) -> f64 {
        self.coefficient * c.powf(self.exponent)
    }
}

/// Ordinary least squares of ln y on ln x; needs two distinct x.
pub(crate) fn fit_power_law(x: &[f64], y: &[f64]) -> Result<PowerLaw> {
    let n = x.len() as f64;
    let lx: Vec<f64> = x.iter().map(|v| v.ln()).collect();
    let ly: Vec<f64> = y.iter().map(|v| v.ln()).collect();
    let (mx, my) = (lx.iter().sum::<f64>() / n, ly.iter().sum::<f64>() / n);
    let sxx: f64 = lx.iter().map(|a| (a - mx).powi(2)).sum();
    if x.len() < 2 || sxx <= 0.0 {
        return Err(Error::InvalidData(format!(
            "a power law needs at least two distinct compute budgets, got {}",
            x.len()
        )));
    }
    let sxy: f64 = lx.iter().zip(&ly).map(|(a, b)| (a - mx) * (b - my)).sum();
    let exponent = sxy / sxx;
    Ok(PowerLaw { coefficient: (my - exponent * mx).exp(), exponent, exponent_interval: None })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn power_law_recovers_exact_data() {
        let x = [1e18, 1e19, 1e20];
        let y: Vec<f64> = x.iter().map(|c: &f64| 0.1 * c.powf(0.5)).collect();
        let p = fit_power_law(&x, &y).unwrap();
        assert!((p.exponent - 0.5).abs() < 1e-12 && (p.coefficient / 0.1 - 1.0).abs() < 1e-9);
        assert!(fit_power_law(&[1e18, 1e18], &[1.0, 2.0]).is_err());
    }
}
