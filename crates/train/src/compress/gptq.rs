//! GPTQ: quantize a linear layer column by column, spreading each column's rounding error over
//! the columns not yet quantized (Frantar, Ashkboos, Hoefler & Alistarh 2022, "GPTQ: Accurate
//! Post-Training Quantization for Generative Pre-trained Transformers").
//!
//! For a layer `y = x·Wᵀ` and calibration inputs `X` (`[n, cols]`), GPTQ minimises
//! `‖W·Xᵀ − Ŵ·Xᵀ‖²` row by row. Its Hessian is `H = (2/n)·XᵀX` (the same for every row). The
//! Optimal Brain Quantization step (their eq. 2–3, after Frantar & Alistarh 2022's OBC) quantizes
//! column `q` and updates the remaining weights `F` by
//!
//! ```text
//!   δ_F = −(w_q − quant(w_q)) / [H_F⁻¹]_qq · (H_F⁻¹)_{:,q}
//!   H_{F∖q}⁻¹ = (H_F⁻¹ − (H_F⁻¹)_{:,q}·(H_F⁻¹)_{q,:} / [H_F⁻¹]_qq)_{−q}
//! ```
//!
//! GPTQ quantizes the columns in a fixed order for every row, so the successive `H_F⁻¹` are
//! shared; their rows `q..` are exactly row `q` of the upper Cholesky factor `U` of `H⁻¹` (up to
//! the factor `U_qq`), which is computed once (§3.3). With `U`:
//! `err = (w_q − quant(w_q)) / U_qq`, `w_j −= err·U_qj` for `j > q`.
//!
//! Options as in the paper's code: dampening `λ = damp · mean(diag H)` added to the diagonal
//! (default 1%); columns whose input is always zero (`H_jj = 0`) get `H_jj = 1` and weight 0;
//! act-order (the "desc_act" heuristic) quantizes columns by decreasing `H_jj`. Group scales
//! are found when a group's first column is reached, from the already updated weights; with
//! act-order they are found from the original weights before any update ("static groups"),
//! so groups stay contiguous column ranges and the packed format is the same. The lazy batch
//! updates of §3.2 change only the memory traffic on a GPU, not the result, and are omitted.

use super::linalg::inverse_upper_cholesky;
use super::quantize::{GroupParams, QuantMatrix, Scheme};
use crate::kernels::matmul::{MatRef, Par, matmul};
use crate::{Error, Result};
use rayon::prelude::*;

/// GPTQ's default dampening, 1% of the mean diagonal (Frantar et al. 2022, §4 "Setup").
pub const DEFAULT_DAMP: f64 = 0.01;

/// GPTQ's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GptqOptions {
    /// Relative dampening of the Hessian's diagonal.
    pub damp: f64,
    /// Quantize columns in order of decreasing `H_jj`.
    pub act_order: bool,
}

impl Default for GptqOptions {
    fn default() -> Self {
        Self { damp: DEFAULT_DAMP, act_order: false }
    }
}

/// Running sums of the second moments of one layer's inputs: `XᵀX` (full, for GPTQ) or its
/// diagonal only (the squared column norms Wanda needs).
#[derive(Debug, Clone)]
pub struct InputStats {
    /// Input width.
    pub dim: usize,
    /// Rows seen.
    pub rows: usize,
    /// `Σ xᵀx`, `dim × dim` (empty when diagonal only).
    pub xtx: Vec<f64>,
    /// `Σ x_j²`.
    pub sq: Vec<f64>,
}

impl InputStats {
    /// Empty sums for inputs of width `dim`; `full` keeps the whole `XᵀX`.
    pub fn new(dim: usize, full: bool) -> Self {
        Self {
            dim,
            rows: 0,
            xtx: if full { vec![0.0; dim * dim] } else { Vec::new() },
            sq: vec![0.0; dim],
        }
    }

