//! Which parameters the data can identify.
//!
//! A law fitted to rows that never vary N cannot tell A from α: every value of α with a
//! matching A predicts those rows equally well, the optimiser stops wherever it happens to
//! be, and the reported parameters (and everything planned from them) mean nothing. The
//! same holds for constant D, for rows that are all one point, and more quietly for any
//! combination of parameters whose effects on the predictions cancel.
//!
//! The test is the classical one of nonlinear least squares (Bates & Watts 1988, "Nonlinear
//! Regression Analysis and Its Applications", section 2.2 and 3.3 on ill-conditioning): at
//! the optimum, the Jacobian J of the fit-space predictions with respect to the free raw
//! parameters has a null direction exactly when some combination of parameters can move
//! without changing any prediction. With J's columns scaled to unit length (so that units
//! and scales do not count), a parameter whose column is zero has no effect at all, and an
//! eigenvalue of JᵀJ far below its largest names a combination the rows cannot separate;
//! the eigenvector's large entries say which parameters take part.
//!
//! Raw parameters are the ones the optimiser moves (ln A rather than A), which is where the
//! question is well posed: a scale spanning orders of magnitude is one coordinate in ln.

use crate::forms::{Form, Point};
use crate::layout::Layout;

/// Ratio of an eigenvalue of the column-scaled JᵀJ to its largest below which the
/// combination is taken as not identified: 1e-10 is a condition number of 1e5 in J, past
/// which a relative change of 1e-5 in the predictions (far below any loss measurement's
/// noise) moves the combination by order one.
const EIGEN_RTOL: f64 = 1e-10;

/// An eigenvector entry at least this large (the vector has unit length) names its
/// parameter as part of the unidentified combination.
const MEMBER_MIN: f64 = 0.2;

/// Sentences naming the parameters (or combinations) the rows cannot identify at the
/// fitted raw vector `raw`; empty when every free parameter is identified.
pub(crate) fn unidentified(
    form: Form,
    points: &[Point],
    layout: &Layout,
    raw: &[f64],
) -> Vec<String> {
    let specs = form.params();
    // Free coordinate → the raw parameters it moves (a tied pair moves two).
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); layout.n_free()];
    for i in 0..specs.len() {
        if let Some(j) = layout.free_index(i) {
            members[j].push(i);
        }
    }
    let k = members.len();
    if k == 0 {
        return Vec::new();
    }
    let name = |j: usize| members[j].iter().map(|&i| specs[i].name).collect::<Vec<_>>().join("=");
    // J's columns, one per free coordinate.
    let mut cols = vec![vec![0.0; points.len()]; k];
    let mut g = vec![0.0; specs.len()];
    for (r, p) in points.iter().enumerate() {
        g.iter_mut().for_each(|v| *v = 0.0);
        form.eval(raw, &p.x, Some(&mut g));
        for (j, m) in members.iter().enumerate() {
            cols[j][r] = m.iter().map(|&i| g[i]).sum();
        }
    }
    let mut out = Vec::new();
    let norms: Vec<f64> =
        cols.iter().map(|c| c.iter().map(|v| v * v).sum::<f64>().sqrt()).collect();
    let top = norms.iter().copied().filter(|v| v.is_finite()).fold(0.0, f64::max);
    // Columns with no effect are reported alone and left out of the eigen-analysis.
    let mut live = Vec::new();
    for (j, &norm) in norms.iter().enumerate() {
        if !norm.is_finite() {
            out.push(format!("`{}`: the predictions' sensitivity to it is not finite", name(j)));
        } else if norm <= 1e-12 * top.max(f64::MIN_POSITIVE) {
            out.push(format!("`{}`: it has no effect on the prediction at any row", name(j)));
        } else {
            live.push(j);
        }
    }
    let m = live.len();
    if m < 2 {
        return out;
    }
    let mut a = vec![vec![0.0; m]; m];
    for (x, &jx) in live.iter().enumerate() {
        for (y, &jy) in live.iter().enumerate() {
            let dot: f64 = cols[jx].iter().zip(&cols[jy]).map(|(u, v)| u * v).sum();
            a[x][y] = dot / (norms[jx] * norms[jy]);
        }
    }
    let (values, vectors) = jacobi_eigen(a);
    let largest = values.iter().copied().fold(0.0, f64::max);
    // The null directions together: the parameters any of them moves, and how many
    // independent combinations of those the rows leave free.
    let null: Vec<usize> = (0..m).filter(|&e| values[e] <= EIGEN_RTOL * largest).collect();
    if !null.is_empty() {
        let names: Vec<String> = (0..m)
            .filter(|&x| null.iter().any(|&e| vectors[x][e].abs() >= MEMBER_MIN))
            .map(|x| format!("`{}`", name(live[x])))
            .collect();
        let free = match null.len() {
            1 => "one combination of them".to_string(),
            d => format!("{d} independent combinations of them"),
        };
        out.push(format!(
            "{} separately: {free} can change without changing any prediction",
            names.join(", ")
        ));
    }
    out
}

