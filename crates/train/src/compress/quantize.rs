//! Round-to-nearest (RTN) integer quantization of a weight matrix, per output channel or per
//! group of input columns, symmetric or asymmetric.
//!
//! A weight matrix `W` is `[rows = out, cols = in]` as PyTorch's `nn.Linear`. Each row is cut
//! into groups of `g` consecutive columns (the last may be shorter; "per channel" is one group
//! of the whole row, the LLM.int8() absmax scheme of Dettmers et al. 2022 without outliers).
//! For `b` bits, every group gets one scale `s` (stored as fp16, rounded *up* so that no value
//! clips) and, when asymmetric, one zero point `z ∈ [0, 2^b − 1]`:
//!
//! - symmetric: `qmax = 2^(b−1) − 1`, `s = max|w| / qmax`, `q = clamp(round(w/s), −qmax, qmax)`,
//!   `ŵ = q·s`; the code stored is `q + 2^(b−1)`; error `|w − ŵ| ≤ s/2`.
//! - asymmetric: `s = (max w − min w) / (2^b − 1)`, `z = round(−min w / s)`,
//!   `q = clamp(round(w/s) + z, 0, 2^b − 1)`, `ŵ = (q − z)·s`; error `|w − ŵ| ≤ s` (the
//!   rounding of `z` can move the top of the range by up to half a step, and clamping costs at
//!   most that half step again). This is the GPTQ/AWQ packing (Frantar et al. 2022, Lin et al.
//!   2024), whose storage [`isoflop_cost::Quantization`] counts.
//!
//! Codes are unsigned `b`-bit integers in both schemes, so one bit-packer ([`super::pack`])
//! stores them.

use crate::{Error, Result};
use half::f16;
use serde::{Deserialize, Serialize};

/// How a matrix is quantized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scheme {
    /// Bits per weight, 2..=8.
    pub bits: u32,
    /// Columns per group; `None` is one group per output row (per-channel).
    pub group_size: Option<usize>,
    /// A zero point per group (asymmetric) or none (symmetric around 0).
    pub asymmetric: bool,
}

impl Scheme {
    /// Checks the bit width and group size.
    pub fn validate(&self) -> Result<()> {
        if !(2..=8).contains(&self.bits) {
            return Err(Error::InvalidCompress(format!(
                "{} bits: quantization takes 2 to 8 bits",
                self.bits
            )));
        }
        if self.group_size == Some(0) {
            return Err(Error::InvalidCompress("group size must be positive".into()));
        }
        Ok(())
    }

    /// The largest code, `2^b − 1`.
    pub fn max_code(&self) -> u32 {
        (1 << self.bits) - 1
    }

    /// Columns per group for a row of `cols` columns.
    pub fn group_len(&self, cols: usize) -> usize {
        self.group_size.unwrap_or(cols).min(cols).max(1)
    }

    /// Groups per row of `cols` columns.
    pub fn groups(&self, cols: usize) -> usize {
        cols.div_ceil(self.group_len(cols))
    }

    /// The quantization grid of one group of weights: its scale and zero point.
    pub fn params_for(&self, w: impl Iterator<Item = f32> + Clone) -> GroupParams {
        if self.asymmetric {
            let (lo, hi) = w.fold((0f32, 0f32), |(lo, hi), x| (lo.min(x), hi.max(x)));
            // Including 0 in the range keeps an exact zero (pruned weights stay zero).
            let scale = round_up_f16((hi - lo) / self.max_code() as f32);
            let zero = if scale > 0.0 {
                (-lo / scale).round().clamp(0.0, self.max_code() as f32) as u32
            } else {
                0
            };
            GroupParams { scale, zero }
        } else {
            let absmax = w.fold(0f32, |m, x| m.max(x.abs()));
            let qmax = ((1u32 << (self.bits - 1)) - 1) as f32;
            GroupParams { scale: round_up_f16(absmax / qmax), zero: 1 << (self.bits - 1) }
        }
    }

