//! A sweep's downstream laws: for each task and method that fine-tuned enough models, the
//! two-step chain (N, D) → loss → accuracy of Bhagia et al. 2024 on the sweep's own loss law,
//! and how well it predicts the largest budget's accuracy when fitted without it.
//!
//! Step 1 is the sweep's Chinchilla fit (made without the held-out largest budget, the same
//! law its plans use) and carries its bootstrap samples; step 2 is the accuracy against each
//! fine-tuned model's measured loss, its floor held at the task's majority-class accuracy
//! (what a classifier gets for nothing), resampled as many times so that the intervals go
//! through both steps. The saved law's step 2 uses every fine-tune; the check refits step 2
//! without the held-out budget's fine-tunes and predicts their accuracy from N and D alone.
//!
//! `scratch` fine-tunes get no law: they start from random weights, so the pretrained
//! model's loss is not their input (on the demo their fitted midpoint sat at loss 65, far
//! outside the data: a flat line, not a law).

use crate::analysis::DownstreamRow;
use isoflop_law::{Downstream, DownstreamOptions, Fit, Observation, fit_metric_step};
use serde::Serialize;

/// One task and method's law, and its check on the held-out budget.
#[derive(Debug, Clone, Serialize)]
pub struct DownstreamLaw {
    /// The task.
    pub task: String,
    /// The fine-tuning method.
    pub method: String,
    /// The floor step 2 was held at: the task's majority-class test accuracy, when known.
    pub chance: Option<f64>,
    /// The chain, step 2 fitted on every fine-tune.
    pub law: Downstream,
    /// The held-out budget's fine-tunes, predicted from N and D by the chain fitted without
    /// them.
    pub held_out: Vec<HeldMetric>,
    /// Mean |predicted − actual| accuracy over `held_out`.
    pub held_out_error: Option<f64>,
    /// Whether the bootstrap shows accuracy changing with loss at all: k's 95% interval
    /// excludes 0 (None without a bootstrap). At chance-level accuracy it does not, and the
    /// sigmoid's ceiling and steepness are then noise.
    pub trend: Option<bool>,
}

/// A fine-tune of a held-out model: its accuracy and the chain's prediction.
#[derive(Debug, Clone, Serialize)]
pub struct HeldMetric {
    /// The fine-tune's run key.
    pub key: String,
    /// Parameters N.
    pub params: f64,
    /// Pretraining tokens D.
    pub tokens: f64,
    /// Measured test accuracy.
    pub actual: f64,
    /// Predicted from N and D through both steps.
    pub predicted: f64,
    /// Bootstrap 95% interval of the prediction, through both steps, of the law fitted
    /// without it.
    pub interval: Option<[f64; 2]>,
}

/// Fine-tunes a task and method needs before a law is fitted to them: step 2 has three free
/// parameters (floor held at chance), and the check needs some left after holding out.
pub const MIN_FINETUNES: usize = 6;

fn observation(r: &DownstreamRow) -> Option<Observation> {
    let mut o = Observation::new(r.params, r.tokens, r.source_loss?);
    o.metric = Some(r.accuracy);
    o.task = Some(r.task.clone());
    o.method = Some(r.method.clone());
    o.run = Some(r.key.clone());
    Some(o)
}