    /// Adds the rows of `x` (`[n, dim]`, row-major).
    pub fn add(&mut self, x: &[f32], par: Par) {
        let d = self.dim;
        let n = x.len() / d;
        if n == 0 {
            return;
        }
        for row in x.chunks_exact(d) {
            for (s, v) in self.sq.iter_mut().zip(row) {
                *s += f64::from(*v) * f64::from(*v);
            }
        }
        if !self.xtx.is_empty() {
            // One batch's product in f32 (gemm), summed into f64 across batches.
            let mut part = vec![0f32; d * d];
            let xm = MatRef::new(x, n, d);
            matmul(&mut part, d, xm.t(), xm, false, 1.0, par);
            for (a, b) in self.xtx.iter_mut().zip(&part) {
                *a += f64::from(*b);
            }
        }
        self.rows += n;
    }

    /// `H = (2/n)·XᵀX`.
    pub fn hessian(&self) -> Vec<f64> {
        let s = 2.0 / self.rows.max(1) as f64;
        self.xtx.iter().map(|v| v * s).collect()
    }

    /// `‖X_j‖₂` per input column.
    pub fn column_norms(&self) -> Vec<f64> {
        self.sq.iter().map(|v| v.sqrt()).collect()
    }
}

/// Quantizes `w` (`[rows, cols]`, row-major) with GPTQ against the Hessian `h` (`cols × cols`).
pub fn gptq(
    w: &[f32],
    rows: usize,
    cols: usize,
    h: &[f64],
    scheme: Scheme,
    opts: GptqOptions,
) -> Result<QuantMatrix> {
    scheme.validate()?;
    if w.len() != rows * cols || h.len() != cols * cols {
        return Err(Error::InvalidCompress(format!(
            "GPTQ: a [{rows}, {cols}] weight needs a {cols}×{cols} Hessian, got {} weights and {} \
             Hessian entries",
            w.len(),
            h.len()
        )));
    }
    if !(opts.damp.is_finite() && opts.damp >= 0.0) {
        return Err(Error::InvalidCompress(format!("dampening {} must be ≥ 0", opts.damp)));
    }
    let mut h = h.to_vec();
    let mut w: Vec<f64> = w.iter().map(|&x| f64::from(x)).collect();
    for j in 0..cols {
        if h[j * cols + j] == 0.0 {
            h[j * cols + j] = 1.0;
            for r in 0..rows {
                w[r * cols + j] = 0.0;
            }
        }
    }
    let mut perm: Vec<usize> = (0..cols).collect();
    if opts.act_order {
        perm.sort_by(|&a, &b| h[b * cols + b].total_cmp(&h[a * cols + a]).then(a.cmp(&b)));
    }
    let mut hp = vec![0.0; cols * cols];
    for a in 0..cols {
        for b in 0..cols {
            hp[a * cols + b] = h[perm[a] * cols + perm[b]];
        }
    }
    let mean_diag = (0..cols).map(|i| hp[i * cols + i]).sum::<f64>() / cols as f64;
    for i in 0..cols {
        hp[i * cols + i] += opts.damp * mean_diag;
    }
    let u = inverse_upper_cholesky(&hp, cols).ok_or_else(|| {
        Error::InvalidCompress(
            "GPTQ: the calibration Hessian is not positive definite; raise the dampening".into(),
        )
    })?;

    let gl = scheme.group_len(cols);
    let groups = scheme.groups(cols);
    let mut codes = vec![0u32; rows * cols];
    let mut params = vec![GroupParams { scale: 0.0, zero: 0 }; rows * groups];
    let per_row = |(row, (codes, params)): (&[f64], (&mut [u32], &mut [GroupParams]))| {
        let find = |vals: &[f64]| scheme.params_for(vals.iter().map(|&x| x as f32));
        // Per channel, or act-order's static groups: every grid from the original row.
        let static_grids = scheme.group_size.is_none() || opts.act_order;
        if static_grids {
            for (g, p) in params.iter_mut().enumerate() {
                let span = &row[g * gl..((g + 1) * gl).min(cols)];
                *p = find(span);
            }
        }
        let mut wp: Vec<f64> = perm.iter().map(|&j| row[j]).collect();
        for i in 0..cols {
            let col = perm[i];
            let g = col / gl;
            if !static_grids && i % gl == 0 {
                // Without act-order perm is the identity: the group is wp[i .. i + gl].
                params[g] = find(&wp[i..(i + gl).min(cols)]);
            }
            let p = params[g];
            let code = scheme.code(wp[i] as f32, p);
            codes[col] = code;
            let err = (wp[i] - f64::from(p.value(code))) / u[i * cols + i];
            let urow = &u[i * cols..(i + 1) * cols];
            for j in i + 1..cols {
                wp[j] -= err * urow[j];
            }
        }
    };
    w.par_chunks(cols)
        .zip(codes.par_chunks_mut(cols).zip(params.par_chunks_mut(groups)))
        .for_each(per_row);
    Ok(QuantMatrix {
        scheme,
        rows,
        cols,
        codes,
        scales: params.iter().map(|p| p.scale).collect(),
        zeros: params.iter().map(|p| p.zero).collect(),
    })
}

