//! Observations: one trained model (or one point of a training curve) and its loss.
//!
//! Units: `n` is parameters, `d` and `tokens` are training tokens, `c` is FLOPs (default
//! 6·N·D, the dense-transformer training estimate of Kaplan et al. 2020, section 2.1), `u` is
//! unique tokens (for the data-constrained law of Muennighoff et al. 2023), `loss` is in nats
//! per token. Files are CSV (header row) or JSON Lines (one object per line), chosen by
//! extension (`.csv`, `.jsonl`/`.ndjson`); extra columns are ignored. Every error names the
//! file, the line and the column.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;

/// One row of input: a model of `n` parameters trained on `d` tokens reached `loss`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// Parameters N.
    pub n: f64,
    /// Training tokens D.
    pub d: f64,
    /// Loss in nats per token (for the sigmoid form: the predictor when it is fitted vs loss).
    pub loss: f64,
    /// Training FLOPs C; `None` means 6·N·D.
    #[serde(default)]
    pub c: Option<f64>,
    /// Unique tokens U in the training data (data-constrained law); `None` means U = D.
    #[serde(default)]
    pub u: Option<f64>,
    /// Run identifier: rows of one training curve share it.
    #[serde(default)]
    pub run: Option<String>,
    /// Optimiser step of a training-curve row.
    #[serde(default)]
    pub step: Option<f64>,
    /// Tokens seen so far at a training-curve row.
    #[serde(default)]
    pub tokens: Option<f64>,
    /// A downstream metric (e.g. accuracy) for the sigmoid form.
    #[serde(default)]
    pub metric: Option<f64>,
    /// The downstream task the metric was measured on (e.g. `mr`).
    #[serde(default)]
    pub task: Option<String>,
    /// How the model was adapted to the task (e.g. `full`, `lora`).
    #[serde(default)]
    pub method: Option<String>,
}

impl Observation {
    /// An observation with only N, D and loss.
    pub fn new(n: f64, d: f64, loss: f64) -> Self {
        Self {
            n,
            d,
            loss,
            c: None,
            u: None,
            run: None,
            step: None,
            tokens: None,
            metric: None,
            task: None,
            method: None,
        }
    }

    /// Training FLOPs: the `c` column when given, else 6·N·D.
    pub fn compute(&self) -> f64 {
        self.c.unwrap_or(6.0 * self.n * self.d)
    }

    /// Unique tokens: the `u` column when given, else D (no repetition).
    pub fn unique_tokens(&self) -> f64 {
        self.u.unwrap_or(self.d)
    }
}

/// The column names the reader looks for (real exports use other names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnNames {
    /// Parameters (required).
    pub n: String,
    /// Training tokens (required).
    pub d: String,
    /// Loss (required).
    pub loss: String,
    /// FLOPs (optional).
    pub c: String,
    /// Unique tokens (optional).
    pub u: String,
    /// Run id (optional).
    pub run: String,
    /// Step (optional).
    pub step: String,
    /// Tokens so far (optional).
    pub tokens: String,
    /// Downstream metric (optional).
    pub metric: String,
    /// Downstream task (optional).
    pub task: String,
    /// Adaptation method of a downstream row (optional).
    pub method: String,
}

impl Default for ColumnNames {
    fn default() -> Self {
        Self {
            n: "N".into(),
            d: "D".into(),
            loss: "loss".into(),
            c: "C".into(),
            u: "U".into(),
            run: "run".into(),
            step: "step".into(),
            tokens: "tokens".into(),
            metric: "metric".into(),
            task: "task".into(),
            method: "method".into(),
        }
    }
}

impl ColumnNames {
    /// Every column name the reader looks for.
    fn all(&self) -> [&str; 11] {
        [
            &self.n,
            &self.d,
            &self.loss,
            &self.c,
            &self.u,
            &self.run,
            &self.step,
            &self.tokens,
            &self.metric,
            &self.task,
            &self.method,
        ]
    }
}

