//! The fitted law: predicted loss against tokens for each model size, with its 95%
//! bootstrap band, over the runs it was fitted to.
//!
//! For a Chinchilla fit this draws L(N, D) = E + A/N^α + B/D^β (Hoffmann et al. 2022 eq. 2)
//! along D at each trained N; the band is the 2.5–97.5 percentile of the bootstrap refits'
//! predictions at each point (Besiroglu et al. 2024 report their intervals the same way).

use crate::ReportInput;
use crate::chart::{
    DrawResult, Fonts, Frame, Plot, fmt_sci, legend, lin_range, line_key, log_pos, log_range, ramp,
};
use crate::charts::compute::n_span;
use plotters::coord::Shift;
use plotters::prelude::*;

pub(crate) struct LawCurves<'a>(pub(crate) &'a ReportInput);

impl Plot for LawCurves<'_> {
    const ID: &'static str = "law";

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let input = self.0;
        let curves = &input.law_curves;
        let f = Fonts::of(root);
        root.fill(&WHITE)?;
        let x = log_range(
            curves
                .iter()
                .flat_map(|c| c.points.iter().map(|p| p[0]).chain(c.observed.iter().map(|p| p[0]))),
            1.1,
        );
        // The axis follows the fitted curves and the runs; a wide band (a poorly determined
        // fit) is clipped to it rather than flattening everything else.
        let y = lin_range(
            curves
                .iter()
                .flat_map(|c| c.points.iter().map(|p| p[1]).chain(c.observed.iter().map(|p| p[1]))),
            0.08,
        );
        let (n_lo, n_hi) = n_span(input);
        let caption = match &input.law_formula {
            Some(_) => "Fitted law: loss against tokens per model size (95% bootstrap band)",
            None => "Fitted law",
        };
        let mut chart = Frame::loss(caption, "training tokens D").draw(root, &f, x, y.clone())?;
        for c in curves {
            let colour = ramp(log_pos(c.n, n_lo, n_hi));
            if c.points.iter().any(|p| p[3] > p[2]) {
                let clip = |v: f64| v.clamp(y.start, y.end);
                let mut band: Vec<(f64, f64)> =
                    c.points.iter().map(|p| (p[0], clip(p[3]))).collect();
                band.extend(c.points.iter().rev().map(|p| (p[0], clip(p[2]))));
                chart
                    .draw_series(std::iter::once(Polygon::new(band, colour.mix(0.18).filled())))?;
            }
            let line: Vec<(f64, f64)> = c.points.iter().map(|p| (p[0], p[1])).collect();
            chart
                .draw_series(LineSeries::new(line, colour.stroke_width(f.u(1.5))))?
                .label(format!("N = {}", fmt_sci(c.n)))
                .legend(line_key(colour));
            chart.draw_series(
                c.observed.iter().map(|p| Circle::new((p[0], p[1]), f.i(4.0), colour.filled())),
            )?;
        }
        legend(&mut chart, &f, SeriesLabelPosition::UpperRight)?;
        Ok(())
    }
}
