//! Compute-optimal model size and token count against compute, N_opt(C) and D_opt(C).
//!
//! The fitted law's optimum with its 95% band, the IsoFLOP vertices measured by approach 2,
//! and two reference slopes anchored at the middle of the fitted line:
//! - Chinchilla: N_opt ∝ C^0.50, D_opt ∝ C^0.50 (Hoffmann et al. 2022 Table 2, approach 1:
//!   a = 0.50, b = 0.50).
//! - Kaplan: N_opt ∝ C^0.73, D_opt ∝ C^0.27 (Kaplan et al. 2020 §6.1, eq. 6.1 and Fig. 14:
//!   N ∝ C_min^0.73; tokens take the rest, 1 − 0.73).

use crate::chart::{DrawResult, Fonts, Plot, category, fmt_log_tick, legend, line_key, log_range};
use crate::{OptimalScaling, ReportInput};
use plotters::coord::Shift;
use plotters::prelude::*;

/// Chinchilla's exponents (Hoffmann et al. 2022 Table 2, approach 1).
const CHINCHILLA: (f64, f64) = (0.50, 0.50);
/// Kaplan's exponents (Kaplan et al. 2020 §6.1: N_opt ∝ C^0.73).
const KAPLAN: (f64, f64) = (0.73, 0.27);

pub(crate) struct Optimal<'a>(pub(crate) &'a ReportInput);

impl Plot for Optimal<'_> {
    const ID: &'static str = "optimal";
    const SIZE: (u32, u32) = (1000, 480);

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let f = Fonts::of(root);
        root.fill(&WHITE)?;
        let Some(opt) = &self.0.optimal else { return Ok(()) };
        let (left, right) = root.split_horizontally(root.dim_in_pixel().0 / 2);
        panel(&left, &f, opt, true)?;
        panel(&right, &f, opt, false)?;
        Ok(())
    }
}

fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    f: &Fonts,
    opt: &OptimalScaling,
    params: bool,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (series, vertices, exponent, what) = if params {
        (&opt.n_opt, &opt.n_vertices, &opt.a, "N_opt (parameters)")
    } else {
        (&opt.d_opt, &opt.d_vertices, &opt.b, "D_opt (tokens)")
    };
    let x = log_range(series.iter().map(|p| p[0]).chain(vertices.iter().map(|p| p[0])), 1.3);
    // The axis follows the fitted line and the vertices (a wide band is clipped to it).
    let y = log_range(series.iter().map(|p| p[1]).chain(vertices.iter().map(|p| p[1])), 3.0);
    let title = match exponent {
        Some((e, Some([lo, hi]))) => format!("{what} ~ C^{e:.2} [{lo:.2}, {hi:.2}]"),
        Some((e, None)) => format!("{what} ~ C^{e:.2}"),
        None => what.to_string(),
    };
    let mut chart = ChartBuilder::on(area)
        .caption(title, (crate::font::FAMILY, f.px(16.0)))
        .margin(f.u(10.0))
        .x_label_area_size(f.u(44.0))
        .y_label_area_size(f.u(60.0))
        .build_cartesian_2d(x.log_scale(), y.clone().log_scale())?;
    chart
        .configure_mesh()
        .x_desc("compute C (FLOPs)")
        .y_desc(what)
        .x_label_formatter(&|v| fmt_log_tick(*v))
        .y_label_formatter(&|v| fmt_log_tick(*v))
        .label_style(f.label())
        .axis_desc_style(f.label())
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    let colour = category(0);
    if series.iter().any(|p| p[3] > p[2]) {
        let clip = |v: f64| v.clamp(y.start, y.end);
        let mut band: Vec<(f64, f64)> = series.iter().map(|p| (p[0], clip(p[3]))).collect();
        band.extend(series.iter().rev().map(|p| (p[0], clip(p[2]))));
        chart.draw_series(std::iter::once(Polygon::new(band, colour.mix(0.18).filled())))?;
    }
    let line: Vec<(f64, f64)> = series.iter().map(|p| (p[0], p[1])).collect();
    chart
        .draw_series(LineSeries::new(line.clone(), colour.stroke_width(f.u(2.0))))?
        .label("fitted law (95% band)")
        .legend(line_key(colour));
    chart.draw_series(line.iter().map(|&p| Circle::new(p, f.i(2.5), colour.filled())))?;
    if !vertices.is_empty() {
        let v = category(1);
        chart
            .draw_series(
                vertices.iter().map(|p| TriangleMarker::new((p[0], p[1]), f.i(6.0), v.filled())),
            )?
            .label("IsoFLOP vertices")
            .legend(move |(x, y)| TriangleMarker::new((x + 9, y), 5, v.filled()));
    }
    if let Some(&mid) = line.get(line.len() / 2) {
        let (x0, x1) = (line[0].0, line[line.len() - 1].0);
        let refs = [
            ("Chinchilla slope", if params { CHINCHILLA.0 } else { CHINCHILLA.1 }, category(2)),
            ("Kaplan slope", if params { KAPLAN.0 } else { KAPLAN.1 }, category(3)),
        ];
        for (name, slope, c) in refs {
            let at = |x: f64| mid.1 * (x / mid.0).powf(slope);
            let pts: Vec<(f64, f64)> = (0..=20)
                .map(|k| x0 * (x1 / x0).powf(k as f64 / 20.0))
                .map(|x| (x, at(x)))
                .filter(|(_, v)| *v >= y.start && *v <= y.end)
                .collect();
            chart
                .draw_series(DashedLineSeries::new(
                    pts,
                    f.u(6.0),
                    f.u(4.0),
                    c.stroke_width(f.u(1.5)),
                ))?
                .label(format!("{name} ({slope:.2})"))
                .legend(line_key(c));
        }
    }
    legend(&mut chart, f, SeriesLabelPosition::UpperLeft)
}
