//! How numbers read in the human tables: one helper per kind of quantity, shared by the verbs
//! (thousands separators are `output::thousands`).

use isoflop_cost as cost;

/// `9.22e22`.
pub fn sci(x: f64) -> String {
    format!("{x:.3e}")
}

/// Three significant figures without exponent for everyday magnitudes: `0.0412`, `181.6`.
pub fn sig3(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.1}")
    } else if x >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

/// A parameter count in SI: `7B`, `300M`.
pub fn short(n: f64) -> String {
    if n >= 1e9 { format!("{}B", n / 1e9) } else { format!("{}M", n / 1e6) }
}

/// Bytes in both units, each labelled: `13.48 GB (12.55 GiB)`.
pub fn bytes_both(b: f64) -> String {
    format!("{:.2} GB ({:.2} GiB)", cost::gb(b), cost::gib(b))
}

/// A FLOP rate: `989.4 TFLOP/s`, `52.1 GFLOP/s`.
pub fn flops_rate(f: f64) -> String {
    if f >= 1e12 { format!("{:.1} TFLOP/s", f / 1e12) } else { format!("{:.1} GFLOP/s", f / 1e9) }
}

/// A duration from microseconds to seconds: `4.26 ms`, `1.20 s`.
pub fn dur(s: f64) -> String {
    if s == 0.0 {
        "0".to_string()
    } else if s < 1e-3 {
        format!("{:.1} µs", s * 1e6)
    } else if s < 1.0 {
        format!("{:.2} ms", s * 1e3)
    } else {
        format!("{s:.2} s")
    }
}

/// `1h 02m`, `3m 05s`, `42.0 s`.
pub fn fmt_duration(s: f64) -> String {
    if s >= 3600.0 {
        format!("{}h {:02}m", (s / 3600.0) as u64, ((s % 3600.0) / 60.0) as u64)
    } else if s >= 60.0 {
        format!("{}m {:02}s", (s / 60.0) as u64, (s % 60.0) as u64)
    } else {
        format!("{s:.1} s")
    }
}

/// A number in a readable width: plain for moderate magnitudes, scientific otherwise.
pub fn num(v: f64) -> String {
    let a = v.abs();
    if a != 0.0 && !(1e-3..1e5).contains(&a) { format!("{v:.4e}") } else { format!("{v:.5}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting() {
        assert_eq!(bytes_both(1_073_741_824.0), "1.07 GB (1.00 GiB)");
        assert_eq!(short(3e8), "300M");
        assert_eq!(short(7e9), "7B");
        assert_eq!(sci(9.217302528e22), "9.217e22");
        assert_eq!(sig3(181.63), "181.6");
        assert_eq!(sig3(0.04123), "0.041");
        assert_eq!(flops_rate(989.4e12), "989.4 TFLOP/s");
        assert_eq!(dur(0.00426), "4.26 ms");
        assert_eq!(dur(2.5e-5), "25.0 µs");
    }
}
