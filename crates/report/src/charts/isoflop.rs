//! IsoFLOP profiles: final loss against model size at fixed compute, per budget.
//!
//! Hoffmann et al. 2022 approach 2 (§3.2, Fig. 3): for each budget, the runs' losses are
//! fitted with a parabola in ln N and its vertex is the compute-optimal size at that budget.
//! A vertex outside the sampled sizes is not trusted, and is not drawn.

use crate::ReportInput;
use crate::chart::{
    DrawResult, Fonts, Frame, Plot, category, fmt_sci, legend, lin_range, log_range,
};
use plotters::coord::Shift;
use plotters::prelude::*;

pub(crate) struct IsoflopCurves<'a>(pub(crate) &'a ReportInput);

impl Plot for IsoflopCurves<'_> {
    const ID: &'static str = "isoflop";

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let profiles = &self.0.isoflop;
        let f = Fonts::of(root);
        root.fill(&WHITE)?;
        let x = log_range(profiles.iter().flat_map(|p| p.points.iter().map(|q| q[0])), 1.4);
        let vertices = profiles.iter().filter_map(|p| p.vertex.map(|v| v[1]));
        let y = lin_range(
            profiles.iter().flat_map(|p| p.points.iter().map(|q| q[1])).chain(vertices),
            0.08,
        );
        let caption = "IsoFLOP profiles: loss against model size at fixed compute";
        let mut chart = Frame::loss(caption, "parameters N").draw(root, &f, x, y.clone())?;
        for (i, p) in profiles.iter().enumerate() {
            let colour = category(i);
            let label = format!("C = {}", fmt_sci(p.budget));
            let pts: Vec<(f64, f64)> = p.points.iter().map(|q| (q[0], q[1])).collect();
            let anno = chart
                .draw_series(pts.iter().map(|&xy| Circle::new(xy, f.i(4.5), colour.filled())))?;
            anno.label(label).legend(move |(x, y)| Circle::new((x + 9, y), 4, colour.filled()));
            if let Some([c0, c1, c2]) = p.parabola {
                let (lo, hi) = p
                    .points
                    .iter()
                    .fold((f64::INFINITY, 0.0f64), |(lo, hi), q| (lo.min(q[0]), hi.max(q[0])));
                if hi > lo {
                    let (a, b) = ((lo / 1.25).ln(), (hi * 1.25).ln());
                    let line: Vec<(f64, f64)> = (0..=80)
                        .map(|k| a + (b - a) * k as f64 / 80.0)
                        .map(|t| (t.exp(), c0 + c1 * t + c2 * t * t))
                        .filter(|(_, l)| *l >= y.start && *l <= y.end)
                        .collect();
                    chart.draw_series(LineSeries::new(line, colour.stroke_width(f.u(1.5))))?;
                }
            }
            if let Some([n, l]) = p.vertex {
                chart.draw_series(std::iter::once(TriangleMarker::new(
                    (n, l),
                    f.i(7.0),
                    colour.filled(),
                )))?;
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![(n, y.start), (n, l)],
                    colour.mix(0.5).stroke_width(f.u(1.0)),
                )))?;
            }
        }
        legend(&mut chart, &f, SeriesLabelPosition::UpperRight)?;
        Ok(())
    }
}
