//! The `cpu` hardware: measured, not looked up.
//!
//! A short probe multiplies two n×n f32 matrices with a cache-blocked kernel over all cores
//! (std threads, each taking a band of rows of C; the k loop is blocked so a band of B stays in
//! cache and the inner j loop vectorises) and reports `2n³ / seconds` FLOP/s; a threaded sum
//! over a buffer larger than the last-level cache gives the read bandwidth. This is what a
//! simple kernel reaches, not the chip's peak (an optimised BLAS does several times better on
//! wide-vector CPUs); that is the fair baseline for a CPU trainer written the same way. The
//! crate stays free of heavy dependencies, hence our own kernel rather than a BLAS.

use crate::{Error, Hardware, Result};
use std::time::{Duration, Instant};

/// k-block: 64 rows of B (64 · n · 4 bytes, 128 KiB at n = 512) stay in L2 across a band of C.
const K_BLOCK: usize = 64;

/// `c += a · b` for n×n row-major matrices on `threads` threads.
pub fn matmul_f32(a: &[f32], b: &[f32], c: &mut [f32], n: usize, threads: usize) {
    assert!(a.len() == n * n && b.len() == n * n && c.len() == n * n, "matmul_f32: sizes");
    let rows_per = n.div_ceil(threads.max(1)).max(1);
    std::thread::scope(|s| {
        for (band, c_band) in c.chunks_mut(rows_per * n).enumerate() {
            s.spawn(move || {
                let r0 = band * rows_per;
                for kb in (0..n).step_by(K_BLOCK) {
                    let k_end = (kb + K_BLOCK).min(n);
                    for (i, c_row) in c_band.chunks_mut(n).enumerate() {
                        let a_row = &a[(r0 + i) * n..(r0 + i + 1) * n];
                        for k in kb..k_end {
                            let aik = a_row[k];
                            let b_row = &b[k * n..(k + 1) * n];
                            for (cj, bj) in c_row.iter_mut().zip(b_row) {
                                *cj += aik * bj;
                            }
                        }
                    }
                }
            });
        }
    });
}

/// Measured matmul throughput: runs n×n products for at least `min_time`, returns FLOP/s.
pub fn measure_matmul_flops(n: usize, min_time: Duration) -> f64 {
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let a: Vec<f32> = (0..n * n).map(|i| (i % 7) as f32 * 0.25).collect();
    let b: Vec<f32> = (0..n * n).map(|i| (i % 5) as f32 * 0.5).collect();
    let mut c = vec![0.0f32; n * n];
    matmul_f32(&a, &b, &mut c, n, threads); // warm up caches and threads
    let start = Instant::now();
    let mut reps = 0u32;
    while reps == 0 || start.elapsed() < min_time {
        matmul_f32(&a, &b, &mut c, n, threads);
        reps += 1;
    }
    std::hint::black_box(&c);
    2.0 * (n as f64).powi(3) * reps as f64 / start.elapsed().as_secs_f64()
}

/// Measured read bandwidth over `bytes` (make it larger than the last-level cache), bytes/s.
pub fn measure_read_bandwidth(bytes: usize, min_time: Duration) -> f64 {
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let data = vec![1.0f32; bytes / 4];
    let chunk = data.len().div_ceil(threads);
    let start = Instant::now();
    let mut reps = 0u32;
    while reps == 0 || start.elapsed() < min_time {
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
        reps += 1;
    }
    (data.len() * 4) as f64 * reps as f64 / start.elapsed().as_secs_f64()
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
        // n = 70 is not a multiple of the k-block or of the row bands: exercises the edges.
        let n = 70;
        let a: Vec<f32> = (0..n * n).map(|i| ((i * 7 % 13) as f32) - 6.0).collect();
        let b: Vec<f32> = (0..n * n).map(|i| ((i * 5 % 11) as f32) - 5.0).collect();
        let mut c = vec![0.0f32; n * n];
        matmul_f32(&a, &b, &mut c, n, 3);
        for i in 0..n {
            for j in 0..n {
                let want: f32 = (0..n).map(|k| a[i * n + k] * b[k * n + j]).sum();
                assert_eq!(c[i * n + j], want, "c[{i}][{j}]");
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
