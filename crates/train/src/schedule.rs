//! The learning-rate schedule: linear warm-up, then cosine decay to 10% of the peak over
//! exactly the run's steps; or warm-up, stable, decay (WSD).
//!
//! `lr(s) = peak · (s + 1) / W` for `s < W`, then
//! `lr(s) = peak · (r + (1 − r) · ½ · (1 + cos(π · (s − W) / (S − W))))` with `r = 0.1`.
//! Chinchilla (Hoffmann et al. 2022, §3 and Appendix B) decays the cosine by 10× and shows
//! that a cycle longer than the run (the schedule of a bigger budget cut short) overstates the
//! loss, so every run's cycle ends on its own last step.

use serde::{Deserialize, Serialize};

/// The shape after warm-up.
///
/// WSD (warm-up, stable, decay; Hägele et al. 2024, "Scaling Laws and Compute-Optimal Training
/// Beyond Fixed Training Durations"): the peak rate held, then a linear decay over the last
/// `decay_steps` steps to `final_ratio` of the peak. Its stable phase does not depend on the
/// run's length, so one constant-rate trunk (`decay_steps = 0`) serves every run length: a run
/// of D tokens is the trunk's checkpoint at D minus its decay, plus the decay (a cooldown
/// branch). Hägele et al. found a cooldown of 10–20% of the run matches the cosine's loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ScheduleShape {
    /// Cosine decay over all steps after warm-up (Hoffmann et al. 2022).
    #[default]
    Cosine,
    /// Constant at the peak, then linear decay over the last `decay_steps` steps.
    Wsd {
        /// Steps of the final decay (0: constant to the end, a trunk).
        decay_steps: u64,
    },
}

impl ScheduleShape {
    /// Whether it is the default cosine (left out of saved configs, which then read as
    /// before WSD existed).
    pub fn is_cosine(&self) -> bool {
        *self == ScheduleShape::Cosine
    }
}

/// A warm-up + cosine (or WSD) schedule over a fixed number of steps.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LrSchedule {
    /// The peak learning rate, reached at the end of warm-up.
    pub peak: f32,
    /// Steps of linear warm-up.
    pub warmup_steps: u64,
    /// The run's total optimizer steps: the cosine ends here.
    pub total_steps: u64,
    /// The final learning rate as a fraction of the peak (Chinchilla: 0.1).
    pub final_ratio: f32,
    /// Cosine, or WSD.
    #[serde(default, skip_serializing_if = "ScheduleShape::is_cosine")]
    pub shape: ScheduleShape,
}

/// The final-to-peak ratio of the cosine (Hoffmann et al. 2022, Appendix B: decay by 10×).
pub const FINAL_LR_RATIO: f32 = 0.1;

impl LrSchedule {
    /// The learning rate of step `step` (0-based).
    pub fn lr(&self, step: u64) -> f32 {
        if step < self.warmup_steps {
            return self.peak * (step + 1) as f32 / self.warmup_steps as f32;
        }
        if let ScheduleShape::Wsd { decay_steps } = self.shape {
            let start = self.total_steps.saturating_sub(decay_steps).max(self.warmup_steps);
            if step < start || decay_steps == 0 {
                return self.peak;
            }
            // Linear from the peak (just before `start`) to the final rate at the last step.
            let p = ((step - start + 1) as f64 / decay_steps as f64).min(1.0);
            let r = f64::from(self.final_ratio);
            return (f64::from(self.peak) * (1.0 - (1.0 - r) * p)) as f32;
        }
        let span = self.total_steps.saturating_sub(self.warmup_steps).max(1);
        let progress = ((step - self.warmup_steps) as f64 / span as f64).min(1.0);
        let cosine = 0.5 * (1.0 + (std::f64::consts::PI * progress).cos());
        let r = f64::from(self.final_ratio);
        (f64::from(self.peak) * (r + (1.0 - r) * cosine)) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warms_up_peaks_and_ends_at_ten_percent() {
        let s = LrSchedule {
            peak: 1e-3,
            warmup_steps: 10,
            total_steps: 110,
            final_ratio: 0.1,
            shape: ScheduleShape::Cosine,
        };
        assert!((s.lr(0) - 1e-4).abs() < 1e-9);
        assert!((s.lr(9) - 1e-3).abs() < 1e-9);
        assert!((s.lr(10) - 1e-3).abs() < 1e-9);
        // Half-way through the cosine: r + (1 − r)/2 = 0.55 of the peak.
        assert!((s.lr(60) - 0.55e-3).abs() < 1e-8);
        assert!((s.lr(110) - 1e-4).abs() < 1e-9);
        // Monotone after warm-up.
        assert!((10..110).all(|i| s.lr(i + 1) <= s.lr(i)));
    }

    #[test]
    fn wsd_holds_the_peak_then_decays_linearly_and_a_trunk_never_decays() {
        let wsd = |total, decay_steps| LrSchedule {
            peak: 1e-3,
            warmup_steps: 10,
            total_steps: total,
            final_ratio: 0.1,
            shape: ScheduleShape::Wsd { decay_steps },
        };
        let branch = wsd(100, 20);
        assert!((branch.lr(0) - 1e-4).abs() < 1e-9);
        assert!((10..80).all(|i| branch.lr(i) == 1e-3));
        // Linear over steps 80..99 to 10% at the last step.
        assert!((branch.lr(99) - 1e-4).abs() < 1e-9);
        assert!((branch.lr(89) - (1e-3 - 0.9e-3 * 10.0 / 20.0)).abs() < 1e-8);
        assert!((80..99).all(|i| branch.lr(i + 1) < branch.lr(i)));
        // The trunk it branches from: the same rates up to the branch point, then constant.
        let trunk = wsd(400, 0);
        assert!((0..80).all(|i| trunk.lr(i) == branch.lr(i)));
        assert!((80..400).all(|i| trunk.lr(i) == 1e-3));
    }
}
