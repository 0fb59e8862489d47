//! Learning-rate schedules and the two areas under them that the whole-curve law of
//! [`crate::curve_law`] reads (Tissue et al. 2024, "Scaling Law with Learning Rate Annealing",
//! arXiv 2408.11029):
//!
//! - the forward area S1(s) = Σ_{i=1..s} η_i, the summed learning rate;
//! - the annealing area S2(s) = Σ_{i=1..s} m_i with the momentum
//!   m_i = λ·m_{i−1} + (η_{i−1} − η_i), m_0 = 0 (λ = 0.999 in the paper).
//!
//! Steps count optimiser updates from 1: η_i is the rate of update i, and the loss at step s
//! is the loss after s updates. A schedule has a length (`total_steps`); asking for a step
//! beyond it is an error, not an extrapolation.
//!
//! Warmup: the rate rises linearly from peak/W at step 1 to the peak at step W. Its area
//! counts in S1 (it is learning done), but its rises are not annealing: the momentum's
//! increments η_{i−1} − η_i start after the warmup, the first being η_W − η_{W+1}, so
//! m_i = 0 for i ≤ max(W, 1) (at step 1 without warmup there is no η_0). This is our
//! reading of a detail the formula leaves open: a rise fed into S2 would make the annealing
//! area negative for the first ~1/(1 − λ) steps after warmup.

use serde::{Deserialize, Serialize};

/// How a WSD schedule's decay phase falls from the peak to its final rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decay {
    /// η falls linearly.
    Linear,
    /// η falls along half a cosine period.
    Cosine,
}

/// The shape of a schedule after its warmup.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Shape {
    /// η = peak to the end.
    Constant,
    /// η = peak·(f + (1 − f)·½(1 + cos πp)), p the fraction of the post-warmup steps done,
    /// f = `final_fraction`: the cosine schedule of Loshchilov and Hutter 2017 with a floor.
    Cosine {
        /// Final rate as a fraction of the peak (often 0.1, as in Hoffmann et al. 2022).
        final_fraction: f64,
    },
    /// Warmup-stable-decay (Hu et al. 2024, MiniCPM): the peak until the last
    /// `decay_fraction` of all steps, then a decay to `final_fraction` of the peak.
    Wsd {
        /// Fraction of all steps (warmup included) spent decaying, in [0, 1].
        decay_fraction: f64,
        /// Final rate as a fraction of the peak.
        final_fraction: f64,
        /// Linear or cosine decay.
        decay: Decay,
    },
}

/// A learning-rate schedule of a fixed length.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// Peak learning rate (any unit: the law's A and C absorb it).
    pub peak_lr: f64,
    /// Steps of linear warmup (0: none).
    pub warmup_steps: u64,
    /// Steps in the run; η is defined at steps 1..=total_steps.
    pub total_steps: u64,
    /// What follows the warmup.
    pub shape: Shape,
}

/// S1 and S2 at every step 0..=n of a schedule for one momentum decay λ.
#[derive(Debug, Clone, PartialEq)]
pub struct Areas {
    s1: Vec<f64>,
    s2: Vec<f64>,
}

impl Areas {
    /// Last step covered.
    pub fn last_step(&self) -> u64 {
        (self.s1.len() - 1) as u64
    }

    /// The forward area S1 at `step` (0 at step 0); `None` past [`Areas::last_step`].
    pub fn s1(&self, step: u64) -> Option<f64> {
        self.s1.get(usize::try_from(step).ok()?).copied()
    }

    /// The annealing area S2 at `step`; `None` past [`Areas::last_step`].
    pub fn s2(&self, step: u64) -> Option<f64> {
        self.s2.get(usize::try_from(step).ok()?).copied()
    }
}

impl Schedule {
    /// Constant rate after `warmup_steps` of warmup.
    pub fn constant(peak_lr: f64, warmup_steps: u64, total_steps: u64) -> Self {
        Self { peak_lr, warmup_steps, total_steps, shape: Shape::Constant }
    }

    /// Cosine decay over the post-warmup steps to `final_fraction` of the peak.
    pub fn cosine(peak_lr: f64, warmup_steps: u64, total_steps: u64, final_fraction: f64) -> Self {
        Self { peak_lr, warmup_steps, total_steps, shape: Shape::Cosine { final_fraction } }
    }

    /// Warmup, stable at the peak, then `decay` over the last `decay_fraction` of the steps to
    /// `final_fraction` of the peak.
    pub fn wsd(
        peak_lr: f64,
        warmup_steps: u64,
        total_steps: u64,
        decay_fraction: f64,
        final_fraction: f64,
        decay: Decay,
    ) -> Self {
        Self {
            peak_lr,
            warmup_steps,
            total_steps,
            shape: Shape::Wsd { decay_fraction, final_fraction, decay },
        }
    }