    /// The code of `w` on the grid `p`.
    pub fn code(&self, w: f32, p: GroupParams) -> u32 {
        if p.scale == 0.0 {
            return p.zero;
        }
        let q = (w / p.scale).round() + p.zero as f32;
        let (lo, hi) = if self.asymmetric {
            (0.0, self.max_code() as f32)
        } else {
            (1.0, self.max_code() as f32) // −qmax..=qmax: the code 0 (−2^(b−1)) is unused
        };
        q.clamp(lo, hi) as u32
    }

    /// The worst-case rounding error of a group quantized with scale `s` (see the module docs).
    pub fn error_bound(&self, scale: f32) -> f32 {
        if self.asymmetric { scale } else { 0.5 * scale }
    }
}

/// One group's scale and zero point (the code that means 0).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GroupParams {
    /// Step between codes (an fp16 value).
    pub scale: f32,
    /// The code of 0.
    pub zero: u32,
}

impl GroupParams {
    /// The weight a code stands for.
    pub fn value(&self, code: u32) -> f32 {
        (code as f32 - self.zero as f32) * self.scale
    }
}

/// The smallest fp16 value ≥ `x` (for `x ≥ 0`), as f32: a scale rounded up never clips.
pub fn round_up_f16(x: f32) -> f32 {
    let h = f16::from_f32(x);
    let v = h.to_f32();
    if v >= x { v } else { f16::from_bits(h.to_bits() + 1).to_f32() }
}

/// A quantized matrix: codes, scales and (asymmetric) zero points, unpacked.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantMatrix {
    /// The scheme.
    pub scheme: Scheme,
    /// Output rows.
    pub rows: usize,
    /// Input columns.
    pub cols: usize,
    /// `rows · cols` codes, row-major, each `< 2^bits`.
    pub codes: Vec<u32>,
    /// `rows · groups` scales (fp16 values).
    pub scales: Vec<f32>,
    /// `rows · groups` zero points.
    pub zeros: Vec<u32>,
}

impl QuantMatrix {
    /// The grid of group `g` of row `r`.
    pub fn params(&self, r: usize, g: usize) -> GroupParams {
        let i = r * self.scheme.groups(self.cols) + g;
        GroupParams { scale: self.scales[i], zero: self.zeros[i] }
    }

    /// The dequantized matrix, row-major.
    pub fn dequantize(&self) -> Vec<f32> {
        let gl = self.scheme.group_len(self.cols);
        let mut out = Vec::with_capacity(self.rows * self.cols);
        for r in 0..self.rows {
            let row = &self.codes[r * self.cols..(r + 1) * self.cols];
            for (j, &c) in row.iter().enumerate() {
                out.push(self.params(r, j / gl).value(c));
            }
        }
        out
    }
}

