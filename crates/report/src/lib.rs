//! isoflop-report: plots and the HTML report.
#![deny(missing_docs)]
