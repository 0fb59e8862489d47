//! Vector helpers shared by the element-wise kernels.
//!
//! The crate is compiled for baseline x86-64 (SSE2), so LLVM would vectorise our loops four
//! lanes wide at most. [`multiversion!`] compiles a kernel body a second time with AVX2 and FMA
//! enabled and picks that copy at run time when the CPU has them (every x86 server since 2013),
//! which doubles the width of every element-wise loop without asking users for
//! `-C target-cpu=native`.
//!
//! Float reductions do not vectorise on their own (the compiler may not reassociate), so
//! [`sum`], [`dot`] and friends keep eight independent partial sums, which LLVM turns into one
//! vector register. [`exp`] is a branch-free polynomial that vectorises where `f32::exp` (a call
//! into libm) does not.

/// Defines `fn $name(args) -> ret` whose body is compiled twice: once for the baseline target
/// and once with `avx2,fma`, chosen at run time.
macro_rules! multiversion {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            fn inner($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                fn avx2($($arg: $ty),*) $(-> $ret)? { inner($($arg),*) }
                if $crate::kernels::simd::has_avx2_fma() {
                    // SAFETY: `avx2` only needs the CPU features that were just detected.
                    return unsafe { avx2($($arg),*) };
                }
            }
            inner($($arg),*)
        }
    };
}
pub(crate) use multiversion;

/// Whether this CPU has AVX2 and FMA (the answer is cached by the standard library).
#[inline]
pub fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Lanes of the partial sums: one AVX register of f32.
const LANES: usize = 8;

/// Σ x.
#[inline(always)]
pub fn sum(x: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let chunks = x.chunks_exact(LANES);
    let rest: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for i in 0..LANES {
            acc[i] += c[i];
        }
    }
    acc.iter().sum::<f32>() + rest
}

/// Σ x·y.
#[inline(always)]
pub fn dot(x: &[f32], y: &[f32]) -> f32 {
    debug_assert_eq!(x.len(), y.len());
    let mut acc = [0.0f32; LANES];
    let xs = x.chunks_exact(LANES);
    let ys = y.chunks_exact(LANES);
    let rest: f32 = xs.remainder().iter().zip(ys.remainder()).map(|(a, b)| a * b).sum();
    for (a, b) in xs.zip(ys) {
        for i in 0..LANES {
            acc[i] += a[i] * b[i];
        }
    }
    acc.iter().sum::<f32>() + rest
}

/// max x (−∞ for an empty slice).
#[inline(always)]
pub fn max(x: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let chunks = x.chunks_exact(LANES);
    let rest = chunks.remainder().iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    for c in chunks {
        for i in 0..LANES {
            acc[i] = if c[i] > acc[i] { c[i] } else { acc[i] };
        }
    }
    acc.iter().fold(rest, |m, &v| m.max(v))
}

/// e^x for f32, branch-free so that loops over it vectorise.
///
/// Range reduction x = n·ln2 + r with |r| ≤ ln2/2, a degree-6 polynomial for e^r (the
/// minimax coefficients of Cephes' `expf.c`, S. Moshier), and 2^n built in the exponent bits.
/// Relative error below 2e-7 on [−87, 88]; inputs are clamped there, so e^(−∞) = e^(−87.3)
/// ≈ 1e-38 rather than 0 (harmless for softmax and sigmoid).
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split in a part exact in few bits and a correction (Cody & Waite).
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5·2^23: adding it rounds to the nearest integer and leaves that integer in the low
    // mantissa bits.
    const MAGIC: f32 = 12_582_912.0;
    let x = x.clamp(-87.3, 88.3);
    let t = x * LOG2E + MAGIC;
    let n = t - MAGIC;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.987_569_1e-4;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let er = p * r * r + r + 1.0;
    let n_int = t.to_bits().wrapping_sub(MAGIC.to_bits()) as i32;
    let scale = f32::from_bits(((n_int + 127) as u32) << 23);
    er * scale
}

/// Logistic sigmoid 1 / (1 + e^−x), vectorisable.
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_libm() {
        let mut worst = 0.0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let want = (x as f64).exp();
            let got = exp(x) as f64;
            worst = worst.max(((got - want) / want).abs());
            x += 0.0137;
        }
        assert!(worst < 3e-7, "worst relative error {worst}");
        assert!(exp(f32::NEG_INFINITY) < 1e-37);
        assert_eq!(exp(0.0), 1.0);
    }

    #[test]
    fn reductions_match_serial() {
        let x: Vec<f32> = (0..37).map(|i| (i as f32 * 0.7).sin()).collect();
        let y: Vec<f32> = (0..37).map(|i| (i as f32 * 0.3).cos()).collect();
        let s: f32 = x.iter().sum();
        let d: f32 = x.iter().zip(&y).map(|(a, b)| a * b).sum();
        let m = x.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        assert!((sum(&x) - s).abs() < 1e-5);
        assert!((dot(&x, &y) - d).abs() < 1e-5);
        assert_eq!(max(&x), m);
    }
}