/// Eigenvalues and eigenvectors (as columns) of a small symmetric matrix by cyclic Jacobi
/// rotations (Golub & Van Loan, "Matrix Computations", 4th ed., section 8.5): exact to
/// rounding for the ≤ 8 × 8 matrices a law has, with no dependency.
fn jacobi_eigen(mut a: Vec<Vec<f64>>) -> (Vec<f64>, Vec<Vec<f64>>) {
    let n = a.len();
    let mut v = vec![vec![0.0; n]; n];
    for (i, row) in v.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|p| (0..n).filter(move |&q| q != p).map(move |q| (p, q)))
            .map(|(p, q)| a[p][q] * a[p][q])
            .sum();
        if off <= 1e-30 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                if a[p][q].abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for row in a.iter_mut() {
                    let (akp, akq) = (row[p], row[q]);
                    row[p] = c * akp - s * akq;
                    row[q] = s * akp + c * akq;
                }
                let (row_p, row_q) = (a[p].clone(), a[q].clone());
                for (k, (apk, aqk)) in row_p.into_iter().zip(row_q).enumerate() {
                    a[p][k] = c * apk - s * aqk;
                    a[q][k] = s * apk + c * aqk;
                }
                for row in v.iter_mut() {
                    let (vkp, vkq) = (row[p], row[q]);
                    row[p] = c * vkp - s * vkq;
                    row[q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..n).map(|i| a[i][i]).collect(), v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FitOptions, Observation, fit};

    #[test]
    fn jacobi_finds_a_null_direction() {
        // [[1, 1], [1, 1]]: eigenvalues 0 and 2, the null vector (1, -1)/√2.
        let (vals, vecs) = jacobi_eigen(vec![vec![1.0, 1.0], vec![1.0, 1.0]]);
        let zero = vals.iter().position(|v| v.abs() < 1e-12).expect("a zero eigenvalue");
        assert!((vals[1 - zero] - 2.0).abs() < 1e-12);
        assert!((vecs[0][zero] + vecs[1][zero]).abs() < 1e-12);
    }

    fn law(n: f64, d: f64) -> f64 {
        1.7 + 400.0 / n.powf(0.34) + 400.0 / d.powf(0.28)
    }

    #[test]
    fn a_well_designed_sweep_identifies_everything() {
        let obs: Vec<Observation> = (0..12)
            .map(|i| {
                let n = 1e7 * 2f64.powi(i / 3);
                let d = 20.0 * n * 2f64.powi(i % 3 - 1);
                Observation::new(n, d, law(n, d))
            })
            .collect();
        let f = fit(&obs, &FitOptions { grid_stride: 29, ..FitOptions::default() }).unwrap();
        assert!(f.warnings.is_empty(), "{:?}", f.warnings);
    }

    #[test]
    fn constant_n_leaves_a_and_alpha_unidentified() {
        let obs: Vec<Observation> = (0..10)
            .map(|i| {
                let d = 1e9 * 1.5f64.powi(i);
                Observation::new(1e8, d, law(1e8, d))
            })
            .collect();
        // Either a fit that says so, or (when the free directions run off to a law its own
        // loader refuses) an error that says so: never a silent fit.
        let all = match fit(&obs, &FitOptions { grid_stride: 29, ..FitOptions::default() }) {
            Ok(f) => f.warnings.join("\n"),
            Err(e) => e.to_string(),
        };
        assert!(all.contains("`A`") && all.contains("`alpha`") && all.contains("`E`"), "{all}");
        assert!(!all.contains("`beta`") && !all.contains("`B`"), "{all}");
        assert!(all.contains("2 independent combinations"), "{all}");
    }
}
