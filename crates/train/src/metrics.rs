//! Classification scores: accuracy, per-class precision/recall/F1, macro-F1 and the confusion
//! matrix, as an NLP practitioner reports them (macro-F1: the unweighted mean of the classes'
//! F1, so a classifier that ignores a rare class scores low even when accuracy is high; a class
//! never predicted has precision 0, as scikit-learn's `zero_division=0`).

use serde::{Deserialize, Serialize};

/// Scores of one class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassScore {
    /// The label.
    pub label: String,
    /// Of the examples predicted as this class, the share that are.
    pub precision: f64,
    /// Of the examples of this class, the share predicted as it.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Examples of this class.
    pub support: usize,
}

/// Scores of a set of predictions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    /// Share of correct predictions.
    pub accuracy: f64,
    /// Mean of the per-class F1.
    pub macro_f1: f64,
    /// One entry per label, in label order.
    pub per_class: Vec<ClassScore>,
    /// `confusion[true][predicted]`: counts.
    pub confusion: Vec<Vec<usize>>,
}

impl Scores {
    /// Scores predictions against gold labels (both label indices into `labels`).
    ///
    /// # Panics
    /// If the two lists differ in length or hold an index outside `labels`.
    pub fn new(labels: &[String], gold: &[usize], predicted: &[usize]) -> Scores {
        assert_eq!(gold.len(), predicted.len(), "scores: gold and predicted differ in length");
        let k = labels.len();
        let mut confusion = vec![vec![0usize; k]; k];
        for (&g, &p) in gold.iter().zip(predicted) {
            confusion[g][p] += 1;
        }
        let correct: usize = (0..k).map(|c| confusion[c][c]).sum();
        let per_class: Vec<ClassScore> = (0..k)
            .map(|c| {
                let tp = confusion[c][c] as f64;
                let support: usize = confusion[c].iter().sum();
                let predicted: usize = (0..k).map(|g| confusion[g][c]).sum();
                let precision = if predicted > 0 { tp / predicted as f64 } else { 0.0 };
                let recall = if support > 0 { tp / support as f64 } else { 0.0 };
                let f1 = if precision + recall > 0.0 {
                    2.0 * precision * recall / (precision + recall)
                } else {
                    0.0
                };
                ClassScore { label: labels[c].clone(), precision, recall, f1, support }
            })
            .collect();
        let macro_f1 = per_class.iter().map(|c| c.f1).sum::<f64>() / k.max(1) as f64;
        Scores {
            accuracy: correct as f64 / gold.len().max(1) as f64,
            macro_f1,
            per_class,
            confusion,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_scores() {
        let labels = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        // gold a a a b b c ; predicted a a b b a a
        let s = Scores::new(&labels, &[0, 0, 0, 1, 1, 2], &[0, 0, 1, 1, 0, 0]);
        assert!((s.accuracy - 0.5).abs() < 1e-12);
        assert_eq!(s.confusion, vec![vec![2, 1, 0], vec![1, 1, 0], vec![1, 0, 0]]);
        // a: P 2/4, R 2/3 → F1 4/7; b: P 1/2, R 1/2 → 1/2; c: never predicted → 0.
        assert!((s.per_class[0].f1 - 4.0 / 7.0).abs() < 1e-12);
        assert!((s.per_class[1].f1 - 0.5).abs() < 1e-12);
        assert_eq!(s.per_class[2].precision, 0.0);
        assert!((s.macro_f1 - (4.0 / 7.0 + 0.5) / 3.0).abs() < 1e-12);
    }
}
