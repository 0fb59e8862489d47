//! Run-time choice among builds of the same hot loop for the vector units the CPU has.
//!
//! The workspace compiles for the default x86-64 target (SSE2: two f64 lanes, no fused
//! multiply-add), and CI machines differ, so `-C target-cpu=native` is not an option.
//! [`fma_dispatch!`] instead compiles a loop body, written once as an `#[inline(always)]`
//! function generic over `const FMA: bool`, up to three times: for the baseline, with AVX2 +
//! FMA (four f64 lanes; every x86 server since 2013) and with AVX-512 (eight lanes, 32
//! registers, 64-bit integer shifts and compares in one instruction), and picks the widest
//! the CPU has at run time. `FMA` tells the body whether [`mul_add`] may use the fused
//! instruction: in the baseline copy `f64::mul_add` would be a call into libm's `fma`.
//! (crates/train's `kernels/simd.rs` does the same for its f32 kernels.)
//!
//! The builds round differently (fused against separate multiply and add), so results can
//! differ in the last bits between CPUs with and without FMA; each is accurate to a few ulp
//! (see [`crate::fastmath`]), and the AVX2 and AVX-512 builds compute the same bits.
//!
//! Measured on the 240-point Chinchilla objective (an AMD EPYC with AVX-512, 2 cores): about
//! 20 ns per point with glibc's exp/ln one point at a time, 9.5 with the AVX2 build, 6 with
//! the AVX-512 one (docs/fitting.md).

use std::sync::atomic::{AtomicU8, Ordering};

/// A build of a dispatched loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    /// The default x86-64 target (SSE2), or any other architecture.
    Baseline,
    /// AVX2 and FMA.
    Avx2,
    /// AVX-512 F, DQ and VL (with AVX2 and FMA).
    Avx512,
}

impl Level {
    /// Every level, narrowest first.
    #[cfg(test)]
    pub(crate) const ALL: [Level; 3] = [Level::Baseline, Level::Avx2, Level::Avx512];

    /// The widest level this CPU runs (detected once).
    #[inline]
    pub(crate) fn detected() -> Level {
        static CACHE: AtomicU8 = AtomicU8::new(0);
        match CACHE.load(Ordering::Relaxed) {
            1 => Level::Baseline,
            2 => Level::Avx2,
            3 => Level::Avx512,
            _ => {
                let level = Self::detect();
                CACHE.store(level as u8 + 1, Ordering::Relaxed);
                level
            }
        }
    }

    fn detect() -> Level {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            if has!("avx2") && has!("fma") {
                if has!("avx512f") && has!("avx512dq") && has!("avx512vl") {
                    return Level::Avx512;
                }
                return Level::Avx2;
            }
        }
        Level::Baseline
    }

    /// Whether this CPU can run `self`.
    #[cfg(test)]
    pub(crate) fn supported(self) -> bool {
        self as u8 <= Self::detected() as u8
    }
}

/// a·b + c, fused (one rounding) when `FMA`, else a multiply and an add.
#[inline(always)]
pub(crate) fn mul_add<const FMA: bool>(a: f64, b: f64, c: f64) -> f64 {
    if FMA { a.mul_add(b, c) } else { a * b + c }
}

/// Defines `$vis fn $name(args) -> ret`, which runs `$generic` in the widest build this CPU
/// has, and `fn $at(level, args) -> ret`, which runs the given build (for tests and
/// benchmarks; it panics if the CPU lacks the level). `$generic` must be
/// `#[inline(always)]` so that each build compiles it with its own features.
macro_rules! fma_dispatch {
    ($(#[$meta:meta])* $vis:vis fn $name:ident / $at:ident = $generic:ident
        ($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)?) => {
        $(#[$meta])*
        #[inline]
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            $at($crate::simd::Level::detected(), $($arg),*)
        }

        /// Runs the given build of
        #[doc = concat!("[`", stringify!($name), "`].")]
        #[allow(dead_code)]
        pub(crate) fn $at(level: $crate::simd::Level, $($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                fn avx2($($arg: $ty),*) $(-> $ret)? {
                    $generic::<true>($($arg),*)
                }
                #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
                fn avx512($($arg: $ty),*) $(-> $ret)? {
                    $generic::<true>($($arg),*)
                }
                assert!(level as u8 <= $crate::simd::Level::detected() as u8, "CPU lacks {level:?}");
                match level {
                    // SAFETY: the CPU has the level's features (asserted just above).
                    $crate::simd::Level::Avx512 => return unsafe { avx512($($arg),*) },
                    // SAFETY: as above.
                    $crate::simd::Level::Avx2 => return unsafe { avx2($($arg),*) },
                    $crate::simd::Level::Baseline => {}
                }
            }
            #[cfg(not(target_arch = "x86_64"))]
            let _ = level;
            $generic::<false>($($arg),*)
        }
    };
}
pub(crate) use fma_dispatch;
