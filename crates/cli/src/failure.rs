//! How a failed command is printed: the one place that turns an error into what the user
//! sees, for every verb.
//!
//! - Human: `error: <message>` and one `  caused by: <cause>` line per cause on stderr. A
//!   cause whose text the message before it already ends with is not printed again (some
//!   errors repeat their source in their own message).
//! - `--json`: one JSON document on stdout, `{"error", "kind", "causes"}` plus `file`, `line`
//!   and `column` where the error knows them, and nothing on stderr.
//!
//! The exit status is the caller's (2 for every error; train's own 3 and 130 are not errors).
//! The kind comes from the first error in the chain this module recognises, so a library
//! error keeps its kind under any `.context()` a verb adds.

use serde::Serialize;

/// What went wrong, classified.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failure {
    /// The outermost message.
    pub error: String,
    /// What kind of failure: `usage`, `parse`, `data`, `io`, `config`, `memory`, `store`, …
    pub kind: &'static str,
    /// The messages of the causes, outermost first (repeats left out).
    pub causes: Vec<String>,
    /// The file at fault, where known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// 1-based line, where known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// 1-based column (a number) or the column's name (in a table of data), where known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<serde_json::Value>,
}

/// Where an error points, as far as it says.
#[derive(Default)]
struct Place {
    kind: Option<&'static str>,
    file: Option<String>,
    line: Option<u64>,
    column: Option<serde_json::Value>,
}

