//! Loss against sparsity: each pruned model's validation loss at every sparsity the sweep
//! pruned it to, one line per model size and pruning method, starting at sparsity 0 (the
//! model as trained, scored on the same tokens). Colour is size (dark: small, yellow: large,
//! as in the loss-against-compute chart), the line's dash and marker the method. Where a
//! larger model's line stays flat longer, it has more weights to spare; Sun et al. 2023
//! (Wanda, Fig. 2) and Frantar & Alistarh 2023 (SparseGPT) report that larger models tolerate
//! higher sparsity.

use crate::ReportInput;
use crate::chart::{DrawResult, Fonts, Plot, fmt_sci, legend, lin_range, line_key, log_pos, ramp};
use plotters::coord::Shift;
use plotters::prelude::*;

pub(crate) struct Sparsity<'a>(pub(crate) &'a ReportInput);

impl Plot for Sparsity<'_> {
    const ID: &'static str = "sparsity";

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let series = &self.0.sparsity;
        let f = Fonts::of(root);
        root.fill(&WHITE)?;
        let points = || series.iter().flat_map(|s| s.points.iter());
        let x_hi = points().map(|p| p[0]).fold(0.0, f64::max).max(0.1);
        let y = lin_range(points().map(|p| p[1]), 0.08);
        let mut chart = ChartBuilder::on(root)
            .caption("Loss against sparsity, by model size", f.title())
            .margin(f.u(12.0))
            .x_label_area_size(f.u(44.0))
            .y_label_area_size(f.u(56.0))
            .build_cartesian_2d(0.0..x_hi * 1.05, y)?;
        chart
            .configure_mesh()
            .x_desc("sparsity (fraction of block weights pruned)")
            .y_desc("validation loss (nats/token)")
            .x_label_formatter(&|v| format!("{v:.1}"))
            .y_label_formatter(&|v| format!("{v:.2}"))
            .label_style(f.label())
            .axis_desc_style(f.label())
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        let (n_lo, n_hi) =
            series.iter().fold((f64::INFINITY, 0.0_f64), |(lo, hi), s| (lo.min(s.n), hi.max(s.n)));
        let mut methods: Vec<&str> = Vec::new();
        for s in series {
            if !methods.contains(&s.method.as_str()) {
                methods.push(&s.method);
            }
        }
        for s in series {
            let colour = ramp(log_pos(s.n, n_lo, n_hi));
            let m = methods.iter().position(|m| *m == s.method).unwrap_or(0);
            let line: Vec<(f64, f64)> = s.points.iter().map(|p| (p[0], p[1])).collect();
            let label = format!("{} · N = {}", s.method, fmt_sci(s.n));
            let stroke = colour.stroke_width(f.u(1.5));
            // The first method solid, the others dashed, so two methods of one size differ
            // without a second colour scale.
            let drawn = if m == 0 {
                chart.draw_series(LineSeries::new(line.clone(), stroke))?
            } else {
                chart.draw_series(DashedLineSeries::new(
                    line.clone(),
                    f.u(3.0 + 3.0 * m as f64),
                    f.u(4.0),
                    stroke,
                ))?
            };
            drawn.label(label).legend(line_key(colour));
            let r = f.i(4.0);
            if m == 0 {
                chart.draw_series(line.iter().map(|&p| Circle::new(p, r, colour.filled())))?;
            } else {
                chart.draw_series(
                    line.iter().map(|&p| TriangleMarker::new(p, r + 1, colour.filled())),
                )?;
            }
        }
        legend(&mut chart, &f, SeriesLabelPosition::UpperLeft)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SparsitySeries;
    use crate::chart::render_svg;

    #[test]
    fn draws_one_line_per_size_and_method() {
        let input = ReportInput {
            sparsity: vec![
                SparsitySeries {
                    method: "wanda".into(),
                    n: 1e5,
                    points: vec![[0.0, 2.0], [0.3, 2.1], [0.7, 2.9]],
                },
                SparsitySeries {
                    method: "magnitude".into(),
                    n: 4e5,
                    points: vec![[0.0, 1.8], [0.3, 1.85], [0.7, 2.4]],
                },
            ],
            ..ReportInput::default()
        };
        let svg = render_svg(&Sparsity(&input)).unwrap();
        assert!(svg.contains("wanda · N = 1e5") && svg.contains("magnitude · N = 4e5"), "{svg}");
    }
}
