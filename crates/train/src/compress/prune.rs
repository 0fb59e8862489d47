//! Pruning masks: unstructured by a score at sparsity `s`, and N:M semi-structured.
//!
//! A mask has one flag per weight of a `[rows, cols]` matrix, row-major: `true` keeps the weight.
//!
//! - **Magnitude** (Han et al. 2015, "Learning both Weights and Connections"; the baseline of
//!   Sun et al. 2023): score `|W_ij|`, the `round(s·rows·cols)` lowest-scoring weights of the
//!   whole matrix are pruned.
//! - **Per output row** ([`row_mask`]): the `round(s·cols)` lowest scores of each row are
//!   pruned; Wanda compares weights this way ([`super::wanda`]).
//! - **N:M** ([`n_m_mask`]): in every run of `M` consecutive weights of a row, the `N` highest
//!   scores are kept; 2:4 is the pattern sparse tensor cores run at twice the dense rate
//!   (Mishra et al. 2021, "Accelerating Sparse Deep Neural Networks"), sparsity exactly 50%.
//!
//! Ties are broken by position (the earlier weight is pruned first), so the pruned count is
//! exact whatever the values.

use crate::{Error, Result};

/// Checks a sparsity.
pub fn check_sparsity(s: f64) -> Result<()> {
    if !(0.0..1.0).contains(&s) {
        return Err(Error::InvalidCompress(format!("sparsity {s} must lie in [0, 1)")));
    }
    Ok(())
}

/// Keeps all but the `k` lowest of `scores`: `mask[i]` is false for the pruned.
fn prune_lowest(scores: &[f32], k: usize, mask: &mut [bool]) {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(a.cmp(&b)));
    mask.fill(true);
    for &i in &order[..k.min(scores.len())] {
        mask[i] = false;
    }
}

/// Magnitude pruning of a whole matrix at sparsity `s`: `round(s·n)` weights pruned.
pub fn magnitude_mask(w: &[f32], s: f64) -> Result<Vec<bool>> {
    check_sparsity(s)?;
    let scores: Vec<f32> = w.iter().map(|x| x.abs()).collect();
    let mut mask = vec![true; w.len()];
    prune_lowest(&scores, (s * w.len() as f64).round() as usize, &mut mask);
    Ok(mask)
}

/// Prunes the `round(s·cols)` lowest `scores` of every row.
pub fn row_mask(scores: &[f32], cols: usize, s: f64) -> Result<Vec<bool>> {
    check_sparsity(s)?;
    let k = (s * cols as f64).round() as usize;
    let mut mask = vec![true; scores.len()];
    for (sc, m) in scores.chunks_exact(cols).zip(mask.chunks_exact_mut(cols)) {
        prune_lowest(sc, k, m);
    }
    Ok(mask)
}

/// Keeps the `n` highest `scores` of every `m` consecutive weights of each row.
pub fn n_m_mask(scores: &[f32], cols: usize, n: usize, m: usize) -> Result<Vec<bool>> {
    if n > m || m == 0 || !cols.is_multiple_of(m) {
        return Err(Error::InvalidCompress(format!(
            "{n}:{m} sparsity needs rows whose length ({cols}) is a multiple of {m}, and n ≤ m"
        )));
    }
    let mut mask = vec![true; scores.len()];
    for (sc, mk) in scores.chunks_exact(m).zip(mask.chunks_exact_mut(m)) {
        prune_lowest(sc, m - n, mk);
    }
    Ok(mask)
}

/// Zeroes the pruned weights.
pub fn apply_mask(w: &mut [f32], mask: &[bool]) {
    for (x, &keep) in w.iter_mut().zip(mask) {
        if !keep {
            *x = 0.0;
        }
    }
}

/// The fraction of weights a mask prunes.
pub fn sparsity(mask: &[bool]) -> f64 {
    mask.iter().filter(|&&k| !k).count() as f64 / mask.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(n: usize) -> Vec<f32> {
        // Repeated magnitudes, so ties must be broken to hit the count.
        (0..n).map(|i| ((i * 7919 % 13) as f32 - 6.0) / 3.0).collect()
    }

    #[test]
    fn magnitude_prunes_exactly_the_smallest() {
        let w = w(100);
        for s in [0.0, 0.1, 0.5, 0.73, 0.99] {
            let m = magnitude_mask(&w, s).unwrap();
            let pruned = m.iter().filter(|&&k| !k).count();
            assert_eq!(pruned, (s * 100.0).round() as usize, "s = {s}");
            let max_pruned =
                w.iter().zip(&m).filter(|p| !p.1).map(|p| p.0.abs()).fold(0.0, f32::max);
            let min_kept =
                w.iter().zip(&m).filter(|p| *p.1).map(|p| p.0.abs()).fold(f32::MAX, f32::min);
            assert!(max_pruned <= min_kept);
        }
        assert!(magnitude_mask(&w, 1.0).is_err());
        assert!(magnitude_mask(&w, -0.1).is_err());
    }

    #[test]
    fn row_masks_prune_the_same_count_in_every_row() {
        let (rows, cols) = (6, 20);
        let sc: Vec<f32> = w(rows * cols).iter().map(|x| x.abs()).collect();
        let m = row_mask(&sc, cols, 0.5).unwrap();
        for r in m.chunks_exact(cols) {
            assert_eq!(r.iter().filter(|&&k| !k).count(), 10);
        }
        assert_eq!(sparsity(&m), 0.5);
    }

    #[test]
    fn two_four_keeps_two_of_every_four() {
        let (rows, cols) = (3, 16);
        let sc: Vec<f32> = w(rows * cols).iter().map(|x| x.abs()).collect();
        let m = n_m_mask(&sc, cols, 2, 4).unwrap();
        for (g, s) in m.chunks_exact(4).zip(sc.chunks_exact(4)) {
            assert_eq!(g.iter().filter(|&&k| k).count(), 2);
            let kept_min = (0..4).filter(|&i| g[i]).map(|i| s[i]).fold(f32::MAX, f32::min);
            let pruned_max = (0..4).filter(|&i| !g[i]).map(|i| s[i]).fold(0.0, f32::max);
            assert!(pruned_max <= kept_min);
        }
        assert_eq!(sparsity(&m), 0.5);
        assert!(n_m_mask(&sc, 18, 2, 4).is_err());
        let mut x = vec![1.0; 4];
        apply_mask(&mut x, &[true, false, true, false]);
        assert_eq!(x, [1.0, 0.0, 1.0, 0.0]);
    }
}
