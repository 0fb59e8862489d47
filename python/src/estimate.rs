//! isoflop-cost's estimator: a spec in (JSON, any subset of `isoflop estimate`'s fields), the
//! estimate out as the JSON `isoflop estimate --json` prints.

use crate::errors;
use isoflop_cost::{EstimateSpec, HARDWARE_PRESETS, MODEL_PRESETS};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// Estimates from a JSON spec (isoflop-cost's `EstimateSpec`); returns the estimate's JSON.
#[pyfunction]
pub fn estimate(py: Python<'_>, spec: &str) -> PyResult<String> {
    let spec: EstimateSpec =
        serde_json::from_str(spec).map_err(|e| PyValueError::new_err(format!("estimate: {e}")))?;
    let est = py.detach(|| isoflop_cost::estimate(&spec)).map_err(errors::cost)?;
    serde_json::to_string(&est).map_err(|e| errors::json("estimate", e))
}

/// The model and hardware presets, by name.
#[pyfunction]
pub fn presets() -> (Vec<&'static str>, Vec<&'static str>) {
    (MODEL_PRESETS.to_vec(), HARDWARE_PRESETS.to_vec())
}
