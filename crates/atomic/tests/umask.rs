//! A new file's mode follows the umask (its own test binary: the umask is process-wide).

use std::os::unix::fs::PermissionsExt;

#[test]
fn new_files_follow_the_umask() {
    let dir = tempfile::tempdir().unwrap();
    for (umask, want) in [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600), (0o002, 0o664)] {
        // SAFETY: umask only sets the process's file-creation mask; this binary's one test
        // is the only thread creating files.
        unsafe { libc::umask(umask) };
        let p = dir.path().join(format!("u{umask:o}"));
        isoflop_atomic::write(&p, b"x").unwrap();
        let got = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(got, want, "umask {umask:o}");
    }
}
