//! Observations from Python: a data file read exactly as `isoflop fit` reads it, or columns
//! of a DataFrame or a dict of arrays, validated with the same rules and messages.
//!
//! The rules (isoflop-law's `read_observations`): N, D and loss must be present, finite and
//! positive; C and U, when given, finite and positive; D may be left out when C is given (D = C / 6N).
//! In a DataFrame NaN is pandas' missing value, so NaN in an optional column means "not
//! given" while NaN in a required one is an error. Errors name the row (0-based position,
//! and the index label when the frame has one) and the column.

use crate::errors;
use isoflop_law::{ColumnNames, Observation, read_observation_file};
use numpy::PyReadonlyArray1;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::PathBuf;

/// Validated (N, D, loss, ...) rows, and where they came from.
#[pyclass(module = "isoflop._isoflop", frozen)]
pub struct Observations {
    pub rows: Vec<Observation>,
    /// The input file as fit.json names it, when the rows came from a file.
    pub input: Option<String>,
    /// sha256 of the input file's bytes.
    pub sha256: Option<String>,
}

#[pymethods]
impl Observations {
    fn __len__(&self) -> usize {
        self.rows.len()
    }
}

/// Column names by role, as the Python keyword arguments give them.
fn column_names(names: &Bound<'_, PyDict>) -> PyResult<ColumnNames> {
    let mut cols = ColumnNames::default();
    for (k, v) in names.iter() {
        let (k, v): (String, String) = (k.extract()?, v.extract()?);
        match k.as_str() {
            "n" => cols.n = v,
            "d" => cols.d = v,
            "loss" => cols.loss = v,
            "c" => cols.c = v,
            "u" => cols.u = v,
            "run" => cols.run = v,
            "step" => cols.step = v,
            "tokens" => cols.tokens = v,
            "metric" => cols.metric = v,
            other => return Err(PyValueError::new_err(format!("unknown column role `{other}`"))),
        }
    }
    Ok(cols)
}

/// Reads a .csv or .jsonl file as `isoflop fit DATA` does; the fit records its path and sha256.
#[pyfunction]
pub fn read_file(
    py: Python<'_>,
    path: PathBuf,
    names: &Bound<'_, PyDict>,
) -> PyResult<Observations> {
    let cols = column_names(names)?;
    let file = py.detach(|| read_observation_file(&path, &cols)).map_err(errors::law)?;
    Ok(Observations {
        rows: file.rows,
        input: Some(path.display().to_string()),
        sha256: Some(file.sha256),
    })
}

/// One column's values, when the frame has it.
struct Column<'py> {
    name: String,
    values: Option<PyReadonlyArray1<'py, f64>>,
}

impl Column<'_> {
    fn slice(&self) -> Option<&[f64]> {
        self.values.as_ref().map(|v| v.as_slice().expect("contiguous (checked on extraction)"))
    }

    fn get(&self, i: usize) -> Option<f64> {
        self.slice().map(|v| v[i])
    }
}

