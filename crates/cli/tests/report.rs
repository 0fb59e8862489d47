//! `isoflop report` end to end: runs imported from a synthetic IsoFLOP sweep of a known
//! Chinchilla law, the report written, then loaded in a real browser (Debian's headless
//! chromium, installed by .ci/run): the screenshot must not be blank and every chart must be
//! in the DOM with its plotted points.

mod common;

use common::{isoflop_in, json_of, ok};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Hoffmann et al. 2022's fitted law (eq. 10: E = 1.69, A = 406.4, B = 410.7, α = 0.34,
/// β = 0.28) on 5 budgets × 5 sizes, with ±0.5% multiplicative noise from a fixed LCG.
fn synthetic_csv(path: &Path) {
    let mut state = 12345u64;
    let mut noise = || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 0.01
    };
    let mut text = String::from("run,N,D,loss\n");
    for c in [1e17, 3e17, 1e18, 3e18, 1e19f64] {
        let n_star = (c / 120.0).sqrt();
        for k in -2..=2 {
            let n = n_star * 2f64.powi(k);
            let d = c / (6.0 * n);
            let loss = (1.69 + 406.4 / n.powf(0.34) + 410.7 / d.powf(0.28)) * (1.0 + noise());
            text += &format!("c{c:e}-k{k}<b>,{n:.0},{d:.0},{loss:.6}\n");
        }
    }
    std::fs::write(path, text).unwrap();
}

fn chromium() -> PathBuf {
    for p in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!(
        "the report's browser test needs Debian's chromium: apt-get install -y chromium \
         (.ci/run installs it)"
    );
}

fn browser(dir: &Path, extra: &[&str], page: &Path) -> Output {
    let profile = dir.join("chromium-profile");
    let mut cmd = Command::new(chromium());
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--no-first-run",
        "--disable-component-update",
        "--disable-dev-shm-usage",
        &format!("--user-data-dir={}", profile.display()),
    ])
    .args(extra)
    .arg(format!("file://{}", page.display()))
    .current_dir(dir);
    let out = cmd.output().expect("chromium runs");
    assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

#[test]
fn report_renders_in_a_real_browser() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    synthetic_csv(&dir.join("sweep.csv"));
    ok(&isoflop_in(dir, &["import", "sweep.csv", "--db", "runs.db", "--sweep", "chin<script>"]));
    let out = ok(&isoflop_in(
        dir,
        &["report", "--db", "runs.db", "-o", "out/report.html", "--bootstrap", "50"],
    ));
    assert!(out.contains("report of sweep chin<script>"), "{out}");
    let page = dir.join("out/report.html");
    let charts = ["loss-vs-compute", "isoflop", "law", "optimal", "residuals"];
    for c in charts {
        let png = dir.join(format!("out/report-{c}.png"));
        assert!(std::fs::metadata(&png).unwrap().len() > 10_000, "{} is too small", png.display());
    }
    assert!(dir.join("out/report-fit.json").exists());
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(!html.contains("<script"), "a user string reached the page unescaped");
    assert!(html.contains("chin&lt;script&gt;"));
    // Nothing is fetched: no src/href/url() to any address (the SVG namespace URI is a name).
    for pat in ["src=\"http", "href=\"http", "url(http", "@import"] {
        assert!(!html.contains(pat), "the page references the network: {pat}");
    }

    // The DOM as the browser built it: every chart is there, as SVG, with its points.
    let dom = String::from_utf8(browser(dir, &["--dump-dom"], &page).stdout).unwrap();
    for c in charts {
        let start = dom.find(&format!("id=\"chart-{c}\"")).unwrap_or_else(|| panic!("{c} missing"));
        let fig = &dom[start..start + dom[start..].find("</figure>").unwrap()];
        assert!(fig.contains("<svg"), "chart {c} has no svg in the DOM");
        let marks = fig.matches("<circle").count() + fig.matches("<polyline").count();
        assert!(marks >= 10, "chart {c} has only {marks} plotted elements");
        assert!(!fig.contains("Not available"), "chart {c} was not drawn");
    }
    for table in ["extrapolation", "plan", "runs"] {
        assert!(dom.contains(&format!("id=\"{table}\"")), "table {table} missing");
    }

    // The screenshot: decoded, not one flat colour, and with enough ink to be charts.
    let shot = dir.join("shot.png");
    browser(
        dir,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1200,3000",
            "--hide-scrollbars",
        ],
        &page,
    );
    let decoder = png::Decoder::new(std::fs::File::open(&shot).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let bytes = &buf[..info.buffer_size()];
    let channels = info.color_type.samples();
    let pixels = bytes.chunks(channels);
    let total = bytes.len() / channels;
    let non_white = pixels.filter(|p| p[..3].iter().any(|&v| v < 200)).count();
    let share = non_white as f64 / total as f64;
    assert!(
        (info.width, info.height) == (1200, 3000),
        "screenshot is {}x{}",
        info.width,
        info.height
    );
    assert!(share > 0.01 && share < 0.9, "screenshot looks blank or flat: {share:.4} non-white");
}