/// A file of observations read once: its rows and the sha256 of the very bytes they were
/// parsed from (read twice, a FIFO would hang and a file rewritten in between would be
/// recorded with the hash of bytes that were never fitted).
#[derive(Debug, Clone)]
pub struct ObservationFile {
    /// The validated rows, in file order.
    pub rows: Vec<Observation>,
    /// Lowercase hex sha256 of the file's bytes, recorded in every saved fit.
    pub sha256: String,
}

/// Reads observations from a CSV or JSONL file, validating every value. When the file has
/// no D column but has C, D is taken as C / (6N).
///
/// Rejected, with file, line and column named: a missing required column, a column named
/// twice, a key given twice in one JSON object, a non-numeric value, NaN or infinity, N or
/// D ≤ 0 (given or derived), loss ≤ 0, C or U ≤ 0, an empty file. A UTF-8 byte-order mark
/// is skipped in either format.
pub fn read_observations(path: &Path, cols: &ColumnNames) -> Result<Vec<Observation>> {
    Ok(read_observation_file(path, cols)?.rows)
}

/// [`read_observations`] with the sha256 of the bytes read, from one read of the file.
pub fn read_observation_file(path: &Path, cols: &ColumnNames) -> Result<ObservationFile> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    if !matches!(ext.as_str(), "csv" | "jsonl" | "ndjson") {
        return Err(Error::InvalidData(format!(
            "{}: unknown extension `{ext}`: expected .csv or .jsonl",
            path.display()
        )));
    }
    let bytes =
        std::fs::read(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF".as_slice()).unwrap_or(&bytes);
    let rows = if ext == "csv" {
        read_csv(path, body, cols)?
    } else {
        let text = std::str::from_utf8(body).map_err(|e| {
            let line = 1 + body[..e.valid_up_to()].iter().filter(|&&b| b == b'\n').count();
            parse_err(path, line, "-", "the line is not valid UTF-8".into())
        })?;
        read_jsonl(path, text, cols)?
    };
    if rows.is_empty() {
        return Err(Error::InvalidData(format!("{}: no data rows", path.display())));
    }
    let digest = Sha256::digest(&bytes);
    Ok(ObservationFile { rows, sha256: digest.iter().map(|b| format!("{b:02x}")).collect() })
}

/// Which fields a row gives, before validation.
#[derive(Default)]
struct RawRow {
    n: Option<f64>,
    d: Option<f64>,
    loss: Option<f64>,
    c: Option<f64>,
    u: Option<f64>,
    run: Option<String>,
    step: Option<f64>,
    tokens: Option<f64>,
    metric: Option<f64>,
    task: Option<String>,
    method: Option<String>,
}

fn parse_err(path: &Path, line: usize, column: &str, message: String) -> Error {
    Error::Parse { path: path.to_path_buf(), line, column: column.to_string(), message }
}

fn check_positive(path: &Path, line: usize, column: &str, v: f64, what: &str) -> Result<f64> {
    if !v.is_finite() {
        return Err(parse_err(path, line, column, format!("{what} must be finite, got {v}")));
    }
    if v <= 0.0 {
        return Err(parse_err(path, line, column, format!("{what} must be > 0, got {v}")));
    }
    Ok(v)
}

