//! Checkpoints: one safetensors file holding the weights, the AdamW moments and, in its
//! metadata, the trainer's state as JSON (resolved config, step, tokens, data-order state,
//! curve so far).
//!
//! One file, written to a temporary name in the same directory and renamed over the old one,
//! so a `kill -9` at any instant leaves either the previous checkpoint or the new one, never a
//! torn mix of weights from one step and optimizer state from another. Tensors are named as
//! the PyTorch reference's `state_dict` (`adam_m.`/`adam_v.` prefixes for the moments), so
//! either engine can resume the other's run. A `checkpoint.json` beside it repeats the state for
//! people; the trainer reads only the safetensors file.

use crate::{Error, NamedTensor, Result};
use safetensors::tensor::{Dtype, TensorView};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The checkpoint's file name inside a checkpoint directory.
pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";
/// The metadata key holding the trainer's JSON state.
const STATE_KEY: &str = "isoflop.state";

/// A checkpoint in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// The trainer's state, a JSON document.
    pub state: serde_json::Value,
    /// The AdamW step count.
    pub adam_step: u64,
    /// Weights named as `GptConfig::param_shapes`.
    pub weights: Vec<NamedTensor>,
    /// AdamW moments, `adam_m.<name>` and `adam_v.<name>`.
    pub moments: Vec<NamedTensor>,
}

/// The checkpoint path of a directory.
pub fn checkpoint_path(dir: &Path) -> PathBuf {
    dir.join(CHECKPOINT_FILE)
}

/// An atomic write's failure as this crate's I/O error (its cause kept as the source).
fn atomic_err(path: &Path, e: isoflop_atomic::Error) -> Error {
    match e {
        isoflop_atomic::Error::Io { source, .. } => Error::io(path, source),
        other => ck_err(path, other.to_string()),
    }
}

fn ck_err(path: &Path, message: impl Into<String>) -> Error {
    Error::Checkpoint { path: path.to_path_buf(), message: message.into() }
}

impl Checkpoint {
    /// Writes the checkpoint atomically into `dir` (created if needed).
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let path = checkpoint_path(dir);
        let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = self
            .weights
            .iter()
            .chain(&self.moments)
            .map(|t| {
                let b: Vec<u8> = t.data.iter().flat_map(|x| x.to_le_bytes()).collect();
                (t.name.clone(), t.shape.clone(), b)
            })
            .collect();
        let views = bytes
            .iter()
            .map(|(n, s, b)| {
                TensorView::new(Dtype::F32, s.clone(), b)
                    .map(|v| (n.clone(), v))
                    .map_err(|e| ck_err(&path, format!("tensor `{n}`: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        let mut meta = HashMap::new();
        meta.insert(STATE_KEY.to_string(), self.state.to_string());
        meta.insert("isoflop.adam_step".to_string(), self.adam_step.to_string());
        let buf = safetensors::serialize(views, Some(meta))
            .map_err(|e| ck_err(&path, format!("cannot serialise: {e}")))?;
        // Atomic, with the mode a plain create gives (isoflop-atomic).
        isoflop_atomic::write(&path, &buf).map_err(|e| atomic_err(&path, e))?;
        // The human-readable copy is a convenience: its failure does not fail the checkpoint.
        if let Ok(pretty) = serde_json::to_string_pretty(&self.state) {
            let _ = isoflop_atomic::write(&dir.join("checkpoint.json"), pretty.as_bytes());
        }
        Ok(())
    }

    /// Reads the checkpoint in `dir`; `Ok(None)` if there is none.
    pub fn load(dir: &Path) -> Result<Option<Self>> {
        let path = checkpoint_path(dir);
        let buf = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(&path, e)),
        };
        let (_, meta) = safetensors::SafeTensors::read_metadata(&buf)
            .map_err(|e| ck_err(&path, format!("not a safetensors file: {e}")))?;
        let info = meta.metadata().clone().unwrap_or_default();
        let state =
            info.get(STATE_KEY).ok_or_else(|| ck_err(&path, "no isoflop state in the metadata"))?;
        let state: serde_json::Value = serde_json::from_str(state)
            .map_err(|e| ck_err(&path, format!("unreadable state: {e}")))?;
        let adam_step = info
            .get("isoflop.adam_step")
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| ck_err(&path, "no AdamW step in the metadata"))?;
        let st = safetensors::SafeTensors::deserialize(&buf)
            .map_err(|e| ck_err(&path, format!("not a safetensors file: {e}")))?;
        let (mut weights, mut moments) = (Vec::new(), Vec::new());
        let mut tensors = st.tensors();
        tensors.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, view) in tensors {
            if view.dtype() != Dtype::F32 {
                return Err(ck_err(&path, format!("tensor `{name}` is not f32")));
            }
            let data: Vec<f32> = view
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            let t = NamedTensor { name: name.clone(), shape: view.shape().to_vec(), data };
            if name.starts_with("adam_m.") || name.starts_with("adam_v.") {
                moments.push(t);
            } else {
                weights.push(t);
            }
        }
        Ok(Some(Self { state, adam_step, weights, moments }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_replaces_atomically() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Checkpoint::load(dir.path()).unwrap().is_none());
        let t = |name: &str, v: f32| NamedTensor {
            name: name.into(),
            shape: vec![2],
            data: vec![v, -v],
        };
        let ck = Checkpoint {
            state: serde_json::json!({"step": 3}),
            adam_step: 3,
            weights: vec![t("wte.weight", 1.5)],
            moments: vec![t("adam_m.wte.weight", 0.1), t("adam_v.wte.weight", 0.2)],
        };
        ck.save(dir.path()).unwrap();
        assert_eq!(Checkpoint::load(dir.path()).unwrap().unwrap(), ck);
        let ck2 = Checkpoint { adam_step: 4, ..ck.clone() };
        ck2.save(dir.path()).unwrap();
        assert_eq!(Checkpoint::load(dir.path()).unwrap().unwrap().adam_step, 4);
        // Only the checkpoint and its JSON copy remain: no temporary files left behind.
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["checkpoint.json", "checkpoint.safetensors"]);
        std::fs::write(checkpoint_path(dir.path()), b"garbage").unwrap();
        let e = Checkpoint::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("checkpoint.safetensors"), "{e}");
    }
}
