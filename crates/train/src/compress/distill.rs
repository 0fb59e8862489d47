//! Knowledge distillation: a student trained on a teacher's softened predictions mixed with
//! the next-token loss (Hinton, Vinyals & Dean 2015, "Distilling the Knowledge in a Neural
//! Network").
//!
//! For student logits `z`, teacher logits `t`, target `y`, temperature `τ` and mix `α`, per
//! token:
//!
//! ```text
//!   p_T = softmax(t/τ),  q = softmax(z/τ),  p = softmax(z)
//!   ℓ = α·(logsumexp(z) − z_y) + (1 − α)·τ²·KL(p_T ‖ q)
//!   ∂ℓ/∂z = α·(p − onehot(y)) + (1 − α)·τ·(q − p_T)
//! ```
//!
//! The `τ²` keeps the soft term's gradient on the scale of the hard term's as `τ` changes
//! (Hinton et al., §2). The loss is the mean over tokens, and so is the gradient (÷ n). With
//! `α = 1` the loss is plain cross-entropy: the from-scratch student of the comparison is the
//! same loop with no teacher.

use crate::{Error, Result};
use rayon::prelude::*;

/// Hinton et al.'s soft-target temperature range starts at 2; 2 is the default here.
pub const DEFAULT_TEMPERATURE: f32 = 2.0;
/// Weight of the next-token (hard) loss; the soft loss gets `1 − α`.
pub const DEFAULT_ALPHA: f32 = 0.5;

/// Checks `τ > 0` and `α ∈ [0, 1]`.
pub fn check(tau: f32, alpha: f32) -> Result<()> {
    if !(tau.is_finite() && tau > 0.0 && (0.0..=1.0).contains(&alpha)) {
        return Err(Error::InvalidCompress(format!(
            "distillation needs a temperature > 0 and a mix α in [0, 1], got τ = {tau}, α = {alpha}"
        )));
    }
    Ok(())
}

/// The mean distillation loss of `n = targets.len()` rows of `vocab` logits. With `grad`,
/// `student` is overwritten by `∂loss/∂student` (the mean's gradient).
pub fn loss(
    student: &mut [f32],
    teacher: &[f32],
    targets: &[u32],
    vocab: usize,
    tau: f32,
    alpha: f32,
    grad: bool,
) -> f64 {
    let n = targets.len();
    assert_eq!(student.len(), n * vocab, "distill: student logits are not [{n}, {vocab}]");
    assert_eq!(teacher.len(), n * vocab, "distill: teacher logits are not [{n}, {vocab}]");
    let (tau, alpha) = (f64::from(tau), f64::from(alpha));
    let inv_n = 1.0 / n.max(1) as f64;
    let total: f64 = student
        .par_chunks_mut(vocab)
        .zip(teacher.par_chunks(vocab))
        .zip(targets.par_iter())
        .map(|((z, t), &y)| {
            let z64: Vec<f64> = z.iter().map(|&v| f64::from(v)).collect();
            let log_softmax = |v: &mut dyn Iterator<Item = f64>| -> Vec<f64> {
                let v: Vec<f64> = v.collect();
                let m = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let lse = m + v.iter().map(|x| (x - m).exp()).sum::<f64>().ln();
                v.iter().map(|x| x - lse).collect()
            };
            let lp = log_softmax(&mut z64.iter().copied());
            let lq = log_softmax(&mut z64.iter().map(|x| x / tau));
            let lpt = log_softmax(&mut t.iter().map(|&x| f64::from(x) / tau));
            let ce = -lp[y as usize];
            let kl: f64 = lpt.iter().zip(&lq).map(|(a, b)| a.exp() * (a - b)).sum();
            if grad {
                for (j, g) in z.iter_mut().enumerate() {
                    let hard = lp[j].exp() - if j == y as usize { 1.0 } else { 0.0 };
                    let soft = lq[j].exp() - lpt[j].exp();
                    *g = ((alpha * hard + (1.0 - alpha) * tau * soft) * inv_n) as f32;
                }
            }
            alpha * ce + (1.0 - alpha) * tau * tau * kl
        })
        .sum();
    total * inv_n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logits(n: usize, v: usize, seed: u32) -> Vec<f32> {
        (0..n * v)
            .map(|i| (((i as u32).wrapping_mul(2_654_435_761) ^ seed) % 1000) as f32 / 250.0 - 2.0)
            .collect()
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let (n, v) = (3, 7);
        let (z, t) = (logits(n, v, 1), logits(n, v, 99));
        let y = [0u32, 6, 3];
        for (tau, alpha) in [(1.0, 0.5), (2.0, 0.3), (4.0, 0.0), (1.5, 1.0)] {
            let mut g = z.clone();
            loss(&mut g, &t, &y, v, tau, alpha, true);
            let f = |z: &[f32]| loss(&mut z.to_vec(), &t, &y, v, tau, alpha, false);
            let h = 1e-2f32;
            for i in 0..n * v {
                let (mut a, mut b) = (z.clone(), z.clone());
                a[i] += h;
                b[i] -= h;
                let fd = (f(&a) - f(&b)) / (2.0 * f64::from(h));
                assert!(
                    (fd - f64::from(g[i])).abs() < 1e-4,
                    "τ {tau} α {alpha} at {i}: {fd} vs {}",
                    g[i]
                );
            }
        }
    }

    #[test]
    fn the_soft_term_vanishes_when_student_equals_teacher() {
        let (n, v) = (2, 5);
        let z = logits(n, v, 5);
        let y = [1u32, 2];
        let hard = loss(&mut z.clone(), &z, &y, v, 2.0, 1.0, false);
        let mixed = loss(&mut z.clone(), &z, &y, v, 2.0, 0.5, false);
        assert!((mixed - 0.5 * hard).abs() < 1e-9);
        assert!(check(0.0, 0.5).is_err() && check(2.0, 1.5).is_err() && check(2.0, 0.5).is_ok());
    }
}