/// Builds observations from columns. `columns` maps a column name to a 1-D float64 array
/// (the run column to a list of str); `found` lists every column of the frame, for the
/// missing-column message; `labels` are the frame's index labels when it has a non-default
/// index; `source` names the input in messages (`DataFrame`, `dict`).
#[pyfunction]
#[pyo3(signature = (source, found, names, columns, labels=None))]
pub fn from_columns<'py>(
    source: &str,
    found: Vec<String>,
    names: &Bound<'py, PyDict>,
    columns: &Bound<'py, PyDict>,
    labels: Option<Vec<String>>,
) -> PyResult<Observations> {
    let cols = column_names(names)?;
    let missing = |name: &str| {
        PyValueError::new_err(format!(
            "{source}: missing column `{name}` (found: {})",
            found.join(", ")
        ))
    };
    let numeric = |name: &str| -> PyResult<Column<'py>> {
        let values = match columns.get_item(name)? {
            Some(v) => {
                let a: PyReadonlyArray1<'py, f64> = v.extract().map_err(|e| {
                    PyValueError::new_err(format!("{source}: column `{name}`: {e}"))
                })?;
                if a.as_slice().is_err() {
                    return Err(PyValueError::new_err(format!(
                        "{source}: column `{name}`: expected a contiguous float64 array"
                    )));
                }
                Some(a)
            }
            None => None,
        };
        Ok(Column { name: name.to_string(), values })
    };
    let n = numeric(&cols.n)?;
    let loss = numeric(&cols.loss)?;
    let c = numeric(&cols.c)?;
    let d = numeric(&cols.d)?;
    let (u, step, tokens, metric) =
        (numeric(&cols.u)?, numeric(&cols.step)?, numeric(&cols.tokens)?, numeric(&cols.metric)?);
    if n.values.is_none() {
        return Err(missing(&cols.n));
    }
    if loss.values.is_none() {
        return Err(missing(&cols.loss));
    }
    // D may be left out when C is given: D = C / (6N), as the file reader does.
    if d.values.is_none() && c.values.is_none() {
        return Err(missing(&cols.d));
    }
    let run: Option<Vec<Option<String>>> = match columns.get_item(&cols.run)? {
        Some(v) => Some(v.extract()?),
        None => None,
    };
    let len = n.slice().map_or(0, <[f64]>::len);
    for col in [&loss, &c, &d, &u, &step, &tokens, &metric] {
        if let Some(a) = col.slice()
            && a.len() != len
        {
            return Err(PyValueError::new_err(format!(
                "{source}: column `{}` has {} values but `{}` has {len}",
                col.name,
                a.len(),
                cols.n
            )));
        }
    }
    if len == 0 {
        return Err(PyValueError::new_err(format!("{source}: no data rows")));
    }
    let at = |i: usize| match labels.as_ref().and_then(|l| l.get(i)) {
        Some(label) => format!("{source} row {i} (index {label})"),
        None => format!("{source} row {i}"),
    };
    let bad = |i: usize, col: &str, msg: String| {
        PyValueError::new_err(format!("{}: column `{col}`: {msg}", at(i)))
    };
    // Required: present, finite and > 0. NaN is pandas' "missing".
    let required = |col: &Column, i: usize, what: &str| -> PyResult<f64> {
        match col.get(i) {
            Some(v) if v.is_nan() => Err(bad(i, &col.name, "value is missing (NaN)".into())),
            Some(v) => positive(v, what).map_err(|m| bad(i, &col.name, m)),
            None => Err(bad(i, &col.name, "value is missing".into())),
        }
    };
    // Optional: NaN means not given.
    let optional = |col: &Column, i: usize, what: &str| -> PyResult<Option<f64>> {
        match col.get(i) {
            Some(v) if v.is_nan() => Ok(None),
            Some(v) => positive(v, what).map(Some).map_err(|m| bad(i, &col.name, m)),
            None => Ok(None),
        }
    };
    let mut rows = Vec::with_capacity(len);
    for i in 0..len {
        let nv = required(&n, i, "N (parameters)")?;
        let cv = optional(&c, i, "C (FLOPs)")?;
        let dv = match (d.values.is_some(), cv) {
            (false, Some(cv)) => cv / (6.0 * nv),
            _ => required(&d, i, "D (tokens)")?,
        };
        let lv = required(&loss, i, "loss")?;
        let sv = match step.get(i) {
            Some(s) if s.is_nan() => None,
            Some(s) if s >= 0.0 && s.is_finite() => Some(s),
            Some(s) => {
                return Err(bad(i, &step.name, format!("step must be finite and >= 0, got {s}")));
            }
            None => None,
        };
        let mv = match metric.get(i) {
            Some(m) if m.is_nan() => None,
            Some(m) if m.is_finite() => Some(m),
            Some(m) => return Err(bad(i, &metric.name, format!("metric must be finite, got {m}"))),
            None => None,
        };
        rows.push(Observation {
            n: nv,
            d: dv,
            loss: lv,
            c: cv,
            u: optional(&u, i, "U (unique tokens)")?,
            run: run.as_ref().and_then(|r| r.get(i).cloned().flatten()),
            step: sv,
            tokens: optional(&tokens, i, "tokens")?,
            metric: mv,
            task: None,
            method: None,
        });
    }
    Ok(Observations { rows, input: None, sha256: None })
}

/// `v` if finite and > 0, else the file reader's message.
fn positive(v: f64, what: &str) -> Result<f64, String> {
    if !v.is_finite() {
        Err(format!("{what} must be finite, got {v}"))
    } else if v <= 0.0 {
        Err(format!("{what} must be > 0, got {v}"))
    } else {
        Ok(v)
    }
}
