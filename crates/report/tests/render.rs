//! The report drawn from a synthetic sweep made from a known Chinchilla law.

use isoflop_report::*;

/// Hoffmann et al. 2022's fitted law (eq. 10): E = 1.69, A = 406.4, B = 410.7, α = 0.34,
/// β = 0.28, used here only as a plausible surface to draw.
fn law(n: f64, d: f64) -> f64 {
    1.69 + 406.4 / n.powf(0.34) + 410.7 / d.powf(0.28)
}

fn synthetic() -> ReportInput {
    let budgets: [f64; 3] = [1e17, 1e18, 1e19];
    let mut input = ReportInput {
        title: "synthetic <sweep> & \"quotes\"".into(),
        generator: "isoflop test".into(),
        summary: vec![("α".into(), "0.34".into())],
        notes: vec!["run <x> left out".into()],
        law_formula: Some("chinchilla: L = E + A/N^α + B/D^β".into()),
        law_params: vec![("alpha".into(), 0.34, Some([0.3, 0.38])), ("A".into(), 406.4, None)],
        ..Default::default()
    };
    for (bi, &c) in budgets.iter().enumerate() {
        let n_star = (c / 120.0).sqrt();
        let mut points = vec![];
        for k in -2..=2 {
            let n = n_star * 2f64.powi(k);
            let d = c / (6.0 * n);
            let l = law(n, d);
            points.push([n, l]);
            input.runs.push(RunRow {
                key: format!("b{bi}-k{k}"),
                status: "done".into(),
                reason: None,
                n,
                d,
                c,
                budget: Some(c),
                loss: Some(l),
                wall_seconds: Some(1.0),
                tokens_per_second: Some(1e4),
                fitted: bi < 2,
                held_out: bi == 2,
            });
            input.curves.push(CurveSeries {
                key: format!("b{bi}-k{k}"),
                n,
                points: (1..=8).map(|j| j as f64 / 8.0).map(|f| [f * c, law(n, f * d)]).collect(),
            });
            input.residuals.push(Residual {
                key: format!("b{bi}-k{k}"),
                n,
                c,
                log_residual: 0.01 * k as f64,
            });
        }
        input.isoflop.push(IsoflopProfile {
            budget: c,
            points,
            parabola: Some([
                law(n_star, c / (6.0 * n_star)) + 0.02 * n_star.ln().powi(2),
                -0.04 * n_star.ln(),
                0.02,
            ]),
            vertex: Some([n_star, law(n_star, c / (6.0 * n_star))]),
        });
    }
    input.runs.push(RunRow {
        key: "broken</td><script>".into(),
        status: "diverged".into(),
        reason: Some("loss NaN at step 3".into()),
        n: 1e6,
        d: 1e7,
        c: 6e13,
        budget: None,
        loss: None,
        wall_seconds: None,
        tokens_per_second: None,
        fitted: false,
        held_out: false,
    });
    let mut frontier: Vec<[f64; 2]> = input.curves.iter().flat_map(|c| c.points.clone()).collect();
    frontier.sort_by(|a, b| a[0].total_cmp(&b[0]));
    let mut best = f64::INFINITY;
    frontier.retain(|p| {
        let keep = p[1] < best;
        best = best.min(p[1]);
        keep
    });
    input.frontier = frontier;
    for n in [1e7, 1e8, 1e9] {
        let pts = (0..20).map(|i| 1e8 * 10f64.powf(i as f64 / 5.0)).map(|d| {
            let l = law(n, d);
            [d, l, l * 0.99, l * 1.01]
        });
        input.law_curves.push(LawCurve {
            n,
            points: pts.collect(),
            observed: vec![[1e10, law(n, 1e10)]],
        });
    }
    let cs: Vec<f64> = (0..10).map(|i| 1e17 * 10f64.powf(i as f64 / 3.0)).collect();
    input.optimal = Some(OptimalScaling {
        n_opt: cs
            .iter()
            .map(|&c| [c, (c / 120.0).sqrt(), 0.8 * (c / 120.0).sqrt(), 1.2 * (c / 120.0).sqrt()])
            .collect(),
        d_opt: cs
            .iter()
            .map(|&c| [c, (c * 20.0 / 6.0).sqrt(), 0.8 * (c * 3.3).sqrt(), 1.2 * (c * 3.3).sqrt()])
            .collect(),
        n_vertices: budgets.iter().map(|&c| [c, (c / 120.0).sqrt()]).collect(),
        d_vertices: budgets.iter().map(|&c| [c, (c * 20.0 / 6.0).sqrt()]).collect(),
        a: Some((0.5, Some([0.45, 0.55]))),
        b: Some((0.5, None)),
    });
    input.extrapolation.push(Extrapolation {
        key: "b2-k0".into(),
        n: 1e8,
        d: 2e9,
        c: 1e19,
        actual: 2.5,
        predicted: 2.52,
        interval: Some([2.48, 2.56]),
        rel_err: 0.008,
    });
    input.plan.push(PlanRow {
        compute: 1e21,
        n_opt: 2.9e9,
        n_interval: Some([2e9, 4e9]),
        d_opt: 5.8e10,
        d_interval: None,
        loss: 2.1,
        loss_interval: Some([2.0, 2.2]),
    });
    input
}