/// `Σ_rows ‖(W − Ŵ)·x‖²` averaged over the calibration rows: the layer-output error GPTQ
/// minimises, `tr((W − Ŵ)·H·(W − Ŵ)ᵀ)/2`.
pub fn output_error(w: &[f32], w_hat: &[f32], cols: usize, h: &[f64]) -> f64 {
    let mut total = 0.0;
    for (a, b) in w.chunks_exact(cols).zip(w_hat.chunks_exact(cols)) {
        let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| f64::from(x - y)).collect();
        for i in 0..cols {
            let hi = &h[i * cols..(i + 1) * cols];
            total += d[i] * hi.iter().zip(&d).map(|(h, d)| h * d).sum::<f64>();
        }
    }
    total / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compress::quantize::quantize_rtn;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Calibration inputs whose columns are strongly correlated (pairs of near-copies), and
    /// their Hessian.
    fn inputs(n: usize, cols: usize, seed: u64) -> (Vec<f32>, Vec<f64>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut x = vec![0f32; n * cols];
        for row in x.chunks_exact_mut(cols) {
            for j in 0..cols {
                row[j] = if j % 2 == 1 {
                    row[j - 1] + 0.05 * rng.gen_range(-1.0f32..1.0)
                } else {
                    rng.gen_range(-1.0..1.0) * (1.0 + j as f32 / 4.0)
                };
            }
        }
        let mut s = InputStats::new(cols, true);
        s.add(&x, Par::Seq);
        (x, s.hessian())
    }

    fn inverse(a: &[f64], n: usize) -> Vec<f64> {
        // Gauss–Jordan with partial pivoting, in f64.
        let mut m = a.to_vec();
        let mut inv: Vec<f64> =
            (0..n * n).map(|i| if i / n == i % n { 1.0 } else { 0.0 }).collect();
        for c in 0..n {
            let p =
                (c..n).max_by(|&i, &j| m[i * n + c].abs().total_cmp(&m[j * n + c].abs())).unwrap();
            for k in 0..n {
                m.swap(c * n + k, p * n + k);
                inv.swap(c * n + k, p * n + k);
            }
            let d = m[c * n + c];
            for k in 0..n {
                m[c * n + k] /= d;
                inv[c * n + k] /= d;
            }
            for r in 0..n {
                if r != c {
                    let f = m[r * n + c];
                    for k in 0..n {
                        m[r * n + k] -= f * m[c * n + k];
                        inv[r * n + k] -= f * inv[c * n + k];
                    }
                }
            }
        }
        inv
    }

    /// The OBQ recursion written out with the full inverse Hessian, updated by Gaussian
    /// elimination after every column (eq. 2–3 of the paper), in f64.
    fn reference(
        w: &[f32],
        rows: usize,
        cols: usize,
        h: &[f64],
        scheme: Scheme,
        damp: f64,
    ) -> Vec<u32> {
        let mut h = h.to_vec();
        let mean = (0..cols).map(|i| h[i * cols + i]).sum::<f64>() / cols as f64;
        for i in 0..cols {
            h[i * cols + i] += damp * mean;
        }
        let mut codes = vec![0; rows * cols];
        for r in 0..rows {
            let row = &w[r * cols..(r + 1) * cols];
            let p = scheme.params_for(row.iter().copied());
            let mut hinv = inverse(&h, cols);
            let mut wr: Vec<f64> = row.iter().map(|&x| f64::from(x)).collect();
            for q in 0..cols {
                let code = scheme.code(wr[q] as f32, p);
                codes[r * cols + q] = code;
                let d = hinv[q * cols + q];
                let err = (wr[q] - f64::from(p.value(code))) / d;
                for j in q + 1..cols {
                    wr[j] -= err * hinv[j * cols + q];
                }
                let col: Vec<f64> = (0..cols).map(|i| hinv[i * cols + q]).collect();
                for i in 0..cols {
                    for j in 0..cols {
                        hinv[i * cols + j] -= col[i] * col[j] / d;
                    }
                }
            }
        }
        codes
    }

    fn weights(rows: usize, cols: usize, seed: u64) -> Vec<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..rows * cols).map(|_| rng.gen_range(-1.0..1.0)).collect()
    }

    #[test]
    fn cholesky_gptq_reproduces_the_f64_obq_recursion() {
        let (rows, cols) = (5, 8);
        let (_, h) = inputs(64, cols, 1);
        let w = weights(rows, cols, 2);
        let scheme = Scheme { bits: 3, group_size: None, asymmetric: false };
        let q = gptq(&w, rows, cols, &h, scheme, GptqOptions::default()).unwrap();
        assert_eq!(q.codes, reference(&w, rows, cols, &h, scheme, DEFAULT_DAMP));
        // And it differs from rounding to nearest (the updates did something).
        assert_ne!(q.codes, quantize_rtn(&w, rows, cols, scheme).unwrap().codes);
    }

    #[test]
    fn gptq_beats_round_to_nearest_where_inputs_are_correlated() {
        let (rows, cols) = (16, 32);
        let (_, h) = inputs(512, cols, 3);
        let w = weights(rows, cols, 4);
        for (bits, group_size, asymmetric, act_order) in
            [(3, None, false, false), (4, Some(8), true, false), (3, Some(16), false, true)]
        {
            let s = Scheme { bits, group_size, asymmetric };
            let rtn = quantize_rtn(&w, rows, cols, s).unwrap().dequantize();
            let opts = GptqOptions { act_order, ..GptqOptions::default() };
            let g = gptq(&w, rows, cols, &h, s, opts).unwrap();
            assert!(g.codes.iter().all(|&c| c <= s.max_code()));
            let (e_rtn, e_gptq) =
                (output_error(&w, &rtn, cols, &h), output_error(&w, &g.dequantize(), cols, &h));
            // Near-copied input columns let the partner column absorb most of the error.
            assert!(
                e_gptq < 0.75 * e_rtn,
                "{s:?} act_order {act_order}: GPTQ {e_gptq} vs RTN {e_rtn}"
            );
        }
    }

    #[test]
    fn dead_inputs_zero_their_weights_and_bad_hessians_are_refused() {
        let (rows, cols) = (2, 3);
        let mut h = vec![0.0; 9];
        h[0] = 2.0;
        h[8] = 1.0; // column 1 never sees input
        let w = [0.5, 0.7, -0.2, 0.1, -0.9, 0.3];
        let s = Scheme { bits: 8, group_size: None, asymmetric: false };
        let q = gptq(&w, rows, cols, &h, s, GptqOptions::default()).unwrap().dequantize();
        assert_eq!((q[1], q[4]), (0.0, 0.0));
        assert!(gptq(&w, rows, cols, &h[..4], s, GptqOptions::default()).is_err());
        let neg = vec![-1.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, -1.0];
        let opts = GptqOptions { damp: 0.0, act_order: false };
        assert!(
            gptq(&w, rows, cols, &neg, s, opts)
                .unwrap_err()
                .to_string()
                .contains("positive definite")
        );
    }
}