#[test]
fn report_refuses_what_it_cannot_read() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let out = isoflop_in(dir, &["report", "--db", "missing.db"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.db does not exist"));
    synthetic_csv(&dir.join("a.csv"));
    synthetic_csv(&dir.join("b.csv"));
    ok(&isoflop_in(dir, &["import", "a.csv", "--db", "r.db"]));
    ok(&isoflop_in(dir, &["import", "b.csv", "--db", "r.db"]));
    let out = isoflop_in(dir, &["report", "--db", "r.db"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("holds 2 sweeps; choose one with --sweep (a, b)"), "{err}");
    let out = isoflop_in(dir, &["report", "--db", "r.db", "--sweep", "c"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no sweep named \"c\""));
}

/// Approach 2 has one implementation (issue 11): the report's IsoFLOP vertices are the ones
/// `isoflop fit --approach isoflop` gives for the same stored runs.
#[test]
fn report_and_fit_give_the_same_isoflop_vertices() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // Three budgets of five sizes on Hoffmann et al.'s law, with a little deterministic noise.
    let mut csv = String::from("run,N,D,loss\n");
    for (b, c) in [1e15f64, 1e16, 1e17].iter().enumerate() {
        let n_star = (c / 120.0).sqrt();
        for i in 0..5 {
            let n = n_star * 4f64.powf(i as f64 / 2.0 - 1.0);
            let d = c / (6.0 * n);
            let noise = 1.0 + 0.002 * (((b * 5 + i) * 7 % 5) as f64 - 2.0);
            let loss = (1.69 + 406.4 / n.powf(0.34) + 410.7 / d.powf(0.28)) * noise;
            csv += &format!("b{b}s{i},{n},{d},{loss}\n");
        }
    }
    std::fs::write(dir.join("runs.csv"), csv).unwrap();
    ok(&isoflop_in(dir, &["import", "runs.csv", "--db", "r.db", "--sweep", "iso"]));
    let fit = json_of(&isoflop_in(
        dir,
        &["--json", "fit", "--db", "r.db", "--sweep", "iso", "--approach", "isoflop"],
    ));
    let rep = json_of(&isoflop_in(
        dir,
        &["--json", "report", "--db", "r.db", "--bootstrap", "0", "-o", "rep.html"],
    ));
    let from_fit: Vec<[f64; 2]> = fit["budgets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| [b["compute"].as_f64().unwrap(), b["n_opt"].as_f64().unwrap()])
        .collect();
    let from_report: Vec<[f64; 2]> = rep["analysis"]["vertices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| [v[0].as_f64().unwrap(), v[1].as_f64().unwrap()])
        .collect();
    assert_eq!(from_fit.len(), 3, "{fit}");
    assert_eq!(from_fit, from_report);
}
