//! The k-bit view: every model's validation loss against the bytes its weights take, as
//! trained (fp32) and as each compression method packed it, with the front of models no other
//! is both smaller and better than. Dettmers & Zettlemoyer 2023 ("The case for 4-bit
//! precision: k-bit Inference Scaling Laws") found 4-bit models on this front for a fixed
//! number of model bits; here the reader sees where the sweep's own models fall.

use crate::ReportInput;
use crate::chart::{DrawResult, Fonts, Frame, Plot, category, legend, lin_range, log_range};
use plotters::coord::Shift;
use plotters::prelude::*;

pub(crate) struct Packed<'a>(pub(crate) &'a ReportInput);

impl Plot for Packed<'_> {
    const ID: &'static str = "packed";

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let input = self.0;
        let models = &input.packed;
        let f = Fonts::of(root);
        root.fill(&WHITE)?;
        let x = log_range(models.iter().map(|m| m.bytes), 1.3);
        let y = lin_range(models.iter().map(|m| m.loss), 0.06);
        let frame = Frame::loss("Loss against weight memory (k-bit view)", "weight bytes");
        let mut chart = frame.draw(root, &f, x, y)?;
        let mut methods: Vec<&str> = Vec::new();
        for m in models {
            if !methods.contains(&m.method.as_str()) {
                methods.push(&m.method);
            }
        }
        for (i, method) in methods.iter().enumerate() {
            let colour = category(i);
            chart
                .draw_series(
                    models
                        .iter()
                        .filter(|m| m.method == *method)
                        .map(|m| Circle::new((m.bytes, m.loss), f.i(4.0), colour.filled())),
                )?
                .label(*method)
                .legend(move |(x, y)| Circle::new((x + 9, y), 4, colour.filled()));
        }
        if input.packed_front.len() > 1 {
            let front: Vec<(f64, f64)> = input.packed_front.iter().map(|p| (p[0], p[1])).collect();
            chart
                .draw_series(LineSeries::new(front, BLACK.stroke_width(f.u(1.5))))?
                .label("front: no model smaller and better")
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLACK));
        }
        legend(&mut chart, &f, SeriesLabelPosition::UpperRight)
    }
}
