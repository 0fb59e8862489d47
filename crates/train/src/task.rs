//! Labelled text-classification tasks: examples, deduplication, the stratified split, and
//! the user's own CSV or JSONL files.
//!
//! A [`Task`] is a list of label names and three splits of [`Example`]s. Every way in goes
//! through the same two rules, so no test example is ever seen in training:
//! - **Duplicates go**: texts are compared after trimming and collapsing runs of whitespace;
//!   the first copy is kept (within a split and across splits: a text in test is dropped from
//!   dev and train, one in dev from train).
//! - **The split is deterministic and stratified** ([`split`]): within each class examples are
//!   ordered by the sha256 of (seed, text) and cut 80/10/10, so every class keeps its share in
//!   every split and the split does not depend on the file's row order.
//!
//! User files ([`load_file`]) are CSV (with a header) or JSON Lines (`.jsonl`/`.json`) with
//! `text` and `label` columns and optionally a split column (`train`, `dev`/`val`/
//! `validation`, `test`); a bad row is an error naming the file, the line and the column.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::Path;

/// Share of each class that goes to dev, and to test (the rest trains).
pub const HOLDOUT_FRACTION: f64 = 0.1;

/// One labelled text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Example {
    /// The text, as given.
    pub text: String,
    /// Index into [`Task::labels`].
    pub label: usize,
}

/// Which split an example belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Training examples.
    Train,
    /// Development examples: early stopping and model selection.
    Dev,
    /// Held-out test examples: reported once, at the end.
    Test,
}

impl Split {
    /// Parses a split column's value.
    pub fn parse(s: &str) -> Option<Split> {
        match s.trim().to_ascii_lowercase().as_str() {
            "train" | "training" => Some(Split::Train),
            "dev" | "val" | "valid" | "validation" => Some(Split::Dev),
            "test" => Some(Split::Test),
            _ => None,
        }
    }
}

/// A classification task split into train, dev and test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// Short name (`mr`, or the file's stem).
    pub name: String,
    /// Where it came from, in words (package and file, or the path).
    pub source: String,
    /// Label names; an example's label indexes this list.
    pub labels: Vec<String>,
    /// Training examples.
    pub train: Vec<Example>,
    /// Development examples.
    pub dev: Vec<Example>,
    /// Test examples.
    pub test: Vec<Example>,
    /// Examples read before deduplication.
    pub rows_read: usize,
    /// Duplicate copies dropped (within and across splits).
    pub duplicates_removed: usize,
}

/// The key two texts are compared by: trimmed, whitespace runs collapsed to one space.
pub fn dedup_key(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn order_key(seed: u64, text: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(seed.to_le_bytes());
    h.update(text.as_bytes());
    h.finalize().into()
}

impl Task {
    /// Builds a task from unsplit rows: drops duplicates, then splits 80/10/10 by class.
    pub fn from_rows(
        name: &str,
        source: &str,
        labels: Vec<String>,
        rows: Vec<Example>,
        seed: u64,
    ) -> Task {
        let rows_read = rows.len();
        let mut seen = HashSet::new();
        let rows: Vec<Example> =
            rows.into_iter().filter(|e| seen.insert(dedup_key(&e.text))).collect();
        let duplicates_removed = rows_read - rows.len();
        let (train, dev, test) = split(rows, labels.len(), seed);
        Task {
            name: name.into(),
            source: source.into(),
            labels,
            train,
            dev,
            test,
            rows_read,
            duplicates_removed,
        }
    }

    /// Builds a task from rows whose split is given: drops duplicates within each split and
    /// across them (test wins over dev, dev over train).
    pub fn from_split_rows(
        name: &str,
        source: &str,
        labels: Vec<String>,
        rows: Vec<(Split, Example)>,
    ) -> Task {
        let rows_read = rows.len();
        let mut seen = HashSet::new();
        let mut out: [Vec<Example>; 3] = Default::default();
        for (i, split) in [Split::Test, Split::Dev, Split::Train].into_iter().enumerate() {
            for (s, e) in &rows {
                if *s == split && seen.insert(dedup_key(&e.text)) {
                    out[i].push(e.clone());
                }
            }
        }
        let [test, dev, train] = out;
        let kept = test.len() + dev.len() + train.len();
        Task {
            name: name.into(),
            source: source.into(),
            labels,
            train,
            dev,
            test,
            rows_read,
            duplicates_removed: rows_read - kept,
        }
    }

    /// The examples of one split.
    pub fn split(&self, split: Split) -> &[Example] {
        match split {
            Split::Train => &self.train,
            Split::Dev => &self.dev,
            Split::Test => &self.test,
        }
    }

    /// Examples per class in one split.
    pub fn class_counts(&self, split: Split) -> Vec<usize> {
        let mut counts = vec![0; self.labels.len()];
        for e in self.split(split) {
            counts[e.label] += 1;
        }
        counts
    }

    /// The most frequent training class (the lowest index on ties).
    pub fn majority_class(&self) -> usize {
        let counts = self.class_counts(Split::Train);
        (0..counts.len()).max_by_key(|&c| (counts[c], std::cmp::Reverse(c))).unwrap_or(0)
    }

    /// Test accuracy of always answering the majority training class.
    pub fn majority_accuracy(&self) -> f64 {
        let m = self.majority_class();
        let hits = self.test.iter().filter(|e| e.label == m).count();
        hits as f64 / self.test.len().max(1) as f64
    }

    /// Median length of the texts in bytes (all splits).
    pub fn median_bytes(&self) -> usize {
        let mut lens: Vec<usize> =
            self.train.iter().chain(&self.dev).chain(&self.test).map(|e| e.text.len()).collect();
        lens.sort_unstable();
        lens.get(lens.len() / 2).copied().unwrap_or(0)
    }

    /// Checks what training needs: two classes or more and every split non-empty.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Error::Task { path: self.name.clone().into(), message: m };
        if self.labels.len() < 2 {
            return Err(bad(format!(
                "a classification task needs at least 2 labels, found {}",
                self.labels.len()
            )));
        }
        for (s, name) in [(Split::Train, "train"), (Split::Dev, "dev"), (Split::Test, "test")] {
            if self.split(s).is_empty() {
                return Err(bad(format!("the {name} split is empty after deduplication")));
            }
        }
        Ok(())
    }
}