/// Round-to-nearest quantization of `w` (`[rows, cols]`, row-major).
pub fn quantize_rtn(w: &[f32], rows: usize, cols: usize, scheme: Scheme) -> Result<QuantMatrix> {
    scheme.validate()?;
    if w.len() != rows * cols {
        return Err(Error::InvalidCompress(format!(
            "a [{rows}, {cols}] matrix needs {} values, got {}",
            rows * cols,
            w.len()
        )));
    }
    let gl = scheme.group_len(cols);
    let groups = scheme.groups(cols);
    let mut q = QuantMatrix {
        scheme,
        rows,
        cols,
        codes: Vec::with_capacity(w.len()),
        scales: Vec::with_capacity(rows * groups),
        zeros: Vec::with_capacity(rows * groups),
    };
    for row in w.chunks_exact(cols.max(1)) {
        for group in row.chunks(gl) {
            let p = scheme.params_for(group.iter().copied());
            q.scales.push(p.scale);
            q.zeros.push(p.zero);
            q.codes.extend(group.iter().map(|&x| scheme.code(x, p)));
        }
    }
    Ok(q)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn matrix(rows: usize, cols: usize, seed: u64) -> Vec<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..rows * cols)
            .map(|i| {
                let x: f32 = rng.gen_range(-1.0..1.0);
                // An outlier column and a shifted row make groups differ.
                if i % cols == 3 {
                    8.0 * x
                } else if i / cols == 2 {
                    x + 0.7
                } else {
                    0.05 * x
                }
            })
            .collect()
    }

    #[test]
    fn every_scheme_stays_within_its_bound() {
        let (rows, cols) = (7, 100); // 100 columns: the last group of 32 or 64 is ragged
        let w = matrix(rows, cols, 1);
        for bits in [8, 4, 3] {
            for group_size in [None, Some(32), Some(64), Some(128)] {
                for asymmetric in [false, true] {
                    let s = Scheme { bits, group_size, asymmetric };
                    let q = quantize_rtn(&w, rows, cols, s).unwrap();
                    assert!(q.codes.iter().all(|&c| c <= s.max_code()));
                    let back = q.dequantize();
                    let gl = s.group_len(cols);
                    for (i, (a, b)) in w.iter().zip(&back).enumerate() {
                        let p = q.params(i / cols, (i % cols) / gl);
                        let bound = s.error_bound(p.scale) * (1.0 + 1e-6);
                        assert!((a - b).abs() <= bound, "{s:?} at {i}: {a} vs {b}, bound {bound}");
                        // The scale is the group's range over the code span, rounded up to
                        // fp16: never more than one fp16 step (2^-10 relative) above it.
                        assert!(p.scale > 0.0);
                    }
                    if !asymmetric {
                        // Symmetric grids hold 0 exactly.
                        let z = quantize_rtn(&[0.0, 1.0], 1, 2, s).unwrap().dequantize();
                        assert_eq!(z[0], 0.0);
                    }
                }
            }
        }
    }

    #[test]
    fn errors_shrink_with_bits_and_groups() {
        let (rows, cols) = (16, 128);
        let w = matrix(rows, cols, 2);
        let mse = |s: Scheme| {
            let b = quantize_rtn(&w, rows, cols, s).unwrap().dequantize();
            w.iter().zip(&b).map(|(a, b)| f64::from(a - b).powi(2)).sum::<f64>()
        };
        let sym = |bits, g| Scheme { bits, group_size: g, asymmetric: false };
        assert!(mse(sym(8, None)) < mse(sym(4, None)));
        assert!(mse(sym(4, None)) < mse(sym(3, None)));
        // Smaller groups isolate the outlier column from the rest of the row.
        assert!(mse(sym(4, Some(32))) < mse(sym(4, Some(128))));
        // The shifted row is cheaper with a zero point.
        let asym = Scheme { asymmetric: true, ..sym(3, Some(32)) };
        assert!(mse(asym) < mse(sym(3, Some(32))));
    }

    #[test]
    fn bad_schemes_are_refused() {
        let s = Scheme { bits: 9, group_size: None, asymmetric: false };
        assert!(quantize_rtn(&[1.0], 1, 1, s).unwrap_err().to_string().contains("9 bits"));
        let s = Scheme { bits: 4, group_size: Some(0), asymmetric: false };
        assert!(quantize_rtn(&[1.0], 1, 1, s).is_err());
        let s = Scheme { bits: 4, group_size: None, asymmetric: false };
        assert!(quantize_rtn(&[1.0, 2.0], 1, 1, s).is_err());
        // An all-zero group has scale 0 and decodes to zeros.
        let q = quantize_rtn(&[0.0; 4], 2, 2, s).unwrap();
        assert_eq!(q.dequantize(), vec![0.0; 4]);
    }

    #[test]
    fn f16_rounding_goes_up() {
        for x in [1e-3f32, 0.1, 0.3333, 7.77, 1e-6] {
            let r = round_up_f16(x);
            assert!(r >= x && r <= x * (1.0 + 2f32.powi(-10)) + 6e-8, "{x} -> {r}");
            assert_eq!(half::f16::from_f32(r).to_f32(), r);
        }
    }
}
