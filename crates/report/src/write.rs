//! Drawing every chart and writing the report: `report.html` plus one PNG per chart beside
//! it (`report-isoflop.png`, …). Every file is staged under a temporary name first and all
//! are renamed into place at the end (isoflop-atomic), so an interrupted or failed report
//! leaves neither half a file nor temporary files nor charts without their page.

use crate::chart::{Plot, render_png, render_svg};
use crate::charts::{
    compression, compute, distill, downstream, downstream_compute, downstream_law, isoflop, law,
    optimal, packed, residuals, sparsity,
};
use crate::html::{Figure, document};
use crate::{Error, ReportInput, Result};
use isoflop_atomic::StagedFile;
use std::path::{Path, PathBuf};

/// What [`write_report`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    /// The HTML file.
    pub html: PathBuf,
    /// The PNGs, one per drawn chart.
    pub pngs: Vec<PathBuf>,
    /// Ids of the charts drawn.
    pub charts: Vec<&'static str>,
    /// Charts left out, with the reason (no data for them).
    pub missing: Vec<(&'static str, String)>,
}

/// The report's charts in page order: id, title, caption, and why it would be missing.
fn figures(input: &ReportInput) -> Vec<(&'static str, &'static str, &'static str, Option<String>)> {
    let has_loss = input.runs.iter().any(|r| r.loss.is_some());
    let mut figures = vec![
        (
            compute::LossVsCompute::ID,
            "Loss against compute",
            "Each run's validation curve against C = 6·N·tokens, coloured by size (dark: small, \
             yellow: large); dots are final losses; the black line is the least loss reached at \
             each compute (Hoffmann et al. 2022, approach 1).",
            (!has_loss).then(|| "no finished run has a loss".to_string()),
        ),
        (
            isoflop::IsoflopCurves::ID,
            "IsoFLOP profiles",
            "Final loss against model size at fixed compute; lines are parabolas in ln N, \
             triangles their vertices, the compute-optimal size per budget (approach 2).",
            input.isoflop.is_empty().then(|| "the sweep has no IsoFLOP budgets".to_string()),
        ),
        (
            law::LawCurves::ID,
            "Fitted law",
            "The fitted law's loss against tokens at each trained size, with the 95% bootstrap \
             band; dots are the runs (approach 3).",
            input.law_curves.is_empty().then(|| "no law was fitted".to_string()),
        ),
        (
            optimal::Optimal::ID,
            "Compute-optimal N and D",
            "N_opt(C) and D_opt(C) from the fitted law with 95% bootstrap bands, the IsoFLOP \
             vertices, and the Chinchilla (0.50/0.50) and Kaplan (0.73/0.27) reference slopes \
             anchored at the middle of the fitted line.",
            match &input.optimal {
                Some(o) if !o.n_opt.is_empty() => None,
                _ => Some("no law was fitted".to_string()),
            },
        ),
        (
            residuals::Residuals::ID,
            "Residuals",
            "ln(predicted) − ln(actual) of every fitted run against compute; a trend means \
             the law's form misses something.",
            input.residuals.is_empty().then(|| "no law was fitted".to_string()),
        ),
    ];
    // Only a sweep with compression runs has the compression section.
    if !input.compression.is_empty() {
        figures.push((
            compression::Compression::ID,
            "Compression",
            "Each compression method's loss delta (compressed minus original, scored on the \
             same tokens) against model size, log-log, with the power law fitted to it: a \
             falling line means larger models lose less to the method.",
            (!input.compression.iter().any(|s| s.points.iter().any(|p| p[1] > 0.0)))
                .then(|| "no compression cost a measurable loss".to_string()),
        ));
        figures.push((
            packed::Packed::ID,
            "Loss against weight memory",
            "Every model as trained (fp32) and as each method packed it: validation loss against \
             the bytes of its weights file, scales included; the black line joins the models no \
             other is both smaller and better than (the k-bit view of Dettmers & Zettlemoyer \
             2023).",
            input.packed.is_empty().then(|| "no packed model reports its size".to_string()),
        ));
    }
    // Only when some method was pruned to two sparsities or more: one point per line says
    // nothing the loss-delta chart does not.
    if !input.sparsity.is_empty() {
        figures.push((
            sparsity::Sparsity::ID,
            "Loss against sparsity",
            "Each pruning method's validation loss against the fraction of block weights it \
             pruned, one line per model size (dark: small, yellow: large); sparsity 0 is the \
             model as trained, scored on the same tokens. Solid: the first method, dashed: the \
             others.",
            None,
        ));
    }
    if !input.distill.is_empty() {
        figures.push((
            distill::Distill::ID,
            "Distilled against scratch",
            "At each compute budget, each smaller model distilled from the budget's teacher \
             (its N in the legend) on the teacher's soft targets (solid) beside the same shape \
             trained from scratch by the sweep (dashed): same tokens, same batches in the same \
             order, scored on the same windows; the triangle is the teacher on those windows.",
            None,
        ));
    }
    if !input.downstream.is_empty() {
        figures.push((
            downstream::Downstream::ID,
            "Downstream",
            "Each task's test accuracy after fine-tuning every swept model, by model size, one \
             line per task and method; dashed: the task's majority-class and naive Bayes \
             accuracies.",
            None,
        ));
    }
    if !input.downstream_laws.is_empty() {
        figures.push((
            downstream_law::DownstreamLaw::ID,
            "Downstream law",
            "Test accuracy against the pretrained model's validation loss, with the fitted \
             sigmoid (step 2 of the two-step law, Bhagia et al. 2024; floor held at the task's \
             majority-class accuracy). Filled: fine-tunes of the budgets the law was fitted on; \
             hollow: the held-out largest budget's, whose accuracy the law fitted without them \
             predicted from N and D (error in the legend).",
            None,
        ));
    }
    if input.downstream_laws.iter().any(|s| !s.frontier.is_empty()) {
        figures.push((
            downstream_compute::DownstreamCompute::ID,
            "Downstream against compute",
            "Test accuracy of each fine-tune at its pretrained model's compute C = 6ND, and the \
             two-step law along the compute-optimal frontier (the loss law's optimal N and D at \
             each C, then accuracy from their loss) with its paired-bootstrap 95% band, out to \
             100× the sweep: where `isoflop plan --target-accuracy` reads the least compute.",
            None,
        ));
    }
    figures
}

