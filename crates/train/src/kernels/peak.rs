//! The machine's measured peak: the FLOP/s that MFU is quoted against.
//!
//! A datasheet peak (cores × clock × FLOPs/cycle) is not what a shared or throttled virtual
//! machine delivers, so `isoflop bench train` measures it: each thread runs chains of fused
//! multiply-adds on 8-wide AVX2 registers, ten independent chains per thread, enough to cover
//! the FMA latency (4 cycles) on both FMA ports of a Zen 3 or Skylake core (Agner Fog,
//! *Instruction tables*, VFMADD ps ymm). One FMA on 8 lanes is 16 FLOPs. Without AVX2/FMA (or off
//! x86-64) the same chains run as plain multiply and add, which the compiler vectorises as it can.

use std::time::Instant;

/// Independent accumulator chains per thread.
const CHAINS: usize = 10;
/// Lanes of one AVX register of f32.
const LANES: usize = 8;

/// Peak f32 FLOP/s measured with `threads` threads running at once, best of `repeats` tries of
/// about `seconds` each.
pub fn measure_peak_flops(threads: usize, seconds: f64, repeats: usize) -> f64 {
    let threads = threads.max(1);
    // Calibrate the iteration count on one thread.
    let mut iters = 1 << 16;
    loop {
        let t0 = Instant::now();
        std::hint::black_box(fma_chains(iters));
        let dt = t0.elapsed().as_secs_f64();
        if dt > 0.02 {
            iters = ((iters as f64) * seconds / dt).max(1.0) as usize;
            break;
        }
        iters *= 4;
    }
    let flops = (iters * CHAINS * LANES * 2 * threads) as f64;
    (0..repeats.max(1))
        .map(|_| {
            let t0 = Instant::now();
            std::thread::scope(|s| {
                for _ in 0..threads {
                    s.spawn(|| std::hint::black_box(fma_chains(iters)));
                }
            });
            flops / t0.elapsed().as_secs_f64()
        })
        .fold(0.0, f64::max)
}

/// Runs `iters` rounds of `CHAINS` vector multiply-adds; returns a value so that the work is
/// not optimised away.
fn fma_chains(iters: usize) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if super::simd::has_avx2_fma() {
        // SAFETY: the CPU has AVX2 and FMA, checked just above.
        return unsafe { fma_chains_avx2(iters) };
    }
    let mut acc = [[0.0f32; LANES]; CHAINS];
    let (a, b) = (std::hint::black_box(0.999_999f32), std::hint::black_box(1e-7f32));
    for _ in 0..iters {
        for chain in acc.iter_mut() {
            for v in chain.iter_mut() {
                *v = *v * a + b;
            }
        }
    }
    acc.iter().flatten().sum()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn fma_chains_avx2(iters: usize) -> f32 {
    use std::arch::x86_64::{__m256, _mm256_fmadd_ps, _mm256_set1_ps, _mm256_storeu_ps};
    let a = _mm256_set1_ps(std::hint::black_box(0.999_999));
    let b = _mm256_set1_ps(std::hint::black_box(1e-7));
    let mut acc: [__m256; CHAINS] = [_mm256_set1_ps(0.0); CHAINS];
    for _ in 0..iters {
        for chain in acc.iter_mut() {
            *chain = _mm256_fmadd_ps(*chain, a, b);
        }
    }
    let mut out = [0.0f32; LANES];
    let mut total = 0.0;
    for chain in acc {
        // SAFETY: `out` holds exactly 8 f32, the width of one store.
        unsafe { _mm256_storeu_ps(out.as_mut_ptr(), chain) };
        total += out.iter().sum::<f32>();
    }
    total
}

#[cfg(test)]
mod tests {
    #[test]
    fn peak_is_positive() {
        let p = super::measure_peak_flops(1, 0.01, 1);
        assert!(p > 1e8, "peak {p} FLOP/s");
    }
}
