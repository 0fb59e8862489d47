//! Downstream law: each task and method's test accuracy against the pretrained model's loss,
//! with step 2 of the two-step law (Bhagia et al. 2024) drawn through it. Filled: the
//! fine-tunes of the budgets the law was fitted on; hollow: the held-out largest budget's,
//! which the law, fitted without them, predicted from N and D.

use crate::ReportInput;
use crate::chart::{DrawResult, Fonts, Plot, category, legend, lin_range, line_key};
use plotters::coord::Shift;
use plotters::prelude::*;

pub(crate) struct DownstreamLaw<'a>(pub(crate) &'a ReportInput);

impl Plot for DownstreamLaw<'_> {
    const ID: &'static str = "downstream-law";

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let input = self.0;
        let f = Fonts::of(root);
        root.fill(&WHITE)?;
        let points = || input.downstream_laws.iter().flat_map(|s| s.points.iter().chain(&s.held));
        let x = lin_range(points().map(|p| p[0]), 0.08);
        let y = lin_range(
            points().map(|p| p[1]).chain(
                input
                    .downstream_laws
                    .iter()
                    .flat_map(|s| s.curve.iter())
                    .filter(|p| x.contains(&p[0]))
                    .map(|p| p[1]),
            ),
            0.08,
        );
        // Loss spans well under a decade here: a linear axis, not the frame's log one.
        let mut chart = ChartBuilder::on(root)
            .caption("Test accuracy against pretraining loss", f.title())
            .margin(f.u(12.0))
            .x_label_area_size(f.u(44.0))
            .y_label_area_size(f.u(56.0))
            .build_cartesian_2d(x.clone(), y)?;
        chart
            .configure_mesh()
            .x_desc("validation loss of the pretrained model (nats/token)")
            .y_desc("test accuracy")
            .x_label_formatter(&|v| format!("{v:.2}"))
            .y_label_formatter(&|v| format!("{v:.2}"))
            .label_style(f.label())
            .axis_desc_style(f.label())
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        for (i, s) in input.downstream_laws.iter().enumerate() {
            let colour = category(i);
            let curve: Vec<(f64, f64)> =
                s.curve.iter().filter(|p| x.contains(&p[0])).map(|p| (p[0], p[1])).collect();
            let band: Vec<&[f64; 3]> = s.band.iter().filter(|p| x.contains(&p[0])).collect();
            if band.len() >= 2 {
                let outline: Vec<(f64, f64)> = band
                    .iter()
                    .map(|p| (p[0], p[2]))
                    .chain(band.iter().rev().map(|p| (p[0], p[1])))
                    .collect();
                chart.draw_series(std::iter::once(Polygon::new(outline, colour.mix(0.15))))?;
            }
            let label = match s.held_out_error {
                Some(e) => format!("{} (held out: {:.1} points off)", s.label, 100.0 * e),
                None => s.label.clone(),
            };
            chart
                .draw_series(LineSeries::new(curve, colour.stroke_width(f.u(1.5))))?
                .label(label)
                .legend(line_key(colour));
            chart.draw_series(
                s.points.iter().map(|p| Circle::new((p[0], p[1]), f.i(4.0), colour.filled())),
            )?;
            chart.draw_series(
                s.held
                    .iter()
                    .map(|p| Circle::new((p[0], p[1]), f.i(5.0), colour.stroke_width(f.u(1.5)))),
            )?;
        }
        legend(&mut chart, &f, SeriesLabelPosition::UpperRight)
    }
}