fn finish_row(
    path: &Path,
    line: usize,
    cols: &ColumnNames,
    r: RawRow,
    has_d: bool,
) -> Result<Observation> {
    let need = |v: Option<f64>, col: &str| {
        v.ok_or_else(|| parse_err(path, line, col, "value is missing".into()))
    };
    let opt = |v: Option<f64>, col: &str, what: &str| -> Result<Option<f64>> {
        v.map(|x| check_positive(path, line, col, x, what)).transpose()
    };
    let n = check_positive(path, line, &cols.n, need(r.n, &cols.n)?, "N (parameters)")?;
    let c = opt(r.c, &cols.c, "C (FLOPs)")?;
    let d = match (r.d, c) {
        (None, Some(c)) if !has_d => {
            check_positive(path, line, &cols.c, c / (6.0 * n), "D derived as C/(6N)")?
        }
        (d, _) => check_positive(path, line, &cols.d, need(d, &cols.d)?, "D (tokens)")?,
    };
    let loss = check_positive(path, line, &cols.loss, need(r.loss, &cols.loss)?, "loss")?;
    let u = opt(r.u, &cols.u, "U (unique tokens)")?;
    let tokens = opt(r.tokens, &cols.tokens, "tokens")?;
    let step = r
        .step
        .map(|s| {
            if s.is_finite() && s >= 0.0 {
                Ok(s)
            } else {
                Err(parse_err(
                    path,
                    line,
                    &cols.step,
                    format!("step must be finite and >= 0, got {s}"),
                ))
            }
        })
        .transpose()?;
    let metric = r
        .metric
        .map(|m| {
            if m.is_finite() {
                Ok(m)
            } else {
                Err(parse_err(path, line, &cols.metric, format!("metric must be finite, got {m}")))
            }
        })
        .transpose()?;
    Ok(Observation {
        n,
        d,
        loss,
        c,
        u,
        run: r.run,
        step,
        tokens,
        metric,
        task: r.task,
        method: r.method,
    })
}

fn parse_number(path: &Path, line: usize, column: &str, text: &str) -> Result<Option<f64>> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    t.parse::<f64>()
        .map(Some)
        .map_err(|_| parse_err(path, line, column, format!("`{t}` is not a number")))
}

fn read_csv(path: &Path, bytes: &[u8], cols: &ColumnNames) -> Result<Vec<Observation>> {
    let mut rdr = csv::ReaderBuilder::new().trim(csv::Trim::All).flexible(false).from_reader(bytes);
    let csv_err = |e: csv::Error| {
        let line = e.position().map(|p| p.line() as usize).unwrap_or(0);
        match e.into_kind() {
            csv::ErrorKind::Io(source) => Error::Io { path: path.to_path_buf(), source },
            csv::ErrorKind::UnequalLengths { expected_len, len, .. } => parse_err(
                path,
                line,
                "-",
                format!(
                    "malformed CSV: the row has {len} fields but the header has {expected_len}"
                ),
            ),
            csv::ErrorKind::Utf8 { err, .. } => parse_err(
                path,
                line,
                "-",
                format!("malformed CSV: field {} is not valid UTF-8", err.field() + 1),
            ),
            _ => parse_err(path, line, "-", "malformed CSV".into()),
        }
    };
    let headers: Vec<String> = rdr.headers().map_err(csv_err)?.iter().map(str::to_string).collect();
    // A column named twice would silently give one of its two values.
    for want in cols.all() {
        if headers.iter().filter(|h| *h == want).count() > 1 {
            return Err(parse_err(
                path,
                1,
                want,
                format!("the header names column `{want}` more than once"),
            ));
        }
    }
    let find = |name: &str| headers.iter().position(|h| h == name);
    let required = |name: &str| {
        find(name).ok_or_else(|| Error::MissingColumn {
            path: path.to_path_buf(),
            column: name.to_string(),
            found: headers.join(", "),
        })
    };
    let (i_n, i_loss) = (required(&cols.n)?, required(&cols.loss)?);
    let (i_c, i_u, i_run) = (find(&cols.c), find(&cols.u), find(&cols.run));
    // D may be left out when C is given: D = C / (6N).
    let i_d = match (find(&cols.d), i_c) {
        (Some(i), _) => Some(i),
        (None, Some(_)) => None,
        (None, None) => Some(required(&cols.d)?),
    };
    let (i_step, i_tokens, i_metric) = (find(&cols.step), find(&cols.tokens), find(&cols.metric));
    let (i_task, i_method) = (find(&cols.task), find(&cols.method));
    let mut out = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(csv_err)?;
        let line = rec.position().map(|p| p.line() as usize).unwrap_or(0);
        let num = |i: Option<usize>, col: &str| -> Result<Option<f64>> {
            match i {
                Some(i) => parse_number(path, line, col, rec.get(i).unwrap_or("")),
                None => Ok(None),
            }
        };
        let text = |i: Option<usize>| {
            i.and_then(|i| rec.get(i)).filter(|s| !s.is_empty()).map(str::to_string)
        };
        let raw = RawRow {
            n: num(Some(i_n), &cols.n)?,
            d: num(i_d, &cols.d)?,
            loss: num(Some(i_loss), &cols.loss)?,
            c: num(i_c, &cols.c)?,
            u: num(i_u, &cols.u)?,
            run: text(i_run),
            step: num(i_step, &cols.step)?,
            tokens: num(i_tokens, &cols.tokens)?,
            metric: num(i_metric, &cols.metric)?,
            task: text(i_task),
            method: text(i_method),
        };
        out.push(finish_row(path, line, cols, raw, i_d.is_some())?);
    }
    Ok(out)
}