/// Splits deduplicated rows 80/10/10 within each class, in sha256(seed, text) order.
pub fn split(
    rows: Vec<Example>,
    classes: usize,
    seed: u64,
) -> (Vec<Example>, Vec<Example>, Vec<Example>) {
    let mut by_class: Vec<Vec<([u8; 32], Example)>> = vec![Vec::new(); classes];
    for e in rows {
        by_class[e.label].push((order_key(seed, &e.text), e));
    }
    let (mut train, mut dev, mut test) = (Vec::new(), Vec::new(), Vec::new());
    for mut class in by_class {
        class.sort_by_key(|a| a.0);
        let n = class.len();
        let held = (n as f64 * HOLDOUT_FRACTION).round() as usize;
        // A class of 2 or more examples gets at least one test example.
        let n_test = if n >= 2 { held.max(1) } else { 0 };
        let n_dev = if n >= 3 { held.max(1) } else { 0 };
        for (i, (k, e)) in class.into_iter().enumerate() {
            let dest = if i < n_test {
                &mut test
            } else if i < n_test + n_dev {
                &mut dev
            } else {
                &mut train
            };
            dest.push((k, e));
        }
    }
    let finish = |mut v: Vec<([u8; 32], Example)>| {
        v.sort_by_key(|a| a.0);
        v.into_iter().map(|(_, e)| e).collect()
    };
    (finish(train), finish(dev), finish(test))
}

/// One row of a user file before labels are numbered.
struct RawRow {
    text: String,
    label: String,
    split: Option<Split>,
}

/// Reads a user task: CSV with a header, or JSON Lines (`.jsonl`/`.json`), with `text` and
/// `label` columns and, if `split_col` is given, that split column.
pub fn load_file(path: &Path, split_col: Option<&str>, seed: u64) -> Result<Task> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let text = String::from_utf8(bytes).map_err(|e| Error::Task {
        path: path.into(),
        message: format!("not UTF-8 (invalid byte at offset {})", e.utf8_error().valid_up_to()),
    })?;
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let rows = if ext == "jsonl" || ext == "json" {
        read_jsonl(path, &text, split_col)?
    } else {
        read_csv(path, &text, split_col)?
    };
    if rows.is_empty() {
        return Err(Error::Task { path: path.into(), message: "holds no rows".into() });
    }
    let labels: Vec<String> =
        rows.iter().map(|r| r.label.clone()).collect::<BTreeSet<_>>().into_iter().collect();
    let index: HashMap<&str, usize> =
        labels.iter().enumerate().map(|(i, l)| (l.as_str(), i)).collect();
    let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("task").to_string();
    let source = path.display().to_string();
    let task = if split_col.is_some() {
        let rows = rows
            .iter()
            .map(|r| {
                let e = Example { text: r.text.clone(), label: index[r.label.as_str()] };
                (r.split.expect("read with a split column"), e)
            })
            .collect();
        Task::from_split_rows(&name, &source, labels.clone(), rows)
    } else {
        let rows = rows
            .iter()
            .map(|r| Example { text: r.text.clone(), label: index[r.label.as_str()] })
            .collect();
        Task::from_rows(&name, &source, labels.clone(), rows, seed)
    };
    task.validate().map_err(|e| match e {
        Error::Task { message, .. } => Error::Task { path: path.into(), message },
        other => other,
    })?;
    Ok(task)
}

fn row_error(path: &Path, line: u64, column: &str, message: impl std::fmt::Display) -> Error {
    Error::Task { path: path.into(), message: format!("line {line}, column `{column}`: {message}") }
}

fn check_row(
    path: &Path,
    line: u64,
    text: String,
    label: String,
    split: Option<(&str, String)>,
) -> Result<RawRow> {
    if text.trim().is_empty() {
        return Err(row_error(path, line, "text", "empty text"));
    }
    if label.trim().is_empty() {
        return Err(row_error(path, line, "label", "empty label"));
    }
    let split = match split {
        None => None,
        Some((col, v)) => Some(Split::parse(&v).ok_or_else(|| {
            row_error(path, line, col, format!("`{v}` is not train, dev (val) or test"))
        })?),
    };
    Ok(RawRow { text, label: label.trim().to_string(), split })
}

