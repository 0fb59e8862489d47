//! The `cpu` hardware: measured, not looked up.
//!
//! A short probe multiplies two n×n f32 matrices over all cores and reports `2n³ / seconds`
//! FLOP/s; a threaded sum over a buffer larger than the last-level cache gives the read
//! bandwidth. The kernel is register-tiled: each thread takes a band of rows of C, and each
//! tile of C (8×32 with AVX-512, 6×16 with AVX2, 4×16 otherwise) is accumulated in registers
//! over a 256-deep slice of k (B's slice stays in L1/L2), with fused multiply-adds where the
//! CPU has them (detected at run time). The fastest of the repetitions is reported: other
//! processes only ever slow a run down. On the 2-core development machine (AVX-512) it measured
//! 62.7 GFLOP/s on 2 threads (criterion bench `search`, `matmul_f32 512 on 2 threads`). It is
//! written here rather than taken from a BLAS crate because this crate stays free of heavy
//! dependencies; it only needs to be a fair yardstick, not the fastest kernel.

use crate::{Error, Hardware, Result};
use std::time::{Duration, Instant};

/// Depth of one pass over k.
const KC: usize = 256;
/// Row bands are cut at multiples of this (the tallest tile).
const BAND_ROWS: usize = 8;

/// `c += a · b` for n×n row-major matrices on `threads` threads.
pub fn matmul_f32(a: &[f32], b: &[f32], c: &mut [f32], n: usize, threads: usize) {
    assert!(a.len() == n * n && b.len() == n * n && c.len() == n * n, "matmul_f32: sizes");
    if n == 0 {
        return;
    }
    // Bands of whole tiles, so only the last band has ragged rows.
    let rows_per = n.div_ceil(threads.max(1)).div_ceil(BAND_ROWS) * BAND_ROWS;
    std::thread::scope(|s| {
        for (band, c_band) in c.chunks_mut(rows_per * n).enumerate() {
            s.spawn(move || band_dispatch(a, b, c_band, n, band * rows_per));
        }
    });
}

fn band_dispatch(a: &[f32], b: &[f32], c_band: &mut [f32], n: usize, r0: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        if has!("avx512f") && has!("fma") {
            // SAFETY: the features the function is compiled for were just detected.
            unsafe { band_avx512(a, b, c_band, n, r0) };
            return;
        }
        if has!("avx2") && has!("fma") {
            // SAFETY: as above.
            unsafe { band_avx2(a, b, c_band, n, r0) };
            return;
        }
    }
    band::<4, 16, false>(a, b, c_band, n, r0);
}

/// 8×32 tiles: 16 zmm accumulators, 2 for B, 1 broadcast, of 32 registers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn band_avx512(a: &[f32], b: &[f32], c_band: &mut [f32], n: usize, r0: usize) {
    band::<8, 32, true>(a, b, c_band, n, r0);
}

/// 6×16 tiles: 12 ymm accumulators, 2 for B, 1 broadcast, of 16 registers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn band_avx2(a: &[f32], b: &[f32], c_band: &mut [f32], n: usize, r0: usize) {
    band::<6, 16, true>(a, b, c_band, n, r0);
}

/// One thread's rows `r0..r0 + c_band.len()/n` of C.
#[inline(always)]
fn band<const MR: usize, const NR: usize, const FMA: bool>(
    a: &[f32],
    b: &[f32],
    c_band: &mut [f32],
    n: usize,
    r0: usize,
) {
    let rows = c_band.len() / n;
    let (full_rows, full_cols) = (rows / MR * MR, n / NR * NR);
    for k0 in (0..n).step_by(KC) {
        let k1 = (k0 + KC).min(n);
        for i in (0..full_rows).step_by(MR) {
            for j in (0..full_cols).step_by(NR) {
                let mut acc = [[0.0f32; NR]; MR];
                // Index arithmetic stays out of the inner loops: with overflow checks on (dev
                // builds) it would stop them vectorising.
                let a_rows: [&[f32]; MR] =
                    std::array::from_fn(|r| &a[(r0 + i + r) * n + k0..(r0 + i + r) * n + k1]);
                for (kk, b_row) in b[k0 * n..k1 * n].chunks_exact(n).enumerate() {
                    let bk: &[f32; NR] = b_row[j..j + NR].try_into().expect("NR columns");
                    for (acc_r, a_row) in acc.iter_mut().zip(&a_rows) {
                        let ar = a_row[kk];
                        for (x, &bv) in acc_r.iter_mut().zip(bk) {
                            *x = if FMA { ar.mul_add(bv, *x) } else { *x + ar * bv };
                        }
                    }
                }
                for (r, acc_r) in acc.iter().enumerate() {
                    let c_row = &mut c_band[(i + r) * n + j..(i + r) * n + j + NR];
                    for (cv, x) in c_row.iter_mut().zip(acc_r) {
                        *cv += x;
                    }
                }
            }
        }
        // Ragged edges: the columns past the last whole tile, then the rows past it.
        for i in 0..rows {
            let j_from = if i < full_rows { full_cols } else { 0 };
            for k in k0..k1 {
                let ar = a[(r0 + i) * n + k];
                for j in j_from..n {
                    c_band[i * n + j] += ar * b[k * n + j];
                }
            }
        }
    }
}

