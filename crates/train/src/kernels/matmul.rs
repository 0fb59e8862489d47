//! Matrix products through the `gemm` crate, with strides so that transposes cost nothing.
//!
//! `gemm` (S. El Kazdadi) computes dst := α·dst + β·lhs·rhs on raw pointers with row and column
//! strides and packs its operands itself, so `x·Wᵀ`, `dyᵀ·x` and the per-head attention
//! products read the activations where they lie. This file is the one place that checks the
//! bounds of those strided views and calls into it.

use gemm::Parallelism;

/// A read-only strided view of an f32 matrix: element (i, j) is `data[i·rs + j·cs]`.
#[derive(Debug, Clone, Copy)]
pub struct MatRef<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl<'a> MatRef<'a> {
    /// A row-major `[rows, cols]` matrix stored contiguously at the start of `data`.
    pub fn new(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self::strided(data, rows, cols, cols)
    }

    /// A row-major `[rows, cols]` block whose rows are `row_stride` apart (a column slice of
    /// a wider matrix: one head's queries inside the fused `[T, 3d]` projection, say).
    pub fn strided(data: &'a [f32], rows: usize, cols: usize, row_stride: usize) -> Self {
        let m = Self { data, rows, cols, rs: row_stride, cs: 1 };
        m.check();
        m
    }

    /// The transpose, as a view of the same memory.
    pub fn t(self) -> Self {
        Self { data: self.data, rows: self.cols, cols: self.rows, rs: self.cs, cs: self.rs }
    }

    /// Rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    fn check(&self) {
        if self.rows > 0 && self.cols > 0 {
            let last = (self.rows - 1) * self.rs + (self.cols - 1) * self.cs;
            assert!(
                last < self.data.len(),
                "matrix view [{}, {}] with strides ({}, {}) needs {} elements, slice has {}",
                self.rows,
                self.cols,
                self.rs,
                self.cs,
                last + 1,
                self.data.len()
            );
        }
    }
}

/// How a product may use threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Par {
    /// On the calling thread only (inside an already parallel loop).
    Seq,
    /// On up to this many threads of the current rayon pool.
    Threads(usize),
}

/// dst = β·a·b (`accumulate` false) or dst += β·a·b (`accumulate` true), where dst is a
/// row-major `[a.rows, b.cols]` block with rows `dst_rs` apart.
///
/// # Panics
/// If the inner dimensions differ or a view does not fit its slice.
pub fn matmul(
    dst: &mut [f32],
    dst_rs: usize,
    a: MatRef<'_>,
    b: MatRef<'_>,
    accumulate: bool,
    beta: f32,
    par: Par,
) {
    assert_eq!(a.cols, b.rows, "matmul: [{}, {}]·[{}, {}]", a.rows, a.cols, b.rows, b.cols);
    let (m, n, k) = (a.rows, b.cols, a.cols);
    if m == 0 || n == 0 {
        return;
    }
    assert!(dst_rs >= n, "matmul: destination row stride {dst_rs} < {n} columns");
    assert!(
        (m - 1) * dst_rs + n <= dst.len(),
        "matmul: destination [{m}, {n}] with row stride {dst_rs} does not fit {} elements",
        dst.len()
    );
    if k == 0 {
        if !accumulate {
            for row in dst.chunks_mut(dst_rs).take(m) {
                row[..n].fill(0.0);
            }
        }
        return;
    }
    let parallelism = match par {
        Par::Seq | Par::Threads(0 | 1) => Parallelism::None,
        Par::Threads(t) => Parallelism::Rayon(t),
    };
    // SAFETY: every element gemm touches lies inside the slices: the views were checked by
    // `MatRef::check` and the destination just above; `dst` is borrowed mutably, so it
    // cannot alias `a` or `b`. The strides fit in isize because they index real slices.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_rs as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            1.0,
            beta,
            false,
            false,
            false,
            parallelism,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strided_transposed_product() {
        // a = [[1, 2], [3, 4]] stored with row stride 3; bᵀ where b = [[5, 6], [7, 8]]:
        // a·bᵀ = [[1·5 + 2·6, 1·7 + 2·8], [3·5 + 4·6, 3·7 + 4·8]] = [[17, 23], [39, 53]].
        let a = [1.0, 2.0, -1.0, 3.0, 4.0];
        let b = [5.0, 6.0, 7.0, 8.0];
        let mut dst = [1.0; 4];
        matmul(
            &mut dst,
            2,
            MatRef::strided(&a, 2, 2, 3),
            MatRef::new(&b, 2, 2).t(),
            false,
            1.0,
            Par::Seq,
        );
        assert_eq!(dst, [17.0, 23.0, 39.0, 53.0]);
        matmul(
            &mut dst,
            2,
            MatRef::strided(&a, 2, 2, 3),
            MatRef::new(&b, 2, 2).t(),
            true,
            2.0,
            Par::Seq,
        );
        assert_eq!(dst, [51.0, 69.0, 117.0, 159.0]);
    }

    #[test]
    #[should_panic(expected = "needs 6 elements")]
    fn view_out_of_bounds_panics() {
        MatRef::strided(&[0.0; 5], 2, 2, 4);
    }
}
