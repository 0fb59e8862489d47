//! What every chart shares: the drawing contract, SVG and PNG rendering, the frame (caption,
//! axes, grid) and the legend, colours and number formats.
//!
//! A chart is drawn once per backend from the same code: into a string for the inline SVG
//! and into a PNG file beside the HTML.

use crate::font::{self, FAMILY};
use crate::{Error, Result};
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use std::ops::Range;
use std::path::Path;

/// What a chart's drawing code returns; plotters' errors differ per backend.
pub(crate) type DrawResult<T = ()> =
    std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// A chart: an id (used for file names and the HTML anchor) and drawing code for any backend.
pub(crate) trait Plot {
    /// File-name-safe id, e.g. `isoflop`.
    const ID: &'static str;
    /// Width and height in pixels.
    const SIZE: (u32, u32) = (860, 520);

    /// Draws the chart on `root`.
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static;
}

/// Renders `plot` as an SVG document (a string to inline in the HTML).
pub(crate) fn render_svg<P: Plot>(plot: &P) -> Result<String> {
    font::ensure_registered();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, P::SIZE).into_drawing_area();
        plot.draw(&root).map_err(|e| plot_err::<P>(&*e))?;
        root.present().map_err(|e| plot_err::<P>(&e))?;
    }
    Ok(svg)
}

/// Renders `plot` as a PNG at `path` (the caller stages it: see `write`). Drawn at twice the
/// SVG's size for sharp text.
pub(crate) fn render_png<P: Plot>(plot: &P, path: &Path) -> Result<()> {
    font::ensure_registered();
    let (w, h) = P::SIZE;
    // Twice the SVG's size; the drawing code scales fonts and strokes with the area.
    let root = BitMapBackend::new(path, (w * 2, h * 2)).into_drawing_area();
    plot.draw(&root).map_err(|e| plot_err::<P>(&*e))?;
    root.present().map_err(|e| plot_err::<P>(&e))?;
    Ok(())
}

fn plot_err<P: Plot>(e: &dyn std::fmt::Display) -> Error {
    Error::Plot { chart: P::ID, message: e.to_string() }
}

/// Font sizes, scaled with the drawing area so the PNG (twice as large) looks like the SVG.
pub(crate) struct Fonts {
    pub(crate) scale: f64,
}

impl Fonts {
    pub(crate) fn of<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>) -> Self {
        let (w, _) = root.dim_in_pixel();
        Self { scale: (w as f64 / 860.0).max(0.5) }
    }
    pub(crate) fn px(&self, size: f64) -> f64 {
        size * self.scale
    }
    pub(crate) fn title(&self) -> (&'static str, f64) {
        (FAMILY, self.px(18.0))
    }
    pub(crate) fn label(&self) -> (&'static str, f64) {
        (FAMILY, self.px(13.0))
    }
    pub(crate) fn u(&self, v: f64) -> u32 {
        (v * self.scale).round().max(1.0) as u32
    }
    pub(crate) fn i(&self, v: f64) -> i32 {
        (v * self.scale).round().max(1.0) as i32
    }
}

/// A chart with a logarithmic x axis (compute, parameters or tokens) and a linear y axis.
pub(crate) type LogXChart<'a, DB> =
    ChartContext<'a, DB, Cartesian2d<LogCoord<f64>, RangedCoordf64>>;

/// What differs between the frames of the log-x charts: the caption, the axis titles and the
/// y axis's tick labels. Margins, label areas, fonts and the grid are the same on every one,
/// so the report's charts read as one family.
pub(crate) struct Frame<'t> {
    pub(crate) caption: &'t str,
    pub(crate) x_desc: &'t str,
    pub(crate) y_desc: &'t str,
    /// Labels of the y ticks (the x ticks are labelled by [`fmt_log_tick`]).
    pub(crate) y_ticks: fn(&f64) -> String,
    /// Width of the y tick labels' area in SVG pixels, scaled with the drawing area.
    pub(crate) y_label_area: f64,
}

impl<'t> Frame<'t> {
    /// A frame whose y axis is the validation loss, in nats per token.
    pub(crate) fn loss(caption: &'t str, x_desc: &'t str) -> Self {
        Self {
            caption,
            x_desc,
            y_desc: "validation loss (nats/token)",
            y_ticks: |v| format!("{v:.2}"),
            y_label_area: 56.0,
        }
    }

    /// Draws the caption, the axes over `x` (log scale) × `y` and the grid on `root`, and
    /// returns the chart to draw the series on.
    pub(crate) fn draw<'a, DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        f: &Fonts,
        x: Range<f64>,
        y: Range<f64>,
    ) -> DrawResult<LogXChart<'a, DB>>
    where
        DB::ErrorType: 'static,
    {
        let mut chart = ChartBuilder::on(root)
            .caption(self.caption, f.title())
            .margin(f.u(12.0))
            .x_label_area_size(f.u(44.0))
            .y_label_area_size(f.u(self.y_label_area))
            .build_cartesian_2d(x.log_scale(), y)?;
        chart
            .configure_mesh()
            .x_desc(self.x_desc)
            .y_desc(self.y_desc)
            .x_label_formatter(&|v| fmt_log_tick(*v))
            .y_label_formatter(&self.y_ticks)
            .label_style(f.label())
            .axis_desc_style(f.label())
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        Ok(chart)
    }
}