/// The kind and place one error of the chain gives, if it is one this module knows.
fn recognise(e: &(dyn std::error::Error + 'static)) -> Option<Place> {
    let path = |p: &std::path::Path| Some(p.display().to_string());
    let p = |kind, file| Some(Place { kind: Some(kind), file, ..Default::default() });
    if let Some(e) = e.downcast_ref::<isoflop_law::Error>() {
        use isoflop_law::Error as E;
        return match e {
            E::Io { path: f, .. } => p("io", path(f)),
            E::Parse { path: f, line, column, .. } => Some(Place {
                kind: Some("parse"),
                file: path(f),
                line: Some(*line as u64),
                column: Some(column.clone().into()),
            }),
            E::MissingColumn { path: f, .. } => p("parse", path(f)),
            E::InvalidOption(_) => p("usage", None),
            E::FitFailed(_) => p("fit", None),
            _ => p("data", None),
        };
    }
    if let Some(e) = e.downcast_ref::<isoflop_cost::Error>() {
        return match e {
            isoflop_cost::Error::Parse { origin, .. } => p("parse", Some(origin.clone())),
            _ => p("input", None),
        };
    }
    if let Some(e) = e.downcast_ref::<isoflop_train::Error>() {
        use isoflop_train::Error as E;
        return match e {
            E::Io { path: f, .. } => p("io", path(f)),
            E::Corpus { path: f, .. } => p("corpus", path(f)),
            E::Checkpoint { path: f, .. } => p("checkpoint", path(f)),
            E::OutOfMemory { .. } => p("memory", None),
            E::Device(_) => p("device", None),
            E::Engine { .. } => p("engine", None),
            E::Fetch(_) => p("fetch", None),
            E::Tokenizer(_) => p("tokenizer", None),
            _ => p("config", None),
        };
    }
    if let Some(e) = e.downcast_ref::<isoflop_sweep::Error>() {
        use isoflop_sweep::Error as E;
        return match e {
            E::Read { path: f, .. } => p("io", path(f)),
            E::Parse { origin, .. } => p("parse", Some(origin.clone())),
            E::Spec { origin, .. } => p("config", Some(origin.clone())),
            E::Plan(_) | E::Ladder { .. } | E::Graph(_) => p("config", None),
            E::Unsupported(_) => p("config", None),
            E::Locked { path: f, .. } => p("busy", path(f)),
            E::Io { path: f, .. } => p("io", path(f)),
            // Transparent wrappers: the inner error's own kind and place.
            E::Store(inner) => recognise(inner),
            E::Train(inner) => recognise(inner),
            E::Law(inner) => recognise(inner),
            E::Write(inner) => recognise(inner),
            // A context over a train error: the train error (next in the chain) says.
            E::During { .. } => None,
            E::Worker => p("internal", None),
            E::MissingCommand { .. } | E::Command { .. } => p("scheduler", None),
        };
    }
    if e.downcast_ref::<isoflop_store::Error>().is_some() {
        return p("store", None);
    }
    if let Some(e) = e.downcast_ref::<isoflop_atomic::Error>() {
        return p("io", path(e.path()));
    }
    if let Some(e) = e.downcast_ref::<isoflop_report::Error>() {
        return p(
            if matches!(e, isoflop_report::Error::Empty(_)) { "data" } else { "report" },
            None,
        );
    }
    if let Some(e) = e.downcast_ref::<serde_json::Error>() {
        return Some(Place {
            kind: Some("parse"),
            line: Some(e.line() as u64),
            column: Some(e.column().into()),
            ..Default::default()
        });
    }
    if e.downcast_ref::<toml::de::Error>().is_some() {
        return p("parse", None);
    }
    if e.downcast_ref::<csv::Error>().is_some() {
        return p("parse", None);
    }
    if e.downcast_ref::<std::io::Error>().is_some() {
        return p("io", None);
    }
    None
}

/// `line N` and `column M` as parsers write them in their messages (`at line 3 column 5`,
/// `TOML parse error at line 3, column 5`).
fn line_column(text: &str) -> (Option<u64>, Option<u64>) {
    let after = |word: &str| {
        text.match_indices(word).find_map(|(i, _)| {
            let digits: String =
                text[i + word.len()..].chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
    };
    (after("line "), after("column "))
}

/// Classifies `err` (see the module docs).
pub fn classify(err: &anyhow::Error) -> Failure {
    let mut place = Place::default();
    let mut messages: Vec<String> = Vec::new();
    for e in err.chain() {
        if place.kind.is_none()
            && let Some(p) = recognise(e)
        {
            place = p;
        } else if let Some(p) = recognise(e) {
            // A deeper error may know the place the outer one did not.
            place.file = place.file.or(p.file);
            place.line = place.line.or(p.line);
            place.column = place.column.or(p.column);
        }
        let text = e.to_string();
        if messages.last().is_some_and(|m| m.ends_with(&text)) {
            continue;
        }
        messages.push(text);
    }
    if place.line.is_none() {
        let all = messages.join("\n");
        let (line, column) = line_column(&all);
        place.line = line;
        place.column = place.column.or(column.map(Into::into));
        // A parser's message stringified on the way (a TOML error in a spec) still says
        // where: that is a parse error.
        if place.kind.is_none() && line.is_some() {
            place.kind = Some("parse");
        }
    }
    // Verbs name the file they were reading first: `spec.toml: invalid sweep spec`.
    if place.file.is_none()
        && let Some((head, _)) = messages[0].split_once(": ")
        && std::path::Path::new(head).is_file()
    {
        place.file = Some(head.to_string());
    }
    let error = messages.remove(0);
    Failure {
        error,
        kind: place.kind.unwrap_or("input"),
        causes: messages,
        file: place.file,
        line: place.line,
        column: place.column,
    }
}

/// Prints `err` as the user asked: human text on stderr, or one JSON document on stdout.
pub fn print(err: &anyhow::Error, json: bool) {
    let f = classify(err);
    if json {
        println!("{}", serde_json::to_string_pretty(&f).expect("a failure serialises"));
        return;
    }
    eprintln!("error: {}", f.error);
    for cause in &f.causes {
        eprintln!("  caused by: {cause}");
    }
}

/// Prints a command-line parsing error (`clap`) as JSON when `--json` is among the words.
/// Help and version requests are not errors and print as usual.
pub fn exit_on_usage_error(e: clap::Error, json: bool) -> ! {
    use clap::error::ErrorKind;
    if !json || matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        e.exit();
    }
    let text = e.render().to_string();
    let message =
        text.lines().find_map(|l| l.strip_prefix("error: ")).unwrap_or(text.trim()).to_string();
    let f = Failure {
        error: message,
        kind: "usage",
        causes: vec![],
        file: None,
        line: None,
        column: None,
    };
    println!("{}", serde_json::to_string_pretty(&f).expect("a failure serialises"));
    std::process::exit(e.exit_code());
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn a_repeated_cause_is_printed_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file");
        let e = anyhow::Error::new(io).context("x.csv: No such file");
        let f = classify(&e);
        assert_eq!(f.error, "x.csv: No such file");
        assert!(f.causes.is_empty(), "{:?}", f.causes);
        assert_eq!(f.kind, "io");
    }

    #[test]
    fn a_library_error_keeps_its_kind_and_place_under_context() {
        let e = isoflop_law::Error::Parse {
            path: "obs.csv".into(),
            line: 4,
            column: "loss".into(),
            message: "not a number".into(),
        };
        let e = Err::<(), _>(e).context("fitting").unwrap_err();
        let f = classify(&e);
        assert_eq!((f.kind, f.file.as_deref(), f.line), ("parse", Some("obs.csv"), Some(4)));
        assert_eq!(f.column, Some("loss".into()));
        assert_eq!(f.error, "fitting");
    }

    #[test]
    fn line_and_column_are_read_from_parser_messages() {
        assert_eq!(line_column("TOML parse error at line 3, column 5\n"), (Some(3), Some(5)));
        assert_eq!(line_column("expected value at line 1 column 2"), (Some(1), Some(2)));
        assert_eq!(line_column("no position"), (None, None));
    }
}
