//! Loss against training compute, with the compute-optimal frontier.
//!
//! Each run's training curve is drawn against C = 6·N·tokens-so-far (Kaplan et al. 2020 §2.1;
//! Hoffmann et al. 2022 Fig. 2 left), coloured by model size, with the run's final loss as a
//! dot. The frontier is the least loss any run reached at each compute: the envelope that
//! approach 1 of Hoffmann et al. 2022 fits.

use crate::ReportInput;
use crate::chart::{
    DrawResult, Fonts, Frame, Plot, legend, lin_range, line_key, log_pos, log_range, ramp,
};
use plotters::coord::Shift;
use plotters::prelude::*;

pub(crate) struct LossVsCompute<'a>(pub(crate) &'a ReportInput);

impl Plot for LossVsCompute<'_> {
    const ID: &'static str = "loss-vs-compute";

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let input = self.0;
        let f = Fonts::of(root);
        root.fill(&WHITE)?;
        let finals: Vec<(f64, f64, f64)> = input
            .runs
            .iter()
            .filter_map(|r| r.loss.map(|l| (r.c, l, r.n)))
            .filter(|(c, l, _)| c.is_finite() && l.is_finite())
            .collect();
        let xs = finals
            .iter()
            .map(|p| p.0)
            .chain(input.curves.iter().flat_map(|c| c.points.iter().map(|p| p[0])));
        let ys = finals
            .iter()
            .map(|p| p.1)
            .chain(input.curves.iter().flat_map(|c| c.points.iter().map(|p| p[1])));
        let x = log_range(xs, 1.3);
        let y = lin_range(ys, 0.05);
        let (n_lo, n_hi) = n_span(input);
        let mut chart = Frame::loss("Loss against training compute", "training compute C (FLOPs)")
            .draw(root, &f, x, y)?;
        for curve in &input.curves {
            let colour = ramp(log_pos(curve.n, n_lo, n_hi));
            let pts: Vec<(f64, f64)> = curve
                .points
                .iter()
                .filter(|p| p[0] > 0.0 && p[1].is_finite())
                .map(|p| (p[0], p[1]))
                .collect();
            chart.draw_series(LineSeries::new(pts, colour.mix(0.45).stroke_width(f.u(1.0))))?;
        }
        chart.draw_series(finals.iter().map(|&(c, l, n)| {
            Circle::new((c, l), f.i(4.0), ramp(log_pos(n, n_lo, n_hi)).filled())
        }))?;
        if input.frontier.len() >= 2 {
            let pts: Vec<(f64, f64)> = input.frontier.iter().map(|p| (p[0], p[1])).collect();
            chart
                .draw_series(LineSeries::new(pts, BLACK.stroke_width(f.u(2.0))))?
                .label("frontier (least loss at each C)")
                .legend(line_key(BLACK));
            legend(&mut chart, &f, SeriesLabelPosition::UpperRight)?;
        }
        Ok(())
    }
}

/// The smallest and largest model size in the input (for the colour ramp).
pub(crate) fn n_span(input: &ReportInput) -> (f64, f64) {
    let ns = input.runs.iter().map(|r| r.n).filter(|n| *n > 0.0);
    let lo = ns.clone().fold(f64::INFINITY, f64::min);
    let hi = ns.fold(0.0, f64::max);
    if lo.is_finite() { (lo, hi) } else { (1.0, 1.0) }
}
