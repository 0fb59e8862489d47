//! exp and ln of f64 written so that the compiler vectorises them over a chunk of points.
//!
//! Why our own: the fit's objective spends most of its time in two `exp` and one `ln` per
//! point and evaluation (ln L = LSE(e, a − α ln N, b − β ln D)). glibc's `exp`/`ln` are
//! accurate and fast one value at a time, but each is a call the compiler cannot vectorise,
//! so a loop over points runs one lane wide. These are branch-free (every special case is a
//! select), table-free (no gathers) and `#[inline(always)]`, so a loop of them over a fixed
//! chunk becomes SSE2 (2 lanes), AVX2 + FMA (4 lanes) or AVX-512 (8 lanes) code: `simd.rs`
//! builds each loop for all three and runs the widest the CPU has.
//!
//! exp(x): Cody & Waite's additive range reduction (W. J. Cody and W. Waite, "Software Manual
//! for the Elementary Functions", 1980, ch. 6): n = round(x / ln 2) and r = x − n ln 2, with
//! ln 2 split into a 21-bit head (so that n · ln2_hi is exact for any |n| < 2^32 and the
//! subtraction is exact by Sterbenz's lemma) and a tail; then e^r = 1 + r + r² q(r) for
//! |r| ≤ ln2/2 with q of degree 9, and the result is scaled by 2^n through its exponent bits,
//! in two factors 2^n₁ · 2^n₂ (n₁ ≈ n/2) so that results from 2^1024 (overflow to ∞) down to
//! subnormals come out right without a branch. round() is the 1.5·2^52 shifter trick: adding
//! it rounds to an integer and leaves that integer in the low bits of the sum.
//!
//! ln(x): x = 2^k · m with m in [√½, √2), taken from the bits (subtracting the bits of √½
//! moves the exponent's split point there, so no compare is needed); then with f = m − 1,
//! s = f / (2 + f), z = s²: ln(1 + f) = 2 atanh(s) = f − (f²/2 − s (f²/2 + z P(z))), P of
//! degree 6, and ln x = k ln2_hi + (ln(1 + f) + k ln2_lo). The atanh form and the order of
//! the final sum (big terms last, so that they add exactly) are those of Sun's fdlibm
//! `e_log.c` (1993). Subnormal inputs are first scaled by 2^52.
//!
//! Both polynomials interpolate their targets at Chebyshev nodes (near-minimax; the
//! coefficients and their worst errors come from `crates/law/tools/fastmath_coefficients.py`):
//! q to 2.3e-16 relative, which enters e^r multiplied by r² ≤ 0.12; P to 4.7e-16, entering
//! ln(1 + f) multiplied by z/2 ≤ 0.015. The measured error against std over the objective's
//! whole range is at most 1 ulp (tests below, on millions of random inputs).
//!
//! Edges: exp(x) is +∞ above ln(f64::MAX) = 709.78…, exactly 0 below −745.13… (half the
//! smallest subnormal), subnormal in between, NaN for NaN; ln is −∞ at ±0, NaN below 0 and
//! for NaN, +∞ at +∞.

use crate::simd::{fma_dispatch, mul_add};

/// 1 / ln 2.
const LOG2_E: f64 = std::f64::consts::LOG2_E;
/// ln 2 with its 32 low bits cleared: 21 significant bits, so n · LN2_HI is exact.
const LN2_HI: f64 = f64::from_bits(0x3FE6_2E42_0000_0000);
/// ln 2 − LN2_HI, rounded to f64 (computed in 50-digit arithmetic: ln 2 − 0.6931467056274414).
const LN2_LO: f64 = 4.749_325_039_031_672_6e-7;
/// 1.5 · 2^52: x + SHIFTER rounds x to an integer n (|n| < 2^51) and holds n in its low bits.
const SHIFTER: f64 = 6_755_399_441_055_744.0;
/// exp's input is clamped to [EXP_MIN, EXP_MAX] first; e^710 overflows to +∞ and e^−746
/// rounds to 0 by the same arithmetic as every other input, so the clamp decides no result.
const EXP_MIN: f64 = -746.0;
const EXP_MAX: f64 = 710.0;

