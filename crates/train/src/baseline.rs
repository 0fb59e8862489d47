//! The bag-of-words baseline every task is shown with: multinomial naive Bayes on word
//! unigrams and bigrams with add-one smoothing (Manning, Raghavan & Schütze 2008, ch. 13;
//! Wang & Manning 2012 report MNB with bigrams at 79.0% on Pang & Lee's sentence polarity
//! data, the source of the `mr` task). It tells a user what "good" means on a task before any
//! language model is trained.
//!
//! Words are maximal runs of alphanumeric characters (plus `'`), lowercased; a bigram is two
//! neighbouring words. Features never seen in training are ignored at prediction time.

use crate::metrics::Scores;
use crate::task::{Example, Task};
use std::collections::HashMap;

/// Add-one (Laplace) smoothing of the per-class feature counts.
const ALPHA: f64 = 1.0;

/// A trained multinomial naive Bayes classifier.
#[derive(Debug, Clone)]
pub struct NaiveBayes {
    log_prior: Vec<f64>,
    /// Per feature: its log-probability under each class.
    log_likelihood: HashMap<String, Vec<f64>>,
}

/// The unigram and bigram features of a text.
pub fn features(text: &str) -> Vec<String> {
    let words: Vec<String> = text
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let bigrams = words.windows(2).map(|w| format!("{} {}", w[0], w[1]));
    words.iter().cloned().chain(bigrams).collect()
}

impl NaiveBayes {
    /// Trains on `examples` with `classes` labels.
    pub fn train(examples: &[Example], classes: usize) -> NaiveBayes {
        let mut counts: HashMap<String, Vec<f64>> = HashMap::new();
        let mut docs = vec![0.0f64; classes];
        let mut totals = vec![0.0f64; classes];
        for e in examples {
            docs[e.label] += 1.0;
            for f in features(&e.text) {
                counts.entry(f).or_insert_with(|| vec![0.0; classes])[e.label] += 1.0;
                totals[e.label] += 1.0;
            }
        }
        let vocab = counts.len() as f64;
        let n = examples.len().max(1) as f64;
        // A class with no training example gets a prior of ~0 rather than ln 0.
        let log_prior = docs.iter().map(|&d| ((d + 1e-9) / n).ln()).collect();
        let log_likelihood = counts
            .into_iter()
            .map(|(f, c)| {
                let ll = (0..classes)
                    .map(|k| ((c[k] + ALPHA) / (totals[k] + ALPHA * vocab)).ln())
                    .collect();
                (f, ll)
            })
            .collect();
        NaiveBayes { log_prior, log_likelihood }
    }

    /// The most probable class of `text`.
    pub fn predict(&self, text: &str) -> usize {
        let mut score = self.log_prior.clone();
        for f in features(text) {
            if let Some(ll) = self.log_likelihood.get(&f) {
                for (s, l) in score.iter_mut().zip(ll) {
                    *s += l;
                }
            }
        }
        (0..score.len()).fold(0, |best, k| if score[k] > score[best] { k } else { best })
    }
}

/// Trains naive Bayes on the task's train split and scores it on the test split.
pub fn naive_bayes_scores(task: &Task) -> Scores {
    let nb = NaiveBayes::train(&task.train, task.labels.len());
    let gold: Vec<usize> = task.test.iter().map(|e| e.label).collect();
    let predicted: Vec<usize> = task.test.iter().map(|e| nb.predict(&e.text)).collect();
    Scores::new(&task.labels, &gold, &predicted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_are_lowercased_words_and_bigrams() {
        assert_eq!(
            features("Not GOOD, isn't it"),
            ["not", "good", "isn't", "it", "not good", "good isn't", "isn't it"]
        );
    }

    #[test]
    fn learns_a_separable_task() {
        let mut ex = Vec::new();
        for i in 0..50 {
            ex.push(Example { text: format!("great fun film {i}"), label: 0 });
            ex.push(Example { text: format!("dull boring film {i}"), label: 1 });
        }
        let nb = NaiveBayes::train(&ex, 2);
        assert_eq!(nb.predict("a great film"), 0);
        assert_eq!(nb.predict("so boring"), 1);
    }
}
