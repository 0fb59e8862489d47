//! The learning-rate schedule: linear warm-up, then cosine decay to 10% of the peak over
//! exactly the run's steps.
//!
//! `lr(s) = peak · (s + 1) / W` for `s < W`, then
//! `lr(s) = peak · (r + (1 − r) · ½ · (1 + cos(π · (s − W) / (S − W))))` with `r = 0.1`.
//! Chinchilla (Hoffmann et al. 2022, §3 and Appendix B) decays the cosine by 10× and shows
//! that a cycle longer than the run (the schedule of a bigger budget cut short) overstates the
//! loss, so every run's cycle ends on its own last step.

use serde::{Deserialize, Serialize};

/// A warm-up + cosine schedule over a fixed number of steps.
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
}

/// The final-to-peak ratio of the cosine (Hoffmann et al. 2022, Appendix B: decay by 10×).
pub const FINAL_LR_RATIO: f32 = 0.1;

impl LrSchedule {
    /// The learning rate of step `step` (0-based).
    pub fn lr(&self, step: u64) -> f32 {
        if step < self.warmup_steps {
            return self.peak * (step + 1) as f32 / self.warmup_steps as f32;
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
        let s = LrSchedule { peak: 1e-3, warmup_steps: 10, total_steps: 110, final_ratio: 0.1 };
        assert!((s.lr(0) - 1e-4).abs() < 1e-9);
        assert!((s.lr(9) - 1e-3).abs() < 1e-9);
        assert!((s.lr(10) - 1e-3).abs() < 1e-9);
        // Half-way through the cosine: r + (1 − r)/2 = 0.55 of the peak.
        assert!((s.lr(60) - 0.55e-3).abs() < 1e-8);
        assert!((s.lr(110) - 1e-4).abs() < 1e-9);
        // Monotone after warm-up.
        assert!((10..110).all(|i| s.lr(i + 1) <= s.lr(i)));
    }
}
