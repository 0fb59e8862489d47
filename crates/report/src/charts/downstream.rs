//! Downstream: each task's test accuracy after fine-tuning against model size, one line per
//! task and method (through each size's mean over the budgets that trained it), with the task's majority-class and naive Bayes accuracies as dashed
//! references (what "good" means on it). A rising line is the second half of the loop: what a
//! larger pretrained model buys on the task.

use crate::ReportInput;
use crate::chart::{
    DrawResult, Fonts, Frame, Plot, category, legend, lin_range, line_key, log_range,
};
use plotters::coord::Shift;
use plotters::prelude::*;

pub(crate) struct Downstream<'a>(pub(crate) &'a ReportInput);

impl Plot for Downstream<'_> {
    const ID: &'static str = "downstream";

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let input = self.0;
        let f = Fonts::of(root);
        root.fill(&WHITE)?;
        let points = || input.downstream.iter().flat_map(|s| s.points.iter());
        let x = log_range(points().map(|p| p[0]), 1.3);
        let y = lin_range(
            points().map(|p| p[1]).chain(input.downstream_baselines.iter().map(|b| b.1)),
            0.08,
        );
        let frame = Frame {
            caption: "Fine-tuned test accuracy against model size",
            x_desc: "parameters N",
            y_desc: "test accuracy",
            y_ticks: |v| format!("{v:.2}"),
            y_label_area: 56.0,
        };
        let mut chart = frame.draw(root, &f, x.clone(), y)?;
        for (i, s) in input.downstream.iter().enumerate() {
            let colour = category(i);
            let dots: Vec<(f64, f64)> = s.points.iter().map(|p| (p[0], p[1])).collect();
            // A sweep trains one size at several budgets: the line joins each size's mean,
            // the dots are every fine-tune.
            let mut sizes: Vec<f64> = dots.iter().map(|p| p.0).collect();
            sizes.sort_by(f64::total_cmp);
            sizes.dedup();
            let line: Vec<(f64, f64)> = sizes
                .iter()
                .map(|&n| {
                    let at: Vec<f64> = dots.iter().filter(|p| p.0 == n).map(|p| p.1).collect();
                    (n, at.iter().sum::<f64>() / at.len() as f64)
                })
                .collect();
            chart
                .draw_series(LineSeries::new(line, colour.stroke_width(f.u(1.5))))?
                .label(s.label.clone())
                .legend(line_key(colour));
            chart.draw_series(dots.iter().map(|&p| Circle::new(p, f.i(4.0), colour.filled())))?;
        }
        for (j, (label, acc)) in input.downstream_baselines.iter().enumerate() {
            let grey = RGBColor(90, 90, 90).mix(if j % 2 == 0 { 0.9 } else { 0.5 });
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(x.start, *acc), (x.end, *acc)],
                    f.u(6.0),
                    f.u(4.0),
                    grey.stroke_width(f.u(1.0)),
                ))?
                .label(label.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], grey));
        }
        legend(&mut chart, &f, SeriesLabelPosition::LowerRight)
    }
}
