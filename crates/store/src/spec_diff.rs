//! What changed between two sweep specs, key by key, so a refusal can say it.

use serde_json::Value;

/// The leaves that differ between `old` and `new`, as `(dotted.key, old, new)`; a missing
/// side reads `(absent)`. Keys listed in `ignore` (dotted) are skipped.
pub(crate) fn diff(old: &Value, new: &Value, ignore: &[&str]) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    walk("", old, new, ignore, &mut out);
    out
}

fn walk(
    at: &str,
    old: &Value,
    new: &Value,
    ignore: &[&str],
    out: &mut Vec<(String, String, String)>,
) {
    if ignore.contains(&at) || old == new {
        return;
    }
    if let (Value::Object(a), Value::Object(b)) = (old, new) {
        let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
        keys.sort();
        keys.dedup();
        for k in keys {
            let path = if at.is_empty() { k.clone() } else { format!("{at}.{k}") };
            let absent = Value::String("(absent)".into());
            walk(&path, a.get(k).unwrap_or(&absent), b.get(k).unwrap_or(&absent), ignore, out);
        }
        return;
    }
    out.push((at.to_string(), old.to_string(), new.to_string()));
}

/// `train.lr: 0.001 → 0.002; design.params: [1,2] → [1,3]`.
pub(crate) fn describe(changes: &[(String, String, String)]) -> String {
    changes.iter().map(|(k, a, b)| format!("{k}: {a} → {b}")).collect::<Vec<_>>().join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_each_changed_leaf() {
        let old = json!({"name": "s", "train": {"lr": 0.001, "threads_per_run": 1}, "d": [1, 2]});
        let new =
            json!({"name": "s", "train": {"lr": 0.002, "threads_per_run": 4}, "e": 1, "d": [1, 2]});
        let d = diff(&old, &new, &["train.threads_per_run"]);
        assert_eq!(describe(&d), "e: \"(absent)\" → 1; train.lr: 0.001 → 0.002");
        assert!(diff(&old, &old, &[]).is_empty());
    }
}
