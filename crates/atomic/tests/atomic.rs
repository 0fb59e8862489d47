//! Atomic writes: the mode a plain create gives, nothing left behind, devices never replaced.

use isoflop_atomic::{Error, StagedFile, commit_all, write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn a_new_file_gets_the_mode_of_a_plain_create() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain");
    std::fs::File::create(&plain).unwrap();
    let ours = dir.path().join("ours");
    write(&ours, b"x").unwrap();
    // Under the usual umask 022 both are 0644; tempfile's 0600 was the defect.
    assert_eq!(mode(&ours), mode(&plain));
    assert_ne!(mode(&ours), 0o600, "written 0600");
}

#[test]
fn a_rewritten_file_keeps_its_mode() {
    let dir = tempfile::tempdir().unwrap();
    for m in [0o644, 0o600, 0o755, 0o640] {
        let p = dir.path().join(format!("f{m:o}"));
        std::fs::write(&p, b"old").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(m)).unwrap();
        write(&p, b"new").unwrap();
        assert_eq!(mode(&p), m, "{m:o}");
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
    }
}

#[test]
fn a_directory_is_refused_and_nothing_is_left() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("out");
    std::fs::create_dir(&target).unwrap();
    let err = write(&target, b"x").unwrap_err();
    assert!(matches!(err, Error::IsDirectory { .. }), "{err:?}");
    assert!(err.to_string().contains("is a directory"), "{err}");
    assert_eq!(names(dir.path()), ["out"]);
    assert!(names(&target).is_empty());
}

#[test]
fn a_failed_commit_removes_the_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("fit.json");
    let mut staged = StagedFile::new(&target).unwrap();
    staged.write_all(b"{}").unwrap();
    // The target turns into a non-empty directory between staging and committing.
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("keep"), b"").unwrap();
    let err = staged.commit().unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert_eq!(names(dir.path()), ["fit.json"]);

    // Dropped without a commit: gone too.
    let other = dir.path().join("other");
    let staged = StagedFile::new(&other).unwrap();
    assert!(staged.tmp_path().exists());
    drop(staged);
    assert_eq!(names(dir.path()), ["fit.json"]);
}

#[test]
fn devices_are_written_through_never_replaced() {
    write(Path::new("/dev/null"), b"into the void").unwrap();
    assert!(std::fs::metadata("/dev/null").unwrap().file_type().is_char_device());
    let full = Path::new("/dev/full");
    if full.exists() {
        let err = write(full, b"x").unwrap_err();
        assert!(err.to_string().contains("cannot write /dev/full"), "{err}");
        let cause = std::error::Error::source(&err).expect("the I/O cause").to_string();
        assert!(cause.contains("No space left"), "{cause}");
        assert!(std::fs::metadata(full).unwrap().file_type().is_char_device());
    }
}

#[test]
fn a_symbolic_link_is_followed_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real.json");
    std::fs::write(&real, b"old").unwrap();
    let link = dir.path().join("link.json");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    write(&link, b"new").unwrap();
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert_eq!(std::fs::read(&real).unwrap(), b"new");
}

#[test]
fn a_failed_set_removes_the_files_it_created() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old.png");
    std::fs::write(&old, b"old").unwrap();
    let mut files = Vec::new();
    for name in ["old.png", "new.png", "report.html"] {
        let mut f = StagedFile::new(&dir.path().join(name)).unwrap();
        f.write_all(name.as_bytes()).unwrap();
        files.push(f);
    }
    // The page's name becomes a directory before the set is committed.
    std::fs::create_dir(dir.path().join("report.html")).unwrap();
    std::fs::write(dir.path().join("report.html/x"), b"").unwrap();
    commit_all(files).unwrap_err();
    // new.png (created by this set) is gone, old.png was replaced, no temporary file stays.
    assert_eq!(names(dir.path()), ["old.png", "report.html"]);
}