    /// Checks the schedule's own ranges; the message says which field is wrong and why.
    pub fn check(&self) -> std::result::Result<(), String> {
        if !(self.peak_lr > 0.0 && self.peak_lr.is_finite()) {
            return Err(format!("peak learning rate must be finite and > 0, got {}", self.peak_lr));
        }
        if self.total_steps == 0 {
            return Err("total steps must be >= 1".into());
        }
        if self.warmup_steps >= self.total_steps {
            return Err(format!(
                "warmup ({} steps) must be shorter than the run ({} steps)",
                self.warmup_steps, self.total_steps
            ));
        }
        let fraction = |name: &str, f: f64| match (0.0..=1.0).contains(&f) {
            true => Ok(()),
            false => Err(format!("{name} must be in [0, 1], got {f}")),
        };
        match self.shape {
            Shape::Constant => Ok(()),
            Shape::Cosine { final_fraction } => fraction("final fraction", final_fraction),
            Shape::Wsd { decay_fraction, final_fraction, .. } => {
                fraction("final fraction", final_fraction)?;
                fraction("decay fraction", decay_fraction)?;
                if self.decay_steps() > self.total_steps - self.warmup_steps {
                    return Err(format!(
                        "decay of {} steps overlaps the warmup of {} steps in a run of {}",
                        self.decay_steps(),
                        self.warmup_steps,
                        self.total_steps
                    ));
                }
                Ok(())
            }
        }
    }

    /// Steps of a WSD schedule's decay phase (round(decay_fraction · total)); 0 otherwise.
    fn decay_steps(&self) -> u64 {
        match self.shape {
            Shape::Wsd { decay_fraction, .. } => {
                (decay_fraction * self.total_steps as f64).round() as u64
            }
            _ => 0,
        }
    }

    /// η at `step` (1..=total_steps); `None` outside the run.
    pub fn lr(&self, step: u64) -> Option<f64> {
        if step == 0 || step > self.total_steps {
            return None;
        }
        let peak = self.peak_lr;
        let w = self.warmup_steps;
        if step <= w {
            return Some(peak * step as f64 / w as f64);
        }
        let half_cosine =
            |f: f64, p: f64| f + (1.0 - f) * 0.5 * (1.0 + (std::f64::consts::PI * p).cos());
        Some(match self.shape {
            Shape::Constant => peak,
            Shape::Cosine { final_fraction } => {
                let p = (step - w) as f64 / (self.total_steps - w) as f64;
                peak * half_cosine(final_fraction, p)
            }
            Shape::Wsd { final_fraction, decay, .. } => {
                let k = self.decay_steps();
                let start = self.total_steps - k;
                if step <= start {
                    peak
                } else {
                    let p = (step - start) as f64 / k as f64;
                    match decay {
                        Decay::Linear => peak * (1.0 - (1.0 - final_fraction) * p),
                        Decay::Cosine => peak * half_cosine(final_fraction, p),
                    }
                }
            }
        })
    }

