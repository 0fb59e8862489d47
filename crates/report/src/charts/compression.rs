//! What compression costs, by model size: each method's loss delta (compressed minus
//! original, on the same tokens) against N, log-log, with the power law Δ = a·N^(−b) fitted to
//! it. A falling line says larger models lose less to the method (Dettmers & Zettlemoyer
//! 2023 report the same for k-bit quantization); deltas at or below zero (no measurable cost)
//! cannot be drawn on a log axis and are counted in the legend instead.

use crate::ReportInput;
use crate::chart::{
    DrawResult, Fonts, Plot, category, fmt_log_tick, fmt_sci, legend, line_key, log_range,
};
use plotters::coord::Shift;
use plotters::prelude::*;

pub(crate) struct Compression<'a>(pub(crate) &'a ReportInput);

impl Plot for Compression<'_> {
    const ID: &'static str = "compression";

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let series = &self.0.compression;
        let f = Fonts::of(root);
        root.fill(&WHITE)?;
        let positive = || series.iter().flat_map(|s| s.points.iter().filter(|p| p[1] > 0.0));
        let x = log_range(positive().map(|p| p[0]), 1.3);
        let y = log_range(positive().map(|p| p[1]), 2.0);
        let mut chart = ChartBuilder::on(root)
            .caption("Loss that compression costs, by model size", f.title())
            .margin(f.u(12.0))
            .x_label_area_size(f.u(44.0))
            .y_label_area_size(f.u(60.0))
            .build_cartesian_2d(x.clone().log_scale(), y.clone().log_scale())?;
        chart
            .configure_mesh()
            .x_desc("parameters N")
            .y_desc("loss delta (nats/token)")
            .x_label_formatter(&|v| fmt_log_tick(*v))
            .y_label_formatter(&|v| fmt_log_tick(*v))
            .label_style(f.label())
            .axis_desc_style(f.label())
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        for (i, s) in series.iter().enumerate() {
            let colour = category(i);
            let shown: Vec<(f64, f64)> =
                s.points.iter().filter(|p| p[1] > 0.0).map(|p| (p[0], p[1])).collect();
            let hidden = s.points.len() - shown.len();
            let mut label = match s.fit {
                // Δ = a·N^(−b): a negative b (a cost that grows with size) prints as N^0.12.
                Some([a, b]) => format!("{}: Δ = {}·N^{:.2}", s.method, fmt_sci(a), -b),
                None => s.method.clone(),
            };
            if hidden > 0 {
                label += &format!(" ({hidden} at ≤ 0 not drawn)");
            }
            chart
                .draw_series(shown.iter().map(|&p| Circle::new(p, f.i(4.0), colour.filled())))?
                .label(label)
                .legend(line_key(colour));
            if let Some([a, b]) = s.fit {
                let line: Vec<(f64, f64)> = (0..=20)
                    .map(|k| x.start * (x.end / x.start).powf(k as f64 / 20.0))
                    .map(|n| (n, a * n.powf(-b)))
                    .filter(|(_, d)| *d >= y.start && *d <= y.end)
                    .collect();
                chart.draw_series(LineSeries::new(line, colour.stroke_width(f.u(1.5))))?;
            }
        }
        legend(&mut chart, &f, SeriesLabelPosition::UpperRight)
    }
}
