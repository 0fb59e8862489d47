//! The life of a run: `pending → running → done | failed | diverged`.
//!
//! A run is `running` only while a process trains it. A process killed with `kill -9` leaves
//! it `running`; the next `isoflop sweep run` of the same sweep treats such a run as
//! interrupted and resumes it from its last checkpoint. `done`, `failed` and `diverged` are
//! final: a sweep never trains a final run again, so a finished run is never duplicated.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Status of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Planned, not started (or interrupted cleanly and waiting to resume).
    Pending,
    /// Claimed by a process that is (or was, before it died) training it.
    Running,
    /// Trained to its full token budget; its metrics are final.
    Done,
    /// Stopped by an error (the reason says which).
    Failed,
    /// The loss became NaN/inf or rose far above its start; never used as a result.
    Diverged,
}

impl RunStatus {
    /// Every status, in life order.
    pub const ALL: [RunStatus; 5] =
        [Self::Pending, Self::Running, Self::Done, Self::Failed, Self::Diverged];

    /// The lowercase name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Diverged => "diverged",
        }
    }

    /// Whether the status is final (the run is never trained again).
    pub fn is_final(self) -> bool {
        matches!(self, Self::Done | Self::Failed | Self::Diverged)
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunStatus {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Self::ALL.into_iter().find(|st| st.as_str() == s).ok_or_else(|| {
            format!(
                "unknown run status {s:?} (expected pending, running, done, failed or diverged)"
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_text() {
        for st in RunStatus::ALL {
            assert_eq!(st.as_str().parse::<RunStatus>().unwrap(), st);
        }
        assert!("finished".parse::<RunStatus>().is_err());
        assert!(RunStatus::Diverged.is_final() && !RunStatus::Running.is_final());
    }
}