/// Measured matmul throughput: runs n×n products for at least `min_time` and returns the FLOP/s
/// of the fastest one (other processes only ever slow a run down, so the fastest is the
/// machine's rate).
pub fn measure_matmul_flops(n: usize, min_time: Duration) -> f64 {
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let a: Vec<f32> = (0..n * n).map(|i| (i % 7) as f32 * 0.25).collect();
    let b: Vec<f32> = (0..n * n).map(|i| (i % 5) as f32 * 0.5).collect();
    let mut c = vec![0.0f32; n * n];
    matmul_f32(&a, &b, &mut c, n, threads); // warm up caches and threads
    let start = Instant::now();
    let mut best = f64::INFINITY;
    while best.is_infinite() || start.elapsed() < min_time {
        let t = Instant::now();
        matmul_f32(&a, &b, &mut c, n, threads);
        best = best.min(t.elapsed().as_secs_f64());
    }
    std::hint::black_box(&c);
    2.0 * (n as f64).powi(3) / best
}

/// Measured read bandwidth over `bytes` (make it larger than the last-level cache), bytes/s: the
/// fastest of the passes made in `min_time`.
pub fn measure_read_bandwidth(bytes: usize, min_time: Duration) -> f64 {
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let data = vec![1.0f32; bytes / 4];
    let chunk = data.len().div_ceil(threads);
    let start = Instant::now();
    let mut best = f64::INFINITY;
    while best.is_infinite() || start.elapsed() < min_time {
        let t = Instant::now();
        let total: f32 = std::thread::scope(|s| {
            let handles: Vec<_> = data
                .chunks(chunk)
                .map(|part| {
                    // Eight partial sums so the adds vectorise without reassociation.
                    s.spawn(move || {
                        let mut acc = [0.0f32; 8];
                        for block in part.chunks_exact(8) {
                            for (a, x) in acc.iter_mut().zip(block) {
                                *a += x;
                            }
                        }
                        acc.iter().sum::<f32>()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("probe thread")).sum()
        });
        std::hint::black_box(total);
        best = best.min(t.elapsed().as_secs_f64());
    }
    (data.len() * 4) as f64 / best
}

/// Total memory from `/proc/meminfo`, bytes.
fn total_memory() -> Result<f64> {
    let text = std::fs::read_to_string("/proc/meminfo")
        .map_err(|e| Error::Unsupported(format!("cannot read /proc/meminfo: {e}")))?;
    let line = text
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .ok_or_else(|| Error::Unsupported("/proc/meminfo has no MemTotal line".to_string()))?;
    let kib: f64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| Error::Unsupported(format!("cannot parse `{line}` in /proc/meminfo")))?;
    Ok(kib * 1024.0)
}

impl Hardware {
    /// This machine's CPU, measured: a 512×512 f32 matmul probe (about 0.3 s) for the peak of
    /// every precision (the probe computes in f32; no fp8), a 256 MiB read for the bandwidth,
    /// `/proc/meminfo` for the memory. One "GPU" per node; inter-node 10 Gb/s Ethernet assumed;
    /// MFU 0.5 of the probe's rate assumed (a trainer also runs attention, norms, the optimizer).
    pub fn cpu_probe() -> Result<Self> {
        let flops = measure_matmul_flops(512, Duration::from_millis(300));
        let bandwidth = measure_read_bandwidth(256 << 20, Duration::from_millis(200));
        let h = Hardware {
            name: "cpu".to_string(),
            peak_fp32_flops: flops,
            peak_bf16_flops: flops,
            peak_fp8_flops: None,
            memory_bytes: total_memory()?,
            memory_bandwidth: bandwidth,
            intra_node_bandwidth: bandwidth,
            inter_node_bandwidth: 1.25e9,
            gpus_per_node: 1,
            mfu: 0.5,
            source: format!(
                "measured on this machine: {:.1} GFLOP/s f32 matmul (512x512, {} threads), {:.1} GB/s read",
                flops / 1e9,
                std::thread::available_parallelism().map_or(1, |t| t.get()),
                bandwidth / 1e9
            ),
        };
        h.validate()?;
        Ok(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocked_matmul_matches_naive() {
        // n = 70 is not a multiple of the tile (4×16) or of the row bands; n = 260 also runs
        // past one k-slice (256). Integer-valued inputs keep every partial sum exact, so any
        // order of the adds agrees with the naive loop.
        for (n, threads) in [(70, 3), (260, 2)] {
            let a: Vec<f32> = (0..n * n).map(|i| ((i * 7 % 13) as f32) - 6.0).collect();
            let b: Vec<f32> = (0..n * n).map(|i| ((i * 5 % 11) as f32) - 5.0).collect();
            let mut c = vec![0.0f32; n * n];
            matmul_f32(&a, &b, &mut c, n, threads);
            for i in 0..n {
                for j in 0..n {
                    let want: f32 = (0..n).map(|k| a[i * n + k] * b[k * n + j]).sum();
                    assert_eq!(c[i * n + j], want, "n {n}: c[{i}][{j}]");
                }
            }
        }
    }

    #[test]
    fn probe_measures_something() {
        let f = measure_matmul_flops(64, Duration::from_millis(5));
        assert!(f > 1e6 && f.is_finite());
        let bw = measure_read_bandwidth(1 << 20, Duration::from_millis(5));
        assert!(bw > 1e6 && bw.is_finite());
        assert!(total_memory().unwrap() > 1e8);
    }
}
