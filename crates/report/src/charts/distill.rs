//! Distilled against scratch: at each compute budget, every smaller model distilled from the
//! budget's teacher (its largest or lowest-loss run; Hinton, Vinyals & Dean 2015) beside the
//! same shape trained from scratch on the same tokens (the sweep's own pretraining run), loss
//! against the student's size. Both students see the same batches in the same order and are
//! scored on the same windows, so the gap between a budget's two lines is what the teacher's
//! soft targets bought at equal student compute. A triangle marks the teacher, scored on the
//! same windows.

use crate::ReportInput;
use crate::chart::{
    DrawResult, Fonts, Frame, Plot, category, fmt_sci, legend, lin_range, line_key, log_range,
};
use plotters::coord::Shift;
use plotters::prelude::*;

pub(crate) struct Distill<'a>(pub(crate) &'a ReportInput);

impl Plot for Distill<'_> {
    const ID: &'static str = "distill";

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let series = &self.0.distill;
        let f = Fonts::of(root);
        root.fill(&WHITE)?;
        let teachers = || series.iter().filter_map(|s| Some([s.teacher_n, s.teacher_loss?]));
        let points = || {
            series
                .iter()
                .flat_map(|s| s.distilled.iter().chain(&s.scratch).copied())
                .chain(teachers())
        };
        let x = log_range(points().map(|p| p[0]), 1.3);
        let y = lin_range(points().map(|p| p[1]), 0.08);
        let frame = Frame::loss("Distilled students against scratch", "student parameters N");
        let mut chart = frame.draw(root, &f, x, y)?;
        for (i, s) in series.iter().enumerate() {
            let colour = category(i);
            let budget = fmt_sci(s.budget);
            let distilled: Vec<(f64, f64)> = s.distilled.iter().map(|p| (p[0], p[1])).collect();
            chart
                .draw_series(LineSeries::new(distilled.clone(), colour.stroke_width(f.u(1.5))))?
                .label(format!("C = {budget}: distilled from N = {}", fmt_sci(s.teacher_n)))
                .legend(line_key(colour));
            chart.draw_series(
                distilled.iter().map(|&p| Circle::new(p, f.i(4.0), colour.filled())),
            )?;
            let scratch: Vec<(f64, f64)> = s.scratch.iter().map(|p| (p[0], p[1])).collect();
            chart
                .draw_series(DashedLineSeries::new(
                    scratch.clone(),
                    f.u(6.0),
                    f.u(4.0),
                    colour.stroke_width(f.u(1.5)),
                ))?
                .label(format!("C = {budget}: scratch"))
                .legend(move |(x, y)| {
                    let dash = |a: i32, b: i32| {
                        PathElement::new(vec![(a, 0), (b, 0)], colour.stroke_width(2))
                    };
                    EmptyElement::at((x, y)) + dash(0, 6) + dash(11, 18)
                });
            chart.draw_series(
                scratch.iter().map(|&p| Circle::new(p, f.i(4.0), colour.stroke_width(f.u(1.0)))),
            )?;
            if let Some(l) = s.teacher_loss {
                // The teacher itself, scored on the students' windows: what the soft targets
                // came from.
                chart.draw_series(std::iter::once(TriangleMarker::new(
                    (s.teacher_n, l),
                    f.i(6.0),
                    colour.filled(),
                )))?;
            }
        }
        legend(&mut chart, &f, SeriesLabelPosition::UpperRight)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DistillSeries;
    use crate::chart::render_svg;

    #[test]
    fn draws_both_students_of_each_budget_with_the_teacher() {
        let input = ReportInput {
            distill: vec![DistillSeries {
                budget: 1e12,
                teacher_n: 4e5,
                teacher_loss: Some(1.9),
                distilled: vec![[1e5, 2.2], [2e5, 2.0]],
                scratch: vec![[1e5, 2.3], [2e5, 2.05]],
            }],
            ..ReportInput::default()
        };
        let svg = render_svg(&Distill(&input)).unwrap();
        assert!(svg.contains("C = 1e12: distilled from N = 4e5"), "{svg}");
        assert!(svg.contains("C = 1e12: scratch"), "{svg}");
    }
}
