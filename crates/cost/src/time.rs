//! Training time.
//!
//! The headline estimate is `time = FLOPs / (GPUs × peak × MFU)`: MFU folds every loss
//! (communication, the pipeline bubble, kernels below peak) into one measured or assumed
//! fraction, as Narayanan et al. 2021 §5.1 do (their end-to-end time `8·T·P / (n·X)` with X
//! the achieved FLOP/s per GPU and 8 = full recomputation's 8N).
//!
//! [`StepTime`] models a given layout instead: compute at the MFU's rate, then the pipeline
//! bubble `(p−1)/(m+p−1)` (Narayanan et al. 2021 §2.2.1) and the communication of `comm`
//! added without overlap. It is the ranking used by `--search`: a pessimistic absolute figure,
//! but it orders layouts by what they cost.

use crate::comm::{CommTime, comm_time};
use crate::{FlopConvention, Hardware, Layout, ModelShape, Result, TrainRecipe};
use serde::{Deserialize, Serialize};

/// Seconds per day.
pub const DAY: f64 = 86_400.0;

/// `flops / (gpus · peak_per_gpu · mfu)` seconds.
pub fn train_seconds(flops: f64, gpus: u64, peak_per_gpu: f64, mfu: f64) -> f64 {
    flops / (gpus as f64 * peak_per_gpu * mfu)
}

/// One optimizer step of a layout, seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StepTime {
    /// Matrix multiplies (recomputation included) at `mfu` of the peak.
    pub compute: f64,
    /// Time the pipeline idles.
    pub bubble: f64,
    /// Exposed communication.
    pub comm: CommTime,
}

impl StepTime {
    /// Models one step of `layout` on `hw` running at `mfu` of the recipe's peak.
    pub fn model(
        shape: &ModelShape,
        layout: &Layout,
        hw: &Hardware,
        recipe: TrainRecipe,
        convention: FlopConvention,
        mfu: f64,
    ) -> Result<Self> {
        let peak = hw.peak_flops(recipe.compute_precision())?;
        let per_token = shape.flops_per_token(convention)
            + shape.recompute_flops_per_token(convention, layout.recompute);
        let flops = layout.tokens_per_step() as f64 * per_token;
        let compute = train_seconds(flops, layout.gpus(), peak, mfu);
        let f = layout.bubble_fraction();
        let bubble = compute * f / (1.0 - f);
        let (first, last) = shape.stage_params(layout.pp);
        let psi = first.max(last) / layout.tp as f64;
        let comm =
            comm_time(shape, layout, hw, psi, recipe.grad_bytes(), recipe.activation_bytes());
        Ok(Self { compute, bubble, comm })
    }

    /// Seconds of the whole step.
    pub fn total(&self) -> f64 {
        self.compute + self.bubble + self.comm.total()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Recompute;

    #[test]
    fn narayanan_section_5_1_training_days() {
        // Narayanan et al. 2021 §5.1 (end-to-end training time, from the throughputs of their
        // Table 1): GPT-3 175B on 300B tokens, 1024 A100s at 140 TFLOP/s each → 34 days; the 1T
        // model on 450B tokens, 3072 A100s at 163 TFLOP/s each → 84 days. Their estimate is
        // 8·T·P/(n·X): 6N of training plus 2N of full recomputation, attention neglected.
        let gpt3 = crate::preset("gpt3-175b").unwrap();
        let flops = gpt3.train_flops(300e9, FlopConvention::SixN, Recompute::Full);
        let days = train_seconds(flops, 1024, 140e12, 1.0) / DAY;
        assert!((days - 34.0).abs() < 0.5, "GPT-3: {days} days");
        // Their Table 1's 1T model: 128 layers, hidden 25,600, 160 heads, vocab 51,200, s 2048.
        let t1 = ModelShape::gpt2(128, 25_600, 160, 51_200, 2048, true).unwrap();
        let flops = t1.train_flops(450e9, FlopConvention::SixN, Recompute::Full);
        let days = train_seconds(flops, 3072, 163e12, 1.0) / DAY;
        assert!((days - 84.0).abs() < 1.0, "1T: {days} days");
    }

    #[test]
    fn llama2_gpu_hours_on_a100() {
        // Touvron et al. 2023 Table 2: pretraining on 2T tokens took 184,320 (7B), 368,640 (13B)
        // and 1,720,320 (70B) A100-80GB GPU-hours. The a100-80gb preset (312 TFLOP/s bf16 dense,
        // 45% MFU assumed) with PaLM's count gives 182,362, 344,961 and 1,758,861: within 7%.
        let hw = Hardware::preset("a100-80gb").unwrap();
        let peak = hw.peak_flops(crate::Precision::Bf16).unwrap();
        for (name, reported) in
            [("llama2-7b", 184_320.0), ("llama2-13b", 368_640.0), ("llama2-70b", 1_720_320.0)]
        {
            let shape = crate::preset(name).unwrap();
            let flops = shape.train_flops(2e12, FlopConvention::Palm, Recompute::None);
            let gpu_hours = train_seconds(flops, 1, peak, hw.mfu) / 3600.0;
            assert!((gpu_hours / reported - 1.0).abs() < 0.07, "{name}: {gpu_hours} GPU-hours");
        }
    }

    #[test]
    fn step_time_adds_bubble_and_comm() {
        let shape = crate::preset("llama2-7b").unwrap();
        let hw = Hardware::preset("h100-sxm").unwrap();
        let one = Layout { tp: 1, pp: 1, dp: 8, micro_batch: 1, ..Layout::single(64, 4096) };
        let piped = Layout { pp: 4, dp: 2, ..one };
        let a =
            StepTime::model(&shape, &one, &hw, TrainRecipe::Bf16Adam, FlopConvention::Palm, 0.4)
                .unwrap();
        let b =
            StepTime::model(&shape, &piped, &hw, TrainRecipe::Bf16Adam, FlopConvention::Palm, 0.4)
                .unwrap();
        // Same GPUs and FLOPs: same compute; pipeline adds a bubble of (4−1)/(32+4−1) of the step.
        assert!((a.compute - b.compute).abs() < 1e-9);
        assert_eq!(a.bubble, 0.0);
        assert!((b.bubble / (b.compute + b.bubble) - 3.0 / 35.0).abs() < 1e-12);
        assert!(a.comm.data_parallel > 0.0 && a.total() > a.compute);
    }
}
