//! The dense f64 linear algebra GPTQ needs: Cholesky factors and the upper Cholesky factor of
//! an inverse. Matrices are `n × n`, row-major. `O(n³)`, fine for the layer widths isoflop
//! trains (n ≤ a few thousand).

/// The lower Cholesky factor `L` of a symmetric positive-definite `a = L·Lᵀ`; `None` if a pivot
/// is not positive (the matrix is not positive definite in floating point).
pub fn cholesky(a: &[f64], n: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; n * n];
    for j in 0..n {
        let row_j = j * n;
        let mut d = a[row_j + j];
        for k in 0..j {
            d -= l[row_j + k] * l[row_j + k];
        }
        if d.is_nan() || d <= 0.0 {
            return None;
        }
        let d = d.sqrt();
        l[row_j + j] = d;
        for i in j + 1..n {
            let row_i = i * n;
            let mut s = a[row_i + j];
            for k in 0..j {
                s -= l[row_i + k] * l[row_j + k];
            }
            l[row_i + j] = s / d;
        }
    }
    Some(l)
}

/// The inverse of a lower-triangular matrix (lower-triangular again).
pub fn invert_lower(l: &[f64], n: usize) -> Vec<f64> {
    let mut inv = vec![0.0; n * n];
    for i in 0..n {
        inv[i * n + i] = 1.0 / l[i * n + i];
        for j in (0..i).rev() {
            // (L·X)[i, j] = 0 for i > j: X[i, j] = −(Σ_{k=j}^{i−1} L[i, k]·X[k, j]) / L[i, i].
            let mut s = 0.0;
            for k in j..i {
                s += l[i * n + k] * inv[k * n + j];
            }
            inv[i * n + j] = -s / l[i * n + i];
        }
    }
    inv
}

/// The upper-triangular `U` with `a⁻¹ = Uᵀ·U`, for a symmetric positive-definite `a`: the rows
/// GPTQ reads (Frantar et al. 2022, §3.3, "Cholesky reformulation"). `None` if `a` is not
/// positive definite.
pub fn inverse_upper_cholesky(a: &[f64], n: usize) -> Option<Vec<f64>> {
    let l = cholesky(a, n)?;
    let li = invert_lower(&l, n);
    // a⁻¹ = L⁻ᵀ·L⁻¹: entry (i, j) = Σ_k Li[k, i]·Li[k, j], k ≥ max(i, j).
    let mut inv = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let mut s = 0.0;
            for k in i..n {
                s += li[k * n + i] * li[k * n + j];
            }
            inv[i * n + j] = s;
            inv[j * n + i] = s;
        }
    }
    let l2 = cholesky(&inv, n)?;
    // U = L2ᵀ.
    let mut u = vec![0.0; n * n];
    for i in 0..n {
        for j in i..n {
            u[i * n + j] = l2[j * n + i];
        }
    }
    Some(u)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spd(n: usize) -> Vec<f64> {
        // A·Aᵀ + I for a fixed A.
        let a: Vec<f64> = (0..n * n).map(|i| ((i * 37 % 11) as f64 - 5.0) / 7.0).collect();
        let mut m = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                m[i * n + j] = (0..n).map(|k| a[i * n + k] * a[j * n + k]).sum::<f64>();
            }
            m[i * n + i] += 1.0;
        }
        m
    }

    #[test]
    fn factors_reproduce_the_matrix_and_its_inverse() {
        let n = 6;
        let a = spd(n);
        let l = cholesky(&a, n).unwrap();
        for i in 0..n {
            for j in 0..n {
                let s: f64 = (0..n).map(|k| l[i * n + k] * l[j * n + k]).sum();
                assert!((s - a[i * n + j]).abs() < 1e-12);
            }
        }
        let u = inverse_upper_cholesky(&a, n).unwrap();
        // a · (Uᵀ U) = I
        for i in 0..n {
            for j in 0..n {
                let s: f64 = (0..n)
                    .map(|k| {
                        a[i * n + k] * (0..n).map(|m| u[m * n + k] * u[m * n + j]).sum::<f64>()
                    })
                    .sum();
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((s - want).abs() < 1e-10, "({i}, {j}): {s}");
            }
            for j in 0..i {
                assert_eq!(u[i * n + j], 0.0);
            }
        }
        let mut not_pd = a.clone();
        not_pd[0] = -1.0;
        assert!(cholesky(&not_pd, n).is_none());
    }
}
