//! The report of a sweep's analysis on disk (`report`, `demo`): the HTML, its PNGs and the
//! fit beside them.

use crate::output::write_atomic;
use anyhow::{Context, Result, bail};
use isoflop_store::Store;
use isoflop_sweep::Analysis;
use std::path::{Path, PathBuf};

/// The sweep to report: the one named, or the store's only one.
pub fn pick_sweep(store: &Store, name: Option<&str>) -> Result<String> {
    if let Some(n) = name {
        return Ok(store.sweep(n)?.name);
    }
    let sweeps = store.sweeps()?;
    match sweeps.as_slice() {
        [only] => Ok(only.name.clone()),
        [] => bail!("{} holds no sweep yet", store.path().display()),
        many => bail!(
            "{} holds {} sweeps; choose one with --sweep ({})",
            store.path().display(),
            many.len(),
            many.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// Writes the report of an analysis; returns the files written.
pub fn write(analysis: &Analysis, html: &Path) -> Result<Vec<PathBuf>> {
    let written = isoflop_report::write_report(&analysis.input, html)
        .with_context(|| format!("cannot write report {}", html.display()))?;
    let mut files = vec![written.html.clone()];
    files.extend(written.pngs.iter().cloned());
    let stem = html.file_stem().and_then(|s| s.to_str()).unwrap_or("report");
    if let Some(fit) = &analysis.fit {
        let path = html.with_file_name(format!("{stem}-fit.json"));
        write_atomic(&path, serde_json::to_string_pretty(fit)?.as_bytes())?;
        files.push(path);
    }
    // The compressions' laws, as `isoflop plan --memory-budget --compression-fit` reads them.
    if !analysis.compression_fits.is_empty() {
        let path = html.with_file_name(format!("{stem}-compression.json"));
        let doc = serde_json::json!({
            "sweep": analysis.sweep,
            "fits": analysis.compression_fits,
            "rows": analysis.compression,
        });
        write_atomic(&path, serde_json::to_string_pretty(&doc)?.as_bytes())?;
        files.push(path);
    }
    // Each downstream law, as `isoflop predict` and `plan --target-accuracy` read it.
    for l in &analysis.downstream_laws {
        let name =
            format!("{stem}-downstream-{}-{}.json", file_part(&l.task), file_part(&l.method));
        let path = html.with_file_name(name);
        write_atomic(&path, l.law.to_json()?.as_bytes())?;
        files.push(path);
    }
    Ok(files)
}

/// A task name as part of a file name (a task given as a file path keeps its last part).
fn file_part(name: &str) -> String {
    let last = Path::new(name).file_stem().and_then(|s| s.to_str()).unwrap_or(name);
    last.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect()
}