fn read_jsonl(path: &Path, text: &str, cols: &ColumnNames) -> Result<Vec<Observation>> {
    let mut out = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let line = i + 1;
        if l.trim().is_empty() {
            continue;
        }
        let obj = match serde_json::from_str::<UniqueKeys>(l) {
            Ok(UniqueKeys(Ok(obj))) => obj,
            Ok(UniqueKeys(Err(key))) => {
                return Err(parse_err(path, line, &key, format!("key `{key}` is given twice")));
            }
            Err(e) if e.is_data() => {
                return Err(parse_err(path, line, "-", "expected a JSON object".into()));
            }
            Err(e) => return Err(parse_err(path, line, "-", format!("malformed JSON: {e}"))),
        };
        let obj = &obj;
        let num = |col: &str, required: bool| -> Result<Option<f64>> {
            match obj.get(col) {
                None | Some(serde_json::Value::Null) if required => Err(Error::MissingColumn {
                    path: path.to_path_buf(),
                    column: format!("{col}` at line {line} (`{col}"),
                    found: obj.keys().cloned().collect::<Vec<_>>().join(", "),
                }),
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(serde_json::Value::Number(x)) => Ok(x.as_f64()),
                Some(serde_json::Value::String(s)) => parse_number(path, line, col, s),
                Some(other) => {
                    Err(parse_err(path, line, col, format!("`{other}` is not a number")))
                }
            }
        };
        let text = |col: &str| match obj.get(col) {
            Some(serde_json::Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(serde_json::Value::Number(x)) => Some(x.to_string()),
            _ => None,
        };
        let raw = RawRow {
            n: num(&cols.n, true)?,
            d: num(&cols.d, !obj.contains_key(&cols.c))?,
            loss: num(&cols.loss, true)?,
            c: num(&cols.c, false)?,
            u: num(&cols.u, false)?,
            run: text(&cols.run),
            step: num(&cols.step, false)?,
            tokens: num(&cols.tokens, false)?,
            metric: num(&cols.metric, false)?,
            task: text(&cols.task),
            method: text(&cols.method),
        };
        let has_d = obj.contains_key(&cols.d);
        out.push(finish_row(path, line, cols, raw, has_d)?);
    }
    Ok(out)
}

/// A JSON object whose keys are all distinct, or the first key given twice (serde_json's own
/// map keeps the last value of a repeated key without a word).
struct UniqueKeys(std::result::Result<serde_json::Map<String, serde_json::Value>, String>);