/// The laws of every task and method with at least [`MIN_FINETUNES`] fine-tunes; `held`
/// names the pretraining runs the loss law was fitted without. Notes say what was skipped.
pub fn downstream_laws(
    loss_fit: &Fit,
    rows: &[DownstreamRow],
    held: &[&str],
    bootstrap: usize,
    seed: u64,
) -> (Vec<DownstreamLaw>, Vec<String>) {
    let mut pairs: Vec<(&str, &str)> = rows
        .iter()
        .filter(|r| r.method != "scratch")
        .map(|r| (r.task.as_str(), r.method.as_str()))
        .collect();
    pairs.dedup();
    let mut laws = Vec::new();
    let mut notes = Vec::new();
    for (task, method) in pairs {
        let mine: Vec<&DownstreamRow> =
            rows.iter().filter(|r| r.task == task && r.method == method).collect();
        let obs: Vec<Observation> = mine.iter().filter_map(|r| observation(r)).collect();
        if obs.len() < MIN_FINETUNES {
            notes.push(format!(
                "{task} · {method}: {} fine-tunes; a downstream law needs at least {MIN_FINETUNES}",
                obs.len()
            ));
            continue;
        }
        let chance = {
            let m: Vec<f64> = mine.iter().filter_map(|r| r.majority_accuracy).collect();
            (!m.is_empty()).then(|| m.iter().sum::<f64>() / m.len() as f64)
        };
        let opts = DownstreamOptions { chance, bootstrap, seed, ..DownstreamOptions::default() };
        let law = match fit_metric_step(loss_fit.clone(), &obs, &opts) {
            Ok(l) => l,
            Err(e) => {
                notes.push(format!("{task} · {method}: the downstream law failed: {e}"));
                continue;
            }
        };
        let is_held = |o: &Observation| {
            mine.iter().any(|r| Some(&r.key) == o.run.as_ref() && held.contains(&r.source.as_str()))
        };
        let (test, train): (Vec<Observation>, Vec<Observation>) =
            obs.iter().cloned().partition(|o| is_held(o));
        let mut held_out = Vec::new();
        if !test.is_empty() && train.len() >= MIN_FINETUNES - 1 {
            match fit_metric_step(loss_fit.clone(), &train, &opts) {
                Ok(without) => {
                    for o in &test {
                        let p = without.predict(o.n, o.d);
                        held_out.push(HeldMetric {
                            key: o.run.clone().unwrap_or_default(),
                            params: o.n,
                            tokens: o.d,
                            actual: o.metric.unwrap_or(f64::NAN),
                            predicted: p.metric,
                            interval: p.metric_interval,
                        });
                    }
                }
                Err(e) => notes.push(format!(
                    "{task} · {method}: the check without the held-out budget failed: {e}"
                )),
            }
        }
        let held_out_error = (!held_out.is_empty()).then(|| {
            held_out.iter().map(|h| (h.predicted - h.actual).abs()).sum::<f64>()
                / held_out.len() as f64
        });
        let trend = law.metric_fit.intervals.get("k").map(|&[lo, hi]| lo > 0.0 || hi < 0.0);
        laws.push(DownstreamLaw {
            task: task.to_string(),
            method: method.to_string(),
            chance,
            law,
            held_out,
            held_out_error,
            trend,
        });
    }
    (laws, notes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use isoflop_law::{FitOptions, fit};

    /// Twelve models over four budgets' worth of sizes, their loss by Hoffmann et al.'s law
    /// and their accuracy by a known sigmoid in loss; the last three are the held-out budget.
    fn sweep() -> (Fit, Vec<DownstreamRow>, Vec<String>) {
        let loss = |n: f64, d: f64| 1.69 + 406.4 / n.powf(0.34) + 410.7 / d.powf(0.28);
        let acc = |l: f64| 0.5 + 0.4 / (1.0 + (4.0 * (l - 3.6)).exp());
        let mut obs = Vec::new();
        let mut rows = Vec::new();
        for i in 0..12 {
            let n = 1e7 * 2.5f64.powi(i / 3);
            let d = 20.0 * n * 2f64.powi(i % 3 - 1);
            let l = loss(n, d);
            let mut o = Observation::new(n, d, l);
            o.run = Some(format!("m{i}"));
            obs.push(o);
            rows.push(DownstreamRow {
                key: format!("m{i}-ft-toy-full"),
                source: format!("m{i}"),
                task: "toy".into(),
                method: "full".into(),
                params: n,
                tokens: d,
                source_loss: Some(l),
                budget: None,
                accuracy: acc(l) + 0.003 * ((i * 3 % 5) as f64 - 2.0),
                macro_f1: None,
                majority_accuracy: Some(0.5),
                baseline_accuracy: None,
                trainable_fraction: Some(1.0),
                per_class: vec![],
            });
        }
        let opts = FitOptions { bootstrap: 8, grid_stride: 5, ..FitOptions::default() };
        let f = fit(&obs[..9], &opts).unwrap();
        (f, rows, (9..12).map(|i| format!("m{i}")).collect())
    }

    #[test]
    fn each_task_and_method_gets_a_law_checked_on_the_held_out_budget() {
        let (f, rows, held) = sweep();
        let held: Vec<&str> = held.iter().map(String::as_str).collect();
        let (laws, notes) = downstream_laws(&f, &rows, &held, 8, 1);
        assert!(notes.is_empty(), "{notes:?}");
        let [l] = laws.as_slice() else { panic!("{laws:?}") };
        assert_eq!((l.task.as_str(), l.method.as_str(), l.chance), ("toy", "full", Some(0.5)));
        assert_eq!(l.law.metric_fit.params["floor"], 0.5);
        assert_eq!(l.held_out.len(), 3);
        // Predicted from N and D by a law that never saw these three fine-tunes, beyond the
        // loss range it was fitted on: a few points off, each inside its bootstrap interval.
        let e = l.held_out_error.unwrap();
        assert!(e < 0.06, "{:?}", l.held_out);
        for h in &l.held_out {
            assert!(["m9", "m10", "m11"].iter().any(|k| h.key.starts_with(k)), "{}", h.key);
            let [lo, hi] = h.interval.unwrap();
            assert!(lo <= h.actual && h.actual <= hi, "{h:?}");
        }
        // Too few fine-tunes of a second method: a note, no law; scratch: no law, no note.
        let mut more = rows.clone();
        more.extend(rows.iter().map(|r| DownstreamRow { method: "scratch".into(), ..r.clone() }));
        more.extend(
            rows.iter().take(4).map(|r| DownstreamRow { method: "lora".into(), ..r.clone() }),
        );
        let (laws, notes) = downstream_laws(&f, &more, &held, 0, 1);
        assert_eq!(laws.len(), 1);
        assert!(notes[0].starts_with("toy · lora: 4 fine-tunes"), "{notes:?}");
    }
}