/// q(r) ≈ (e^r − 1 − r) / r² on |r| ≤ 0.3466, lowest degree first
/// (tools/fastmath_coefficients.py, "exp q(r): degree 9").
const EXP_Q: [f64; 10] = [
    0.5000000000000001,
    0.16666666666666669,
    0.041666666666624136,
    0.008333333333330063,
    0.001388888891720967,
    0.00019841269863050506,
    2.4801521302241082e-5,
    2.7557268464831627e-6,
    2.7620085455018414e-7,
    2.510038319586702e-8,
];

/// P(z) ≈ 2 (atanh(√z)/√z − 1) / z on 0 ≤ z ≤ ((√2 − 1)/(√2 + 1))², lowest degree first
/// (tools/fastmath_coefficients.py, "ln P(z): degree 6").
const LN_P: [f64; 7] = [
    0.666666666666667,
    0.39999999999899505,
    0.28571428625975764,
    0.22222211134749734,
    0.18182889128565508,
    0.15331721490738642,
    0.14616451042434167,
];

/// Bits of √½ rounded to f64: the mantissa split point of [`ln`].
const SQRT_HALF_BITS: u64 = 0x3FE6_A09E_667F_3BCD;
/// Adding this to x's bits puts k + 1023 in the exponent field, k = ⌊log2(x / √½)⌋.
const LN_OFFSET: u64 = 0x3FF0_0000_0000_0000 - SQRT_HALF_BITS;
const MANTISSA: u64 = (1 << 52) - 1;
/// 2^52 + e for an integer 0 ≤ e < 2^52 has bits 0x4330… | e: how an exponent field is
/// turned into a float without an integer-to-float conversion (which SSE2/AVX2 lack for i64).
const TWO52_BITS: u64 = 0x4330_0000_0000_0000;
const TWO52: f64 = 4_503_599_627_370_496.0;

/// Horner's rule, lowest degree first.
#[inline(always)]
fn horner<const FMA: bool, const K: usize>(x: f64, c: &[f64; K]) -> f64 {
    let mut p = c[K - 1];
    for i in (0..K - 1).rev() {
        p = mul_add::<FMA>(p, x, c[i]);
    }
    p
}

/// 2^n for an integer-valued n with −1022 ≤ n ≤ 1023, where `n + SHIFTER` is `shifted`.
#[inline(always)]
fn pow2_of_shifted(shifted: f64) -> f64 {
    // Bits of shifted = bits(SHIFTER) + n; the shift keeps only the low 12 bits of n + 1023.
    f64::from_bits(shifted.to_bits().wrapping_add(1023) << 52)
}

/// e^x, within 1 ulp of std's (glibc's) result (see the module docs).
#[inline(always)]
pub(crate) fn exp<const FMA: bool>(x: f64) -> f64 {
    let xc = if x < EXP_MIN { EXP_MIN } else { x };
    let xc = if xc > EXP_MAX { EXP_MAX } else { xc };
    let n = mul_add::<FMA>(xc, LOG2_E, SHIFTER) - SHIFTER;
    let r = mul_add::<FMA>(n, -LN2_HI, xc); // exact
    let r = mul_add::<FMA>(n, -LN2_LO, r);
    let q = horner::<FMA, 10>(r, &EXP_Q);
    let p = 1.0 + mul_add::<FMA>(r * r, q, r);
    // n in [−1077, 1025] does not fit one exponent field; 2^n1 · 2^n2 with n1 = round(n/2)
    // does, and p · 2^n1 is exact, so the only rounding is the last product's.
    let s1 = n * 0.5 + SHIFTER;
    let n1 = s1 - SHIFTER;
    let s2 = (n - n1) + SHIFTER;
    let y = p * pow2_of_shifted(s1) * pow2_of_shifted(s2);
    if x.is_nan() { x } else { y }
}