impl<'de> Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = UniqueKeys;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut m: M,
            ) -> std::result::Result<UniqueKeys, M::Error> {
                let mut out = serde_json::Map::new();
                let mut twice = None;
                while let Some((k, v)) = m.next_entry::<String, serde_json::Value>()? {
                    if out.contains_key(&k) && twice.is_none() {
                        twice = Some(k.clone());
                    }
                    out.insert(k, v);
                }
                Ok(UniqueKeys(twice.map_or(Ok(out), Err)))
            }
        }
        d.deserialize_map(Visit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> (tempfile_dir::Dir, std::path::PathBuf) {
        let dir = tempfile_dir::Dir::new();
        let p = dir.0.join(name);
        std::fs::write(&p, text).unwrap();
        (dir, p)
    }

    /// A throwaway directory without pulling a dependency into the library.
    mod tempfile_dir {
        pub struct Dir(pub std::path::PathBuf);
        impl Dir {
            pub fn new() -> Self {
                use std::sync::atomic::{AtomicUsize, Ordering};
                static K: AtomicUsize = AtomicUsize::new(0);
                let p = std::env::temp_dir().join(format!(
                    "isoflop-law-test-{}-{}",
                    std::process::id(),
                    K.fetch_add(1, Ordering::Relaxed)
                ));
                std::fs::create_dir_all(&p).unwrap();
                Dir(p)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn rough_edges_are_refused_or_read_alike() {
        let cols = ColumnNames::default();
        // A column named twice would give one of its values silently.
        let (_d, p) = write("dup.csv", "N,D,loss,loss\n1e6,2e7,3.5,9\n");
        let e = read_observations(&p, &cols).unwrap_err().to_string();
        assert!(e.contains("dup.csv:1: column `loss`") && e.contains("more than once"), "{e}");
        let (_d, p) = write("dup.jsonl", "{\"N\":1e6,\"D\":2e7,\"loss\":3.5,\"loss\":9}\n");
        let e = read_observations(&p, &cols).unwrap_err().to_string();
        assert!(e.contains("dup.jsonl:1: column `loss`") && e.contains("given twice"), "{e}");
        // A byte-order mark is skipped in both formats.
        let (_d, p) = write("bom.csv", "\u{feff}N,D,loss\n1e6,2e7,3.5\n");
        assert_eq!(read_observations(&p, &cols).unwrap()[0].loss, 3.5);
        let (_d, p) = write("bom.jsonl", "\u{feff}{\"N\":1e6,\"D\":2e7,\"loss\":3.5}\n");
        assert_eq!(read_observations(&p, &cols).unwrap()[0].loss, 3.5);
        // A short row says so in words, not in Rust's debug text.
        let (_d, p) = write("short.csv", "N,D,loss\n1e6,2e7\n");
        let e = read_observations(&p, &cols).unwrap_err().to_string();
        assert!(e.contains("short.csv:2") && e.contains("2 fields but the header has 3"), "{e}");
        assert!(!e.contains("UnequalLengths"), "{e}");
        // D derived as C/(6N) is checked like a given D (here it underflows to 0).
        let (_d, p) = write("derived.csv", "N,C,loss\n1e300,1e-300,3\n");
        let e = read_observations(&p, &cols).unwrap_err().to_string();
        assert!(e.contains("derived.csv:2: column `C`: D derived as C/(6N) must be > 0"), "{e}");
        // Not an object, and not JSON, are told apart.
        let (_d, p) = write("arr.jsonl", "[1, 2]\n");
        let e = read_observations(&p, &cols).unwrap_err().to_string();
        assert!(e.contains("arr.jsonl:1") && e.contains("expected a JSON object"), "{e}");
    }

    #[test]
    fn rows_and_hash_come_from_one_read() {
        let text = "N,D,loss\n1e6,2e7,3.5\n";
        let (_d, p) = write("h.csv", text);
        let f = read_observation_file(&p, &ColumnNames::default()).unwrap();
        let want: String =
            Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!((f.rows.len(), f.sha256), (1, want));
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_read_once() {
        // Reading the file a second time to hash it would block forever on a FIFO.
        let dir = tempfile_dir::Dir::new();
        let p = dir.0.join("fifo.csv");
        let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo with a valid C string and a mode.
        assert_eq!(unsafe { libc_mkfifo(c.as_ptr(), 0o600) }, 0);
        let writer = {
            let p = p.clone();
            std::thread::spawn(move || std::fs::write(p, "N,D,loss\n1e6,2e7,3.5\n").unwrap())
        };
        let f = read_observation_file(&p, &ColumnNames::default()).unwrap();
        writer.join().unwrap();
        assert_eq!(f.rows.len(), 1);
    }

    #[cfg(unix)]
    unsafe extern "C" {
        #[link_name = "mkfifo"]
        fn libc_mkfifo(path: *const std::ffi::c_char, mode: u32) -> i32;
    }

    #[test]
    fn reads_csv_with_renamed_and_extra_columns() {
        let (_d, p) = write("a.csv", "params,tok,val,note\n1e6,2e7,3.5,x\n2e6,4e7,3.2,y\n");
        let cols = ColumnNames {
            n: "params".into(),
            d: "tok".into(),
            loss: "val".into(),
            ..Default::default()
        };
        let rows = read_observations(&p, &cols).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1], Observation::new(2e6, 4e7, 3.2));
        assert_eq!(rows[0].compute(), 6.0 * 1e6 * 2e7);
    }

    #[test]
    fn csv_errors_name_line_and_column() {
        let (_d, p) = write("b.csv", "N,D,loss\n1e6,2e7,3.5\n1e6,abc,3.5\n");
        let e = read_observations(&p, &ColumnNames::default()).unwrap_err().to_string();
        assert!(e.contains("b.csv:3: column `D`: `abc` is not a number"), "{e}");
        let (_d, p) = write("c.csv", "N,D,loss\n1e6,2e7,NaN\n");
        let e = read_observations(&p, &ColumnNames::default()).unwrap_err().to_string();
        assert!(e.contains("c.csv:2: column `loss`: loss must be finite"), "{e}");
        let (_d, p) = write("d.csv", "N,D,loss\n-1,2e7,3\n");
        let e = read_observations(&p, &ColumnNames::default()).unwrap_err().to_string();
        assert!(e.contains("d.csv:2: column `N`: N (parameters) must be > 0"), "{e}");
        let (_d, p) = write("e.csv", "N,tokens,loss\n1,2,3\n");
        let e = read_observations(&p, &ColumnNames::default()).unwrap_err().to_string();
        assert!(e.contains("missing column `D`"), "{e}");
        let (_d, p) = write("f.csv", "N,C,loss\n1e6,6e13,3\n");
        assert_eq!(read_observations(&p, &ColumnNames::default()).unwrap()[0].d, 1e7);
        let (_d, p) = write("e.csv", "N,tokens,loss\n1,2,3\n");
        let e = read_observations(&p, &ColumnNames::default()).unwrap_err().to_string();
        assert!(e.contains("missing column `D`"), "{e}");
    }

    #[test]
    fn reads_jsonl_and_names_bad_lines() {
        let (_d, p) = write(
            "a.jsonl",
            "{\"N\":1e6,\"D\":2e7,\"loss\":3.5,\"run\":\"r1\"}\n\n{\"N\":2e6,\"D\":4e7,\"loss\":\"3.2\"}\n",
        );
        let rows = read_observations(&p, &ColumnNames::default()).unwrap();
        assert_eq!(rows[0].run.as_deref(), Some("r1"));
        assert_eq!(rows[1].loss, 3.2);
        let (_d, p) = write(
            "b.jsonl",
            "{\"N\":1e6,\"D\":2e7,\"loss\":3.5}\n{\"N\":1e6,\"D\":0,\"loss\":3.5}\n",
        );
        let e = read_observations(&p, &ColumnNames::default()).unwrap_err().to_string();
        assert!(e.contains("b.jsonl:2: column `D`: D (tokens) must be > 0"), "{e}");
    }
}