/// Draws the legend of `chart`'s labelled series in a translucent box at `position`.
pub(crate) fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    f: &Fonts,
    position: SeriesLabelPosition,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    chart
        .configure_series_labels()
        .position(position)
        .label_font(f.label())
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .draw()?;
    Ok(())
}

/// The legend's key for a line series: a short stroke in the line's colour, drawn at a
/// position in backend pixels.
pub(crate) fn line_key(colour: RGBColor) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2))
}

/// A range covering `values` on a log axis, padded by `pad` (a factor) on each side.
pub(crate) fn log_range(values: impl IntoIterator<Item = f64>, pad: f64) -> Range<f64> {
    let (lo, hi) = min_max(values.into_iter().filter(|v| v.is_finite() && *v > 0.0));
    match (lo, hi) {
        (Some(lo), Some(hi)) if hi > lo => lo / pad..hi * pad,
        (Some(v), _) => v / 2.0..v * 2.0,
        _ => 1.0..10.0,
    }
}

/// A range covering `values` on a linear axis, padded by `frac` of its span on each side.
pub(crate) fn lin_range(values: impl IntoIterator<Item = f64>, frac: f64) -> Range<f64> {
    let (lo, hi) = min_max(values.into_iter().filter(|v| v.is_finite()));
    match (lo, hi) {
        (Some(lo), Some(hi)) if hi > lo => {
            let pad = (hi - lo) * frac;
            lo - pad..hi + pad
        }
        (Some(v), _) => v - 0.5_f64.max(v.abs() * 0.1)..v + 0.5_f64.max(v.abs() * 0.1),
        _ => 0.0..1.0,
    }
}

fn min_max(values: impl Iterator<Item = f64>) -> (Option<f64>, Option<f64>) {
    values.fold((None, None), |(lo, hi): (Option<f64>, Option<f64>), v| {
        (Some(lo.map_or(v, |l| l.min(v))), Some(hi.map_or(v, |h| h.max(v))))
    })
}

/// Compact scientific notation for axis labels and tables: `3e12`, `1.5e5`, `420`.
pub fn fmt_sci(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    if v != 0.0 && (v.abs() >= 1e4 || v.abs() < 1e-2) {
        let s = format!("{v:.1e}");
        // 3.0e12 → 3e12
        s.replacen(".0e", "e", 1)
    } else if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

/// A label for a tick on a log axis: `fmt_sci` at 1, 2 and 5 times a power of ten, blank
/// elsewhere. Over less than a decade or two, plotters puts a tick at every integer multiple,
/// whose labels run into each other near the decade (`9e4` and `1e5`).
pub(crate) fn fmt_log_tick(v: f64) -> String {
    if !(v.is_finite() && v > 0.0) {
        return String::new();
    }
    let mantissa = v / 10f64.powf(v.log10().floor());
    if [1.0, 2.0, 5.0, 10.0].iter().any(|m| (mantissa - m).abs() < 1e-6 * m) {
        fmt_sci(v)
    } else {
        String::new()
    }
}

/// A colour for position `t` in [0, 1] along a perceptually ordered ramp (close to viridis:
/// dark purple for small models to yellow for large ones).
pub(crate) fn ramp(t: f64) -> RGBColor {
    // Five anchors of matplotlib's viridis map (van der Walt & Smith 2015), interpolated.
    const ANCHORS: [(u8, u8, u8); 5] =
        [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)];
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 } * (ANCHORS.len() - 1) as f64;
    let i = (t.floor() as usize).min(ANCHORS.len() - 2);
    let f = t - i as f64;
    let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * f).round() as u8;
    let (a, b) = (ANCHORS[i], ANCHORS[i + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Position of `v` between `lo` and `hi` on a log scale, in [0, 1].
pub(crate) fn log_pos(v: f64, lo: f64, hi: f64) -> f64 {
    if hi <= lo { 0.5 } else { ((v.ln() - lo.ln()) / (hi.ln() - lo.ln())).clamp(0.0, 1.0) }
}

/// Distinct colours for categories (budgets).
pub(crate) fn category(i: usize) -> RGBColor {
    const COLOURS: [(u8, u8, u8); 8] = [
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (214, 39, 40),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (127, 127, 127),
    ];
    let (r, g, b) = COLOURS[i % COLOURS.len()];
    RGBColor(r, g, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(fmt_sci(3e12), "3e12");
        assert_eq!(fmt_sci(1.5e5), "1.5e5");
        assert_eq!(fmt_sci(420.0), "420");
        assert_eq!(fmt_sci(2.345), "2.345");
    }

    #[test]
    fn ranges() {
        assert_eq!(fmt_log_tick(2e4), "2e4");
        assert_eq!(fmt_log_tick(1e5), "1e5");
        assert_eq!(fmt_log_tick(9e4), "");
        assert_eq!(fmt_log_tick(3e4), "");
        let r = log_range([10.0, 1000.0], 2.0);
        assert_eq!((r.start, r.end), (5.0, 2000.0));
        let r = lin_range([1.0, 3.0], 0.5);
        assert_eq!((r.start, r.end), (0.0, 4.0));
        assert_eq!(ramp(0.0), RGBColor(68, 1, 84));
        assert_eq!(ramp(1.0), RGBColor(253, 231, 37));
    }
}