    /// S1 and S2 at every step from 0 to `last` (clamped to the run's length), for momentum
    /// decay `lambda`: one pass, O(last).
    pub fn areas(&self, lambda: f64, last: u64) -> Areas {
        let last = last.min(self.total_steps);
        let n = usize::try_from(last).unwrap_or(usize::MAX);
        let mut s1 = Vec::with_capacity(n + 1);
        let mut s2 = Vec::with_capacity(n + 1);
        s1.push(0.0);
        s2.push(0.0);
        let (mut a1, mut a2, mut m) = (0.0, 0.0, 0.0);
        let mut prev = f64::NAN;
        for i in 1..=last {
            let eta = self.lr(i).unwrap_or(0.0);
            // Annealing starts after the warmup (see the module's docs): the first increment
            // is η_W − η_{W+1}.
            let drop = if i > self.warmup_steps.max(1) { prev - eta } else { 0.0 };
            m = lambda * m + drop;
            a1 += eta;
            a2 += m;
            s1.push(a1);
            s2.push(a2);
            prev = eta;
        }
        Areas { s1, s2 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_follow_each_shape() {
        let c = Schedule::cosine(1.0, 10, 110, 0.1);
        assert_eq!(c.lr(0), None);
        assert_eq!(c.lr(111), None);
        assert!((c.lr(5).unwrap() - 0.5).abs() < 1e-15);
        assert!((c.lr(10).unwrap() - 1.0).abs() < 1e-15);
        // Halfway through the cosine: f + (1 − f)/2 = 0.55.
        assert!((c.lr(60).unwrap() - 0.55).abs() < 1e-12);
        assert!((c.lr(110).unwrap() - 0.1).abs() < 1e-12);
        let w = Schedule::wsd(2.0, 0, 100, 0.2, 0.0, Decay::Linear);
        assert_eq!(w.lr(80), Some(2.0));
        assert!((w.lr(90).unwrap() - 1.0).abs() < 1e-12);
        assert!(w.lr(100).unwrap().abs() < 1e-12);
        let wc = Schedule::wsd(2.0, 0, 100, 0.2, 0.5, Decay::Cosine);
        assert!((wc.lr(90).unwrap() - 1.5).abs() < 1e-12);
        assert!((wc.lr(100).unwrap() - 1.0).abs() < 1e-12);
        assert_eq!(Schedule::constant(3.0, 0, 5).lr(5), Some(3.0));
    }

    #[test]
    fn areas_match_the_momentum_recursion_by_hand() {
        // WSD whose decay is the whole run, linear to 0: η_i = 1 − i/4.
        let s = Schedule::wsd(1.0, 0, 4, 1.0, 0.0, Decay::Linear);
        let etas: Vec<f64> = (1..=4).map(|i| s.lr(i).unwrap()).collect();
        assert_eq!(etas, vec![0.75, 0.5, 0.25, 0.0]);
        let a = s.areas(0.5, 4);
        // S1: 0.75, 1.25, 1.5, 1.5.
        assert_eq!(a.s1(4), Some(1.5));
        // m_1 = 0 (no η_0), m_2 = 0.25, m_3 = 0.125 + 0.25 = 0.375, m_4 = 0.1875 + 0.25 =
        // 0.4375; S2 = 0, 0.25, 0.625, 1.0625.
        let want = [0.0, 0.0, 0.25, 0.625, 1.0625];
        for (i, w) in want.iter().enumerate() {
            assert!((a.s2(i as u64).unwrap() - w).abs() < 1e-15, "S2({i})");
        }
        assert_eq!(a.s2(5), None);
        // λ = 1: S2 is the plain annealing area Σ (η_1 − η_i) = 0 + 0.25 + 0.5 + 0.75.
        assert!((s.areas(1.0, 4).s2(4).unwrap() - 1.5).abs() < 1e-15);
    }

    #[test]
    fn the_recursion_equals_the_double_sum() {
        // S2(s) = Σ_{i≤s} Σ_{k≤i} λ^{i−k}·(η_{k−1} − η_k), the momentum unrolled, with the
        // increments starting after the warmup (k > W), computed the slow way.
        let sch = Schedule::cosine(1.0, 20, 300, 0.1);
        let lambda: f64 = 0.99;
        let eta = |k: u64| sch.lr(k).unwrap();
        let fast = sch.areas(lambda, 300);
        for s in [1u64, 20, 21, 22, 150, 300] {
            let mut slow = 0.0;
            for i in 1..=s {
                for k in 21..=i {
                    slow += lambda.powi((i - k) as i32) * (eta(k - 1) - eta(k));
                }
            }
            let got = fast.s2(s).unwrap();
            assert!((got - slow).abs() <= 1e-12 * slow.abs().max(1.0), "S2({s}): {got} vs {slow}");
        }
    }

    #[test]
    fn warmup_adds_to_s1_but_not_to_s2() {
        let s = Schedule::constant(1.0, 4, 10);
        let a = s.areas(0.999, 10);
        // Warmup 0.25 + 0.5 + 0.75 + 1, then six steps at 1.
        assert!((a.s1(10).unwrap() - 8.5).abs() < 1e-12);
        assert_eq!(a.s2(10), Some(0.0));
        // Cosine after warmup: the first increment is η_W − η_{W+1} > 0, none before.
        let c = Schedule::cosine(1.0, 4, 10, 0.0).areas(0.999, 10);
        assert_eq!(c.s2(4), Some(0.0));
        assert!(c.s2(5).unwrap() > 0.0);
    }

    #[test]
    fn bad_schedules_say_which_field() {
        let e = Schedule::cosine(0.0, 0, 10, 0.1).check().unwrap_err();
        assert!(e.contains("peak learning rate"), "{e}");
        let e = Schedule::constant(1.0, 10, 10).check().unwrap_err();
        assert!(e.contains("warmup"), "{e}");
        let e = Schedule::cosine(1.0, 0, 10, 1.5).check().unwrap_err();
        assert!(e.contains("final fraction"), "{e}");
        let e = Schedule::wsd(1.0, 5, 10, 0.8, 0.0, Decay::Linear).check().unwrap_err();
        assert!(e.contains("overlaps the warmup"), "{e}");
        assert!(Schedule::wsd(1.0, 2, 10, 0.8, 0.0, Decay::Cosine).check().is_ok());
    }
}
