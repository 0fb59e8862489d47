//! The self-contained HTML document: inline SVG charts, tables, inline CSS, no scripts.
//!
//! A Content-Security-Policy meta tag forbids every network fetch, so the file shows the same
//! offline as on a server and cannot leak anything. Every user-supplied string goes through
//! [`escape_html`].

use crate::chart::fmt_sci;
use crate::escape::escape_html as esc;
use crate::{Extrapolation, PlanRow, ReportInput, RunRow};
use std::fmt::Write;

/// One chart as the page shows it.
pub(crate) struct Figure {
    pub(crate) id: &'static str,
    pub(crate) title: &'static str,
    pub(crate) caption: &'static str,
    /// The inline SVG, or why the chart is missing.
    pub(crate) svg: Result<String, String>,
    /// The PNG's file name beside the HTML.
    pub(crate) png: Option<String>,
}

const STYLE: &str = "
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 0 auto;
       max-width: 1080px; padding: 1.5rem; color: #1d1d1f; background: #fff; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { font-size: 1.2rem; margin-top: 2rem; }
.gen { color: #666; margin-top: 0; }
dl.summary { display: grid; grid-template-columns: max-content auto; gap: .25rem 1rem; }
dl.summary dt { color: #555; } dl.summary dd { margin: 0; font-variant-numeric: tabular-nums; }
.notes { background: #fff8e1; border-left: 4px solid #f0b400; padding: .5rem 1rem; }
figure.chart { margin: 1.5rem 0; } figure.chart svg { max-width: 100%; height: auto; }
figcaption { color: #444; font-size: .9rem; }
table { border-collapse: collapse; font-size: .85rem; font-variant-numeric: tabular-nums; }
th, td { padding: .2rem .6rem; border-bottom: 1px solid #e3e3e3; text-align: right; }
th { background: #f5f5f7; } td.key, th.key { text-align: left; }
.status-done { color: #1b7f2a; } .status-failed, .status-diverged { color: #b3261e; }
.missing { color: #888; font-style: italic; }
";

fn opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map(f).unwrap_or_else(|| "–".into())
}

fn interval(i: Option<[f64; 2]>, f: impl Fn(f64) -> String) -> String {
    i.map(|[lo, hi]| format!("[{}, {}]", f(lo), f(hi))).unwrap_or_else(|| "–".into())
}

fn loss(v: f64) -> String {
    format!("{v:.4}")
}

/// The whole document.
pub(crate) fn document(input: &ReportInput, figures: &[Figure]) -> String {
    let mut h = String::with_capacity(1 << 20);
    let title = esc(&input.title);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'; img-src data:\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>isoflop report: {title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
         <header><h1>Scaling-law report: {title}</h1><p class=\"gen\">{}</p></header>\n",
        esc(&input.generator)
    );
    if !input.summary.is_empty() {
        h.push_str("<section id=\"summary\"><dl class=\"summary\">\n");
        for (k, v) in &input.summary {
            let _ = writeln!(h, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(v));
        }
        h.push_str("</dl></section>\n");
    }
    if !input.notes.is_empty() {
        h.push_str("<section id=\"notes\" class=\"notes\"><ul>\n");
        for n in &input.notes {
            let _ = writeln!(h, "<li>{}</li>", esc(n));
        }
        h.push_str("</ul></section>\n");
    }
    if !input.law_params.is_empty() {
        h.push_str("<section id=\"law-params\"><h2>Fitted law</h2>\n");
        if let Some(f) = &input.law_formula {
            let _ = writeln!(h, "<p>{}</p>", esc(f));
        }
        h.push_str(
            "<table><tr><th class=\"key\">parameter</th><th>value</th><th>95% interval</th></tr>\n",
        );
        for (name, v, i) in &input.law_params {
            let _ = writeln!(
                h,
                "<tr><td class=\"key\">{}</td><td>{}</td><td>{}</td></tr>",
                esc(name),
                fmt_param(*v),
                interval(*i, fmt_param)
            );
        }
        h.push_str("</table></section>\n");
    }
    for fig in figures {
        let _ =
            write!(h, "<figure class=\"chart\" id=\"chart-{}\">\n<h2>{}</h2>\n", fig.id, fig.title);
        match &fig.svg {
            Ok(svg) => h.push_str(svg),
            Err(why) => {
                let _ = write!(h, "<p class=\"missing\">Not available: {}</p>", esc(why));
            }
        }
        let _ = write!(h, "\n<figcaption>{}", fig.caption);
        if let Some(png) = &fig.png {
            let _ = write!(h, " PNG: <code>{}</code>.", esc(png));
        }
        h.push_str("</figcaption>\n</figure>\n");
    }
    extrapolation_table(&mut h, &input.extrapolation);
    plan_table(&mut h, &input.plan);
    run_table(&mut h, &input.runs);
    h.push_str("</body>\n</html>\n");
    h
}

fn fmt_param(v: f64) -> String {
    if v.abs() >= 1e4 || (v != 0.0 && v.abs() < 1e-2) {
        format!("{v:.4e}")
    } else {
        format!("{v:.4}")
    }
}

fn extrapolation_table(h: &mut String, rows: &[Extrapolation]) {
    h.push_str("<section id=\"extrapolation\"><h2>Extrapolation: held-out largest runs</h2>\n");
    if rows.is_empty() {
        h.push_str("<p class=\"missing\">No runs were held out.</p></section>\n");
        return;
    }
    h.push_str(
        "<table><tr><th class=\"key\">run</th><th>N</th><th>D</th><th>C</th><th>actual</th>\
         <th>predicted</th><th>95% interval</th><th>relative error</th></tr>\n",
    );
    for r in rows {
        let _ = writeln!(
            h,
            "<tr><td class=\"key\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{:+.2}%</td></tr>",
            esc(&r.key),
            fmt_sci(r.n),
            fmt_sci(r.d),
            fmt_sci(r.c),
            loss(r.actual),
            loss(r.predicted),
            interval(r.interval, loss),
            100.0 * r.rel_err
        );
    }
    h.push_str("</table></section>\n");
}

fn plan_table(h: &mut String, rows: &[PlanRow]) {
    h.push_str("<section id=\"plan\"><h2>Plan for larger budgets</h2>\n");
    if rows.is_empty() {
        h.push_str("<p class=\"missing\">No fit, so no plan.</p></section>\n");
        return;
    }
    h.push_str(
        "<table><tr><th>compute C</th><th>N_opt</th><th>95% interval</th><th>D_opt</th>\
         <th>95% interval</th><th>tokens/param</th><th>loss</th><th>95% interval</th></tr>\n",
    );
    for r in rows {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{}</td>\
             <td>{}</td></tr>",
            fmt_sci(r.compute),
            fmt_sci(r.n_opt),
            interval(r.n_interval, fmt_sci),
            fmt_sci(r.d_opt),
            interval(r.d_interval, fmt_sci),
            r.d_opt / r.n_opt,
            loss(r.loss),
            interval(r.loss_interval, loss)
        );
    }
    h.push_str("</table></section>\n");
}

fn run_table(h: &mut String, rows: &[RunRow]) {
    let _ = writeln!(h, "<section id=\"runs\"><h2>Runs ({})</h2>", rows.len());
    h.push_str(
        "<table><tr><th class=\"key\">run</th><th class=\"key\">status</th><th>N</th><th>D</th>\
         <th>C</th><th>budget</th><th>loss</th><th>tokens/s</th><th>wall s</th>\
         <th class=\"key\">use</th></tr>\n",
    );
    for r in rows {
        let status = esc(&r.status);
        let status_cell = match &r.reason {
            Some(why) => format!("{status}: {}", esc(why)),
            None => status.clone(),
        };
        let usage = if r.held_out {
            "held out"
        } else if r.fitted {
            "fitted"
        } else {
            "–"
        };
        let _ = writeln!(
            h,
            "<tr><td class=\"key\">{}</td><td class=\"key status-{status}\">{status_cell}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td class=\"key\">{usage}</td></tr>",
            esc(&r.key),
            fmt_sci(r.n),
            fmt_sci(r.d),
            fmt_sci(r.c),
            opt(r.budget, fmt_sci),
            opt(r.loss, loss),
            opt(r.tokens_per_second, |v| format!("{v:.0}")),
            opt(r.wall_seconds, |v| format!("{v:.1}")),
        );
    }
    h.push_str("</table></section>\n");
}