#[test]
fn writes_html_and_every_png() {
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("out/report.html");
    // ISOFLOP_KEEP_REPORT=DIR keeps a copy to look at.
    if let Some(keep) = std::env::var_os("ISOFLOP_KEEP_REPORT") {
        write_report(&synthetic(), &std::path::Path::new(&keep).join("report.html")).unwrap();
    }
    let w = write_report(&synthetic(), &html).unwrap();
    assert_eq!(w.charts, ["loss-vs-compute", "isoflop", "law", "optimal", "residuals"]);
    assert!(w.missing.is_empty());
    for png in &w.pngs {
        let bytes = std::fs::read(png).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{}", png.display());
        assert!(bytes.len() > 10_000, "{} is only {} bytes", png.display(), bytes.len());
    }
    let page = std::fs::read_to_string(&html).unwrap();
    for id in &w.charts {
        let start = page.find(&format!("id=\"chart-{id}\"")).unwrap();
        let fig = &page[start..start + page[start..].find("</figure>").unwrap()];
        assert!(fig.contains("<svg"), "{id} has no svg");
        assert!(fig.matches("<circle").count() >= 3, "{id} plots too few points");
    }
    // User strings are escaped everywhere, and nothing is fetched or run.
    assert!(page.contains("synthetic &lt;sweep&gt; &amp; &quot;quotes&quot;"));
    assert!(page.contains("broken&lt;/td&gt;&lt;script&gt;"));
    assert!(!page.contains("<script"));
    assert!(!page.contains("src=\"http") && !page.contains("href=\"http"));
    // No temporary files are left behind.
    let left: Vec<_> = std::fs::read_dir(dir.path().join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn missing_parts_are_said_not_drawn() {
    let mut input = synthetic();
    input.law_curves.clear();
    input.optimal = None;
    input.residuals.clear();
    input.isoflop.clear();
    let html = render_html(&input).unwrap();
    assert_eq!(html.matches("Not available").count(), 4);
    let empty = ReportInput::default();
    let dir = tempfile::tempdir().unwrap();
    let e = write_report(&empty, &dir.path().join("r.html")).unwrap_err();
    assert!(e.to_string().contains("no runs"), "{e}");
}

#[test]
fn a_report_that_cannot_be_saved_leaves_nothing_behind() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    // `-o <directory>`: refused before a chart is drawn; no PNG, no temporary file.
    let taken = dir.path().join("report.html");
    std::fs::create_dir(&taken).unwrap();
    let e = write_report(&synthetic(), &taken).unwrap_err();
    assert!(e.to_string().contains("is a directory"), "{e}");
    let names: Vec<_> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["report.html"], "left behind: {names:?}");

    // Written files get the mode of a plain create; a rewritten page keeps its own.
    let html = dir.path().join("r.html");
    let w = write_report(&synthetic(), &html).unwrap();
    let plain = dir.path().join("plain");
    std::fs::File::create(&plain).unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    for p in w.pngs.iter().chain([&html]) {
        assert_eq!(mode(p), mode(&plain), "{}", p.display());
    }
    std::fs::set_permissions(&html, std::fs::Permissions::from_mode(0o640)).unwrap();
    write_report(&synthetic(), &html).unwrap();
    assert_eq!(mode(&html), 0o640);
}

