//! What the targets share.
#![allow(dead_code)]

use std::path::PathBuf;

/// A file of this process's own, in the temporary directory, holding `data` with extension
/// `ext`: the observation reader takes a path (it picks the format by the extension).
pub fn scratch(data: &[u8], ext: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("isoflop-fuzz-{}.{ext}", std::process::id()));
    std::fs::write(&path, data).expect("the temporary directory is writable");
    path
}

/// Reads `data` as an observation file; whatever it returns must be valid observations.
pub fn observations(data: &[u8], ext: &str) {
    let path = scratch(data, ext);
    let cols = isoflop_law::ColumnNames::default();
    if let Ok(rows) = isoflop_law::read_observations(&path, &cols) {
        assert!(!rows.is_empty(), "an empty file is an error, not zero rows");
        for r in &rows {
            assert!(r.n.is_finite() && r.n > 0.0, "N {} passed validation", r.n);
            assert!(r.d.is_finite() && r.d > 0.0, "D {} passed validation", r.d);
            assert!(r.loss.is_finite() && r.loss > 0.0, "loss {} passed validation", r.loss);
        }
    }
}
