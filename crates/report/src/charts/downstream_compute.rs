//! Downstream against compute: each fine-tune's test accuracy at its pretrained model's
//! compute C = 6ND, and the two-step law along the compute-optimal frontier (the loss law's
//! optimal N and D at each C, then accuracy from their loss) with its paired-bootstrap band,
//! reaching past the sweep: what `isoflop plan --target-accuracy` reads the least compute from.

use crate::ReportInput;
use crate::chart::{
    DrawResult, Fonts, Frame, Plot, category, legend, lin_range, line_key, log_range,
};
use plotters::coord::Shift;
use plotters::prelude::*;

pub(crate) struct DownstreamCompute<'a>(pub(crate) &'a ReportInput);

impl Plot for DownstreamCompute<'_> {
    const ID: &'static str = "downstream-compute";

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let input = self.0;
        let f = Fonts::of(root);
        root.fill(&WHITE)?;
        let laws = &input.downstream_laws;
        let x = log_range(
            laws.iter().flat_map(|s| {
                s.by_compute.iter().map(|p| p[0]).chain(s.frontier.iter().map(|p| p[0]))
            }),
            1.2,
        );
        let y = lin_range(
            laws.iter().flat_map(|s| {
                s.by_compute.iter().map(|p| p[1]).chain(s.frontier.iter().map(|p| p[1]))
            }),
            0.08,
        );
        let frame = Frame {
            caption: "Test accuracy against pretraining compute",
            x_desc: "pretraining compute C = 6ND (FLOPs)",
            y_desc: "test accuracy",
            y_ticks: |v| format!("{v:.2}"),
            y_label_area: 56.0,
        };
        let mut chart = frame.draw(root, &f, x, y.clone())?;
        for (i, s) in laws.iter().enumerate() {
            let colour = category(i);
            if s.frontier.len() >= 2 {
                let clip = |v: f64| v.clamp(y.start, y.end);
                let outline: Vec<(f64, f64)> = s
                    .frontier
                    .iter()
                    .map(|p| (p[0], clip(p[3])))
                    .chain(s.frontier.iter().rev().map(|p| (p[0], clip(p[2]))))
                    .collect();
                chart.draw_series(std::iter::once(Polygon::new(outline, colour.mix(0.15))))?;
            }
            chart
                .draw_series(LineSeries::new(
                    s.frontier.iter().map(|p| (p[0], p[1])),
                    colour.stroke_width(f.u(1.5)),
                ))?
                .label(format!("{}: compute-optimal, through the loss", s.label))
                .legend(line_key(colour));
            chart.draw_series(
                s.by_compute.iter().map(|p| Circle::new((p[0], p[1]), f.i(4.0), colour.filled())),
            )?;
        }
        legend(&mut chart, &f, SeriesLabelPosition::LowerRight)
    }
}