fn read_csv(path: &Path, text: &str, split_col: Option<&str>) -> Result<Vec<RawRow>> {
    let mut rd = csv::ReaderBuilder::new().has_headers(true).from_reader(text.as_bytes());
    let headers = rd
        .headers()
        .map_err(|e| Error::Task { path: path.into(), message: format!("line 1: {e}") })?
        .clone();
    let col = |name: &str| {
        headers.iter().position(|h| h.trim() == name).ok_or_else(|| Error::Task {
            path: path.into(),
            message: format!(
                "line 1: no `{name}` column in the header (columns: {})",
                headers.iter().collect::<Vec<_>>().join(", ")
            ),
        })
    };
    let (ti, li) = (col("text")?, col("label")?);
    let si = split_col.map(|c| col(c).map(|i| (c, i))).transpose()?;
    let mut rows = Vec::new();
    for rec in rd.records() {
        let rec = rec.map_err(|e| {
            let line = e.position().map(|p| p.line()).unwrap_or(0);
            Error::Task { path: path.into(), message: format!("line {line}: {e}") }
        })?;
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        let get = |i: usize| rec.get(i).unwrap_or("").to_string();
        let split = si.map(|(c, i)| (c, get(i)));
        rows.push(check_row(path, line, get(ti), get(li), split)?);
    }
    Ok(rows)
}

fn read_jsonl(path: &Path, text: &str, split_col: Option<&str>) -> Result<Vec<RawRow>> {
    let mut rows = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i as u64 + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(raw).map_err(|e| Error::Task {
            path: path.into(),
            message: format!("line {line}, column {}: not JSON: {e}", e.column()),
        })?;
        let obj = v.as_object().ok_or_else(|| Error::Task {
            path: path.into(),
            message: format!("line {line}: not a JSON object"),
        })?;
        let field = |name: &str, numbers_ok: bool| -> Result<String> {
            match obj.get(name) {
                Some(serde_json::Value::String(s)) => Ok(s.clone()),
                Some(serde_json::Value::Number(n)) if numbers_ok => Ok(n.to_string()),
                Some(serde_json::Value::Bool(b)) if numbers_ok => Ok(b.to_string()),
                Some(other) => Err(row_error(path, line, name, format!("not a string: {other}"))),
                None => Err(row_error(path, line, name, "missing")),
            }
        };
        let split = match split_col {
            Some(c) => Some((c, field(c, false)?)),
            None => None,
        };
        rows.push(check_row(path, line, field("text", false)?, field("label", true)?, split)?);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(text: &str, label: usize) -> Example {
        Example { text: text.into(), label }
    }

    #[test]
    fn split_is_stratified_deterministic_and_disjoint() {
        let mut rows = Vec::new();
        for i in 0..300 {
            rows.push(ex(&format!("positive {i}"), 0));
        }
        for i in 0..100 {
            rows.push(ex(&format!("negative {i}"), 1));
        }
        rows.push(ex("positive  7 ", 0)); // a whitespace variant of a duplicate
        let labels = vec!["pos".to_string(), "neg".to_string()];
        let t = Task::from_rows("t", "test", labels.clone(), rows.clone(), 3);
        assert_eq!(t.duplicates_removed, 1);
        assert_eq!(t.class_counts(Split::Test), [30, 10]);
        assert_eq!(t.class_counts(Split::Dev), [30, 10]);
        assert_eq!(t.class_counts(Split::Train), [240, 80]);
        let keys = |s: &[Example]| s.iter().map(|e| dedup_key(&e.text)).collect::<HashSet<_>>();
        let (a, b, c) = (keys(&t.train), keys(&t.dev), keys(&t.test));
        assert!(a.is_disjoint(&b) && a.is_disjoint(&c) && b.is_disjoint(&c));
        // Row order does not matter; the seed does.
        rows.reverse();
        let t2 = Task::from_rows("t", "test", labels.clone(), rows.clone(), 3);
        assert_eq!(t.test, t2.test);
        assert_ne!(t.test, Task::from_rows("t", "test", labels, rows, 4).test);
        assert_eq!(t.majority_class(), 0);
        assert!((t.majority_accuracy() - 0.75).abs() < 1e-12);
    }

    #[test]
    fn given_splits_drop_duplicates_across() {
        let rows = vec![
            (Split::Train, ex("a", 0)),
            (Split::Train, ex("a", 0)),
            (Split::Train, ex("b", 1)),
            (Split::Dev, ex("b", 1)),
            (Split::Test, ex("c", 0)),
            (Split::Dev, ex("c", 1)),
        ];
        let t = Task::from_split_rows("t", "s", vec!["x".into(), "y".into()], rows);
        assert_eq!(t.train, [ex("a", 0)]);
        assert_eq!(t.dev, [ex("b", 1)]);
        assert_eq!(t.test, [ex("c", 0)]);
        assert_eq!(t.duplicates_removed, 3);
    }
}
