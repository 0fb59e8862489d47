//! Residuals of the fit: ln(predicted) − ln(actual) for every fitted run, against compute.
//!
//! The fit minimises a Huber loss of exactly these log residuals (Hoffmann et al. 2022 §3.3),
//! so a pattern here (a trend with C or a cluster by size) is the first sign the law's form
//! does not match the data.

use crate::ReportInput;
use crate::chart::{DrawResult, Fonts, Frame, Plot, lin_range, log_pos, log_range, ramp};
use crate::charts::compute::n_span;
use plotters::coord::Shift;
use plotters::prelude::*;

pub(crate) struct Residuals<'a>(pub(crate) &'a ReportInput);

impl Plot for Residuals<'_> {
    const ID: &'static str = "residuals";
    const SIZE: (u32, u32) = (860, 380);

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let input = self.0;
        let f = Fonts::of(root);
        root.fill(&WHITE)?;
        let x = log_range(input.residuals.iter().map(|r| r.c), 1.3);
        let biggest = input.residuals.iter().map(|r| r.log_residual.abs()).fold(1e-4, f64::max);
        let y = lin_range([-biggest, biggest], 0.15);
        let (n_lo, n_hi) = n_span(input);
        let frame = Frame {
            caption: "Residuals: ln(predicted) − ln(actual)",
            x_desc: "training compute C (FLOPs)",
            y_desc: "log residual",
            y_ticks: |v| format!("{v:+.3}"),
            // Wider than the loss charts' 56: signed ticks with three decimals.
            y_label_area: 64.0,
        };
        let mut chart = frame.draw(root, &f, x.clone(), y)?;
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(x.start, 0.0), (x.end, 0.0)],
            BLACK.mix(0.6).stroke_width(f.u(1.0)),
        )))?;
        chart.draw_series(input.residuals.iter().map(|r| {
            Circle::new((r.c, r.log_residual), f.i(4.0), ramp(log_pos(r.n, n_lo, n_hi)).filled())
        }))?;
        Ok(())
    }
}
