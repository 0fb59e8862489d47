//! Wanda: prune by weight magnitude times input activation norm, per output row (Sun, Liu,
//! Bair & Kolter 2023, "A Simple and Effective Pruning Approach for Large Language Models").
//!
//! For a layer `y = x·Wᵀ` (`W: [out, in]`) and calibration inputs `X` (`[n, in]`), the score of
//! a weight is `S_ij = |W_ij| · ‖X_j‖₂` (their eq. 1), and weights are compared within each
//! output row `i` (§3, "comparison group"): the `round(s·in)` lowest-scoring weights of every
//! row are pruned. With N:M sparsity the same score picks the `N` kept weights of every `M`.
//! No weight update, no second-order information: one forward pass over the calibration set.

use super::prune::{n_m_mask, row_mask};
use crate::{Error, Result};

/// `|W_ij|·‖X_j‖` for `W: [rows, cols]` and the column norms of the inputs.
pub fn scores(w: &[f32], cols: usize, norms: &[f64]) -> Result<Vec<f32>> {
    if norms.len() != cols || !w.len().is_multiple_of(cols.max(1)) {
        return Err(Error::InvalidCompress(format!(
            "Wanda: {} input norms for a weight of {} columns",
            norms.len(),
            cols
        )));
    }
    Ok(w.iter().enumerate().map(|(i, x)| (f64::from(x.abs()) * norms[i % cols]) as f32).collect())
}

/// Wanda's mask at sparsity `s` (`n_m`: `Some((2, 4))` for 2:4).
pub fn wanda_mask(
    w: &[f32],
    cols: usize,
    norms: &[f64],
    s: f64,
    n_m: Option<(usize, usize)>,
) -> Result<Vec<bool>> {
    let sc = scores(w, cols, norms)?;
    match n_m {
        Some((n, m)) => n_m_mask(&sc, cols, n, m),
        None => row_mask(&sc, cols, s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activation_norms_change_what_is_pruned() {
        // Two columns of equal weights; the second sees inputs ten times larger.
        let w = [1.0f32, 1.0, 0.5, 0.5, 2.0, 1.9];
        let m = wanda_mask(&w, 2, &[1.0, 10.0], 0.5, None).unwrap();
        assert_eq!(m, [false, true, false, true, false, true]);
        // Magnitude alone would prune column 1 of the last row.
        let m = wanda_mask(&w, 2, &[1.0, 1.0], 0.5, None).unwrap();
        assert_eq!(&m[4..], &[true, false]);
        assert!(scores(&w, 2, &[1.0]).is_err());
    }

    #[test]
    fn wanda_masks_have_the_stated_sparsity_and_pattern() {
        let (rows, cols) = (8, 64);
        let w: Vec<f32> = (0..rows * cols).map(|i| ((i * 31 % 17) as f32 - 8.0) / 5.0).collect();
        let norms: Vec<f64> = (0..cols).map(|j| 1.0 + (j % 5) as f64).collect();
        for s in [0.25, 0.5, 0.7] {
            let m = wanda_mask(&w, cols, &norms, s, None).unwrap();
            for r in m.chunks_exact(cols) {
                assert_eq!(r.iter().filter(|&&k| !k).count(), (s * cols as f64).round() as usize);
            }
        }
        let m = wanda_mask(&w, cols, &norms, 0.5, Some((2, 4))).unwrap();
        assert!(m.chunks_exact(4).all(|g| g.iter().filter(|&&k| k).count() == 2));
    }
}