/// ln x, within 1 ulp of std's (glibc's) result (see the module docs).
#[inline(always)]
pub(crate) fn ln<const FMA: bool>(x: f64) -> f64 {
    let tiny = x < f64::MIN_POSITIVE;
    let xs = if tiny { x * TWO52 } else { x };
    let bits = xs.to_bits().wrapping_add(LN_OFFSET);
    // k + 1023 as a float, then k (−52 more for a scaled subnormal).
    let k = f64::from_bits((bits >> 52) | TWO52_BITS) - (TWO52 + 1023.0);
    let k = if tiny { k - 52.0 } else { k };
    let m = f64::from_bits((bits & MANTISSA).wrapping_add(SQRT_HALF_BITS)); // in [√½, √2)
    let f = m - 1.0; // exact
    let s = f / (2.0 + f);
    let z = s * s;
    let t = z * horner::<FMA, 7>(z, &LN_P);
    let hfsq = 0.5 * f * f;
    let small = mul_add::<FMA>(s, hfsq + t, k * LN2_LO);
    let y = k * LN2_HI - ((hfsq - small) - f);
    // Special cases, last so that the arithmetic above stays branch-free.
    let y = if x == f64::INFINITY { x } else { y };
    let y = if x == 0.0 { f64::NEG_INFINITY } else { y };
    if x < 0.0 || x.is_nan() { f64::NAN } else { y }
}

#[inline(always)]
fn exp_slice_generic<const FMA: bool>(x: &mut [f64]) {
    for v in x.iter_mut() {
        *v = exp::<FMA>(*v);
    }
}

#[inline(always)]
fn ln_slice_generic<const FMA: bool>(x: &mut [f64]) {
    for v in x.iter_mut() {
        *v = ln::<FMA>(*v);
    }
}

fma_dispatch! {
    /// Replaces every value of `x` by its exponential, in the widest vector build the CPU has.
    ///
    /// ```
    /// let mut x = [0.0, 1.0, -745.2, 710.0];
    /// isoflop_law::fastmath::exp_slice(&mut x);
    /// assert_eq!(x[0], 1.0);
    /// assert!((x[1] - std::f64::consts::E).abs() <= 3.0 * f64::EPSILON); // within 1 ulp
    /// assert_eq!(x[2..], [0.0, f64::INFINITY]);
    /// ```
    pub fn exp_slice / exp_slice_at = exp_slice_generic(x: &mut [f64])
}

