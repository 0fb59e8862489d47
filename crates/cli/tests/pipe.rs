//! `isoflop ... | head` must end quietly, as other Unix tools do, instead of panicking when
//! stdout closes early.

use std::process::Command;

#[test]
fn closed_stdout_ends_quietly() {
    let bin = env!("CARGO_BIN_EXE_isoflop");
    // The ladder table is many lines long; `head -1` closes the pipe after the first. `yes`-style
    // repetition makes sure the writer is still writing when the pipe closes.
    let script = format!(
        "for i in 1 2 3 4 5 6 7 8; do '{bin}' estimate --ladder; done | head -1 >/dev/null; \
         exit ${{PIPESTATUS[0]}}"
    );
    let out = Command::new("bash").arg("-c").arg(&script).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "isoflop panicked on a closed pipe:\n{stderr}");
    assert!(!stderr.contains("Broken pipe"), "isoflop reported the closed pipe:\n{stderr}");
}