fn draw(id: &str, input: &ReportInput, png: Option<&Path>) -> Result<Option<String>> {
    fn one<P: Plot>(p: P, png: Option<&Path>) -> Result<Option<String>> {
        match png {
            Some(path) => render_png(&p, path).map(|()| None),
            None => render_svg(&p).map(Some),
        }
    }
    match id {
        compute::LossVsCompute::ID => one(compute::LossVsCompute(input), png),
        isoflop::IsoflopCurves::ID => one(isoflop::IsoflopCurves(input), png),
        law::LawCurves::ID => one(law::LawCurves(input), png),
        optimal::Optimal::ID => one(optimal::Optimal(input), png),
        compression::Compression::ID => one(compression::Compression(input), png),
        packed::Packed::ID => one(packed::Packed(input), png),
        downstream::Downstream::ID => one(downstream::Downstream(input), png),
        downstream_law::DownstreamLaw::ID => one(downstream_law::DownstreamLaw(input), png),
        downstream_compute::DownstreamCompute::ID => {
            one(downstream_compute::DownstreamCompute(input), png)
        }
        sparsity::Sparsity::ID => one(sparsity::Sparsity(input), png),
        distill::Distill::ID => one(distill::Distill(input), png),
        _ => one(residuals::Residuals(input), png),
    }
}

/// The report as one HTML string (charts inline as SVG), without writing PNGs.
pub fn render_html(input: &ReportInput) -> Result<String> {
    let mut figs = Vec::new();
    for (id, title, caption, missing) in figures(input) {
        let svg = match missing {
            Some(why) => Err(why),
            None => Ok(draw(id, input, None)?.unwrap_or_default()),
        };
        figs.push(Figure { id, title, caption, svg, png: None });
    }
    Ok(document(input, &figs))
}

/// Writes the report to `html` and its charts as PNGs beside it, named
/// `<stem>-<chart>.png`. Refuses an input without a single run.
pub fn write_report(input: &ReportInput, html: &Path) -> Result<Written> {
    if input.runs.is_empty() {
        return Err(Error::Empty(format!("sweep {:?} has no runs", input.title)));
    }
    let dir = html.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|source| Error::Io { path: dir.into(), source })?;
    let stem = html.file_stem().and_then(|s| s.to_str()).unwrap_or("report").to_string();
    // The page is staged first, so a target that cannot be written (a directory) is refused
    // before any chart is drawn.
    let mut page = StagedFile::new(html)?;
    let mut staged = Vec::new();
    let mut written =
        Written { html: html.to_path_buf(), pngs: vec![], charts: vec![], missing: vec![] };
    let mut figs = Vec::new();
    for (id, title, caption, missing) in figures(input) {
        if let Some(why) = missing {
            written.missing.push((id, why.clone()));
            figs.push(Figure { id, title, caption, svg: Err(why), png: None });
            continue;
        }
        let svg = draw(id, input, None)?.unwrap_or_default();
        let png_name = format!("{stem}-{id}.png");
        let png_path = dir.join(&png_name);
        let png = StagedFile::new(&png_path)?;
        draw(id, input, Some(png.tmp_path()))?;
        staged.push(png);
        written.pngs.push(png_path);
        written.charts.push(id);
        figs.push(Figure { id, title, caption, svg: Ok(svg), png: Some(png_name) });
    }
    page.write_all(document(input, &figs).as_bytes())?;
    // The charts, then the page that shows them.
    staged.push(page);
    isoflop_atomic::commit_all(staged)?;
    Ok(written)
}