fma_dispatch! {
    /// Replaces every value of `x` by its natural log, in the widest vector build the CPU has.
    ///
    /// ```
    /// let mut x = [1.0, std::f64::consts::E, 0.0, -1.0];
    /// isoflop_law::fastmath::ln_slice(&mut x);
    /// assert_eq!(x[0], 0.0);
    /// assert!((x[1] - 1.0).abs() <= f64::EPSILON);
    /// assert_eq!(x[2], f64::NEG_INFINITY);
    /// assert!(x[3].is_nan());
    /// ```
    pub fn ln_slice / ln_slice_at = ln_slice_generic(x: &mut [f64])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::Level;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Distance in units in the last place between two finite f64 of the same sign (or
    /// between a value and zero, counted in subnormal steps).
    fn ulps(a: f64, b: f64) -> u64 {
        if a == b {
            return 0;
        }
        let key = |v: f64| {
            let i = v.to_bits() as i64;
            if i < 0 { i64::MIN - i } else { i }
        };
        key(a).abs_diff(key(b))
    }

    /// Worst ulp error of `f` against `reference` over `xs`, with the worst input.
    fn worst(f: impl Fn(&mut [f64]), reference: impl Fn(f64) -> f64, xs: &[f64]) -> (u64, f64) {
        let mut y = xs.to_vec();
        f(&mut y);
        xs.iter().zip(&y).map(|(&x, &v)| (ulps(v, reference(x)), x)).max_by_key(|w| w.0).unwrap()
    }

    fn uniform(lo: f64, hi: f64, n: usize, seed: u64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n).map(|_| rng.gen_range(lo..hi)).collect()
    }

    /// Every build of a slice function this CPU runs.
    fn builds(at: fn(Level, &mut [f64])) -> Vec<(Level, impl Fn(&mut [f64]))> {
        Level::ALL
            .into_iter()
            .filter(|l| l.supported())
            .map(|l| (l, move |x: &mut [f64]| at(l, x)))
            .collect()
    }

    /// exp over the whole range the objective sees (the exponent of every term of ln L over
    /// any start and line-search step): uniform on [−745, 709.78], and dense near 0.
    #[test]
    fn exp_is_within_one_ulp_of_std() {
        let wide = uniform(-745.0, 709.78, 2_000_000, 1);
        let near = uniform(-2.0, 2.0, 1_000_000, 2);
        // Normal results only: subnormal ones are checked below, in absolute terms.
        let wide: Vec<f64> = wide.into_iter().filter(|&x| x > -708.3).collect();
        for (name, f) in builds(exp_slice_at) {
            for xs in [&wide, &near] {
                let (u, x) = worst(&f, f64::exp, xs);
                assert!(u <= 1, "{name:?} exp({x:e}): {u} ulp from std");
            }
        }
    }

    #[test]
    fn ln_is_within_one_ulp_of_std() {
        // Sums of exps in the objective lie in [MIN_POSITIVE, MAX]: log-uniform over all
        // normal numbers, plus dense around 1 where ln is small and relative error shows.
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let wide: Vec<f64> =
            (0..2_000_000).map(|_| 2f64.powf(rng.gen_range(-1022.0..1024.0))).collect();
        let near = uniform(0.5, 2.0, 1_000_000, 4);
        let subnormal = uniform(5e-324, f64::MIN_POSITIVE, 100_000, 5);
        for (name, f) in builds(ln_slice_at) {
            for xs in [&wide, &near, &subnormal] {
                let (u, x) = worst(&f, f64::ln, xs);
                assert!(u <= 1, "{name:?} ln({x:e}): {u} ulp from std");
            }
        }
    }

    #[test]
    fn edges_match_std() {
        let exp_cases = [
            0.0,
            -0.0,
            1.0,
            709.78,
            709.782712893384,  // ln f64::MAX: finite
            709.7827128933841, // just above: +∞
            710.0,
            1e300,
            f64::INFINITY,
            -708.39,
            -740.0, // subnormal result
            -745.13,
            -745.14, // 0
            -1e300,
            f64::NEG_INFINITY,
            f64::NAN,
        ];
        let ln_cases = [
            1.0,
            f64::MIN_POSITIVE,
            5e-324,
            1e-310,
            f64::MAX,
            f64::INFINITY,
            0.0,
            -0.0,
            -1.0,
            f64::NEG_INFINITY,
            f64::NAN,
            std::f64::consts::E,
        ];
        let same = |a: f64, b: f64| (a.is_nan() && b.is_nan()) || ulps(a, b) <= 1;
        for (level, f) in builds(exp_slice_at) {
            let mut got = exp_cases;
            f(&mut got);
            for (x, g) in exp_cases.iter().zip(got) {
                assert!(same(g, x.exp()), "{level:?} exp({x:e}) = {g:e}, std {:e}", x.exp());
            }
            assert_eq!(got[7..9], [f64::INFINITY; 2], "{level:?}: e^1e300, e^∞");
            assert_eq!(got[12..15], [0.0; 3], "{level:?}: e^−745.14, e^−1e300, e^−∞");
        }
        for (level, f) in builds(ln_slice_at) {
            let mut got = ln_cases;
            f(&mut got);
            for (x, g) in ln_cases.iter().zip(got) {
                assert!(same(g, x.ln()), "{level:?} ln({x:e}) = {g:e}, std {:e}", x.ln());
            }
            assert_eq!(got[0], 0.0, "{level:?}: ln 1");
            assert_eq!(got[6..8], [f64::NEG_INFINITY; 2], "{level:?}: ln ±0");
        }
    }

    /// Subnormal results of exp are right to within one subnormal step (absolute error
    /// ≤ 2^−1074, which is what a correctly rounded result would also be off by at most half).
    #[test]
    fn exp_subnormal_results() {
        let xs = uniform(-745.2, -708.3, 200_000, 6);
        for (level, f) in builds(exp_slice_at) {
            let (u, x) = worst(&f, f64::exp, &xs);
            assert!(u <= 1, "{level:?} exp({x:e}): {u} subnormal steps from std");
        }
    }
}