#[test]
fn downstream_charts_draw_accuracy_by_size_and_the_law_through_loss() {
    use isoflop_report::{DownstreamLawSeries, DownstreamSeries};
    let mut input = synthetic();
    let acc = |l: f64| 0.5 + 0.4 / (1.0 + (4.0 * (l - 3.0)).exp());
    let models: Vec<(f64, f64)> =
        (0..6).map(|i| (1e6 * 2f64.powi(i), 3.6 - 0.2 * i as f64)).collect();
    input.downstream.push(DownstreamSeries {
        label: "toy · full".into(),
        points: models.iter().map(|&(n, l)| [n, acc(l)]).collect(),
    });
    input.downstream_baselines.push(("toy: majority class".into(), 0.5));
    input.downstream_laws.push(DownstreamLawSeries {
        label: "toy · full".into(),
        points: models[..4].iter().map(|&(_, l)| [l, acc(l)]).collect(),
        held: models[4..].iter().map(|&(_, l)| [l, acc(l) - 0.01]).collect(),
        curve: (0..=40).map(|i| 2.4 + 1.4 * i as f64 / 40.0).map(|l| [l, acc(l)]).collect(),
        band: (0..=40)
            .map(|i| 2.4 + 1.4 * i as f64 / 40.0)
            .map(|l| [l, acc(l) - 0.01, acc(l) + 0.01])
            .collect(),
        by_compute: models.iter().map(|&(n, l)| [6.0 * n * 20.0 * n, acc(l)]).collect(),
        frontier: (0..10)
            .map(|i| 1e13 * 10f64.powf(i as f64 / 2.0))
            .map(|c| {
                [
                    c,
                    0.5 + 0.04 * c.log10() - 0.5,
                    0.49 + 0.04 * c.log10() - 0.5,
                    0.51 + 0.04 * c.log10() - 0.5,
                ]
            })
            .collect(),
        held_out_error: Some(0.012),
    });
    let dir = tempfile::tempdir().unwrap();
    let w = write_report(&input, &dir.path().join("r.html")).unwrap();
    assert!(
        w.charts.ends_with(&["downstream", "downstream-law", "downstream-compute"]),
        "{:?}",
        w.charts
    );
    let page = std::fs::read_to_string(dir.path().join("r.html")).unwrap();
    let start = page.find("id=\"chart-downstream-law\"").unwrap();
    let fig = &page[start..start + page[start..].find("</figure>").unwrap()];
    // Four fitted and two held-out fine-tunes, and the held-out error in the legend.
    assert_eq!(fig.matches("<circle").count(), 6, "{fig}");
    assert!(fig.contains("held out: 1.2 points off"), "{fig}");
    assert!(fig.contains("<polygon"), "the band is drawn: {fig}");
    let start = page.find("id=\"chart-downstream-compute\"").unwrap();
    let fig = &page[start..start + page[start..].find("</figure>").unwrap()];
    assert_eq!(fig.matches("<circle").count(), 6, "every fine-tune at its compute: {fig}");
    assert!(fig.contains("<polygon") && fig.contains("compute-optimal, through the loss"), "{fig}");
}
