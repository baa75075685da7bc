//! The core's error type. Every message names the bad value and where it came from (file, line,
//! column or field) and, where it helps, what to do about it. Front ends add context with
//! `anyhow`; the core never prints.

use std::path::PathBuf;

/// Result alias used throughout the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration problem at a known place in a file.
    #[error("{file}:{line}:{column}: {message}{}", hint_suffix(.hint))]
    Config {
        file: PathBuf,
        line: usize,
        column: usize,
        message: String,
        hint: Option<String>,
    },

    /// A data problem. `line`/`column` are 1-based and present when the place is known.
    #[error("{}: {message}", place(.file, *.line, *.column))]
    Data {
        file: PathBuf,
        line: Option<usize>,
        column: Option<usize>,
        message: String,
    },

    /// A file could not be read or written.
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The tracking store failed. SQLite's message is said once: the error is not also given as
    /// this one's source, which would make a report of the chain repeat it.
    #[error("store: {}{}", sqlite_text(.0), read_only_hint(.0))]
    Store(rusqlite::Error),

    /// The store's database file cannot be used as asked: the message says why and what to do.
    #[error("{}: {message}", .path.display())]
    StoreFile { path: PathBuf, message: String },

    /// Something named by the user does not exist (a run, an experiment, a data version...).
    #[error("{what} not found: {name}")]
    NotFound { what: &'static str, name: String },

    /// The request is understood but cannot be carried out as asked.
    #[error("{0}")]
    Invalid(String),

    /// A registry transition refused because the registry is not as it was when the
    /// transition was decided; nothing was changed.
    #[error(transparent)]
    Conflict(#[from] crate::registry::conflict::Conflict),

    /// Training or prediction failed.
    #[error("model: {0}")]
    Model(String),

    /// The job was cancelled before it finished.
    #[error("cancelled")]
    Cancelled,

    /// A tuner stopped an iterative fit early (`crate::tune::prune`).
    #[error("pruned at {} trees: {}", .0.trees, .0.reason)]
    Pruned(Box<Pruned>),

    #[error("polars: {0}")]
    Polars(#[from] polars::error::PolarsError),

    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
}

/// Where a pruned fit stopped, and the per-step test metrics it computed until then.
#[derive(Debug, Clone, PartialEq)]
pub struct Pruned {
    /// Trees fitted when it stopped.
    pub trees: usize,
    /// The test `roc_auc` there.
    pub roc_auc: f64,
    /// Why the pruner stopped it.
    pub reason: String,
    /// `(trees, metric, value)` as far as the fit went (`roc_auc`, `log_loss`).
    pub steps: Vec<(i64, String, f64)>,
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Store(e)
    }
}

/// What to do about a write refused because the store is read-only.
fn read_only_hint(e: &rusqlite::Error) -> &'static str {
    if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ReadOnly) {
        " (the store database or its folder cannot be written: make them writable and run \
         again; commands that only read work as they are)"
    } else {
        ""
    }
}

/// SQLite's message for `e`, once: the text SQLite gave, else its error code's description.
pub fn sqlite_text(e: &rusqlite::Error) -> String {
    match e {
        rusqlite::Error::SqliteFailure(code, Some(msg)) => {
            let base = code.to_string();
            // `Error code N: description`; keep the description when the message adds nothing.
            let desc = base.split_once(": ").map_or(base.as_str(), |(_, d)| d);
            if msg == desc || msg.is_empty() {
                desc.to_string()
            } else {
                msg.clone()
            }
        }
        rusqlite::Error::SqliteFailure(code, None) => {
            let base = code.to_string();
            base.split_once(": ")
                .map_or(base.clone(), |(_, d)| d.to_string())
        }
        other => other.to_string(),
    }
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub fn data(file: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Data {
            file: file.into(),
            line: None,
            column: None,
            message: message.into(),
        }
    }

    pub fn data_at(
        file: impl Into<PathBuf>,
        line: usize,
        column: Option<usize>,
        message: impl Into<String>,
    ) -> Self {
        Error::Data {
            file: file.into(),
            line: Some(line),
            column,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Error::Invalid(message.into())
    }

    pub fn model(message: impl Into<String>) -> Self {
        Error::Model(message.into())
    }

    pub fn not_found(what: &'static str, name: impl Into<String>) -> Self {
        Error::NotFound {
            what,
            name: name.into(),
        }
    }
}

/// The candidate closest to `word` by Levenshtein edit distance (`strsim`), if it is close enough
/// to be a typo: at most 2 edits, or a third of the candidate's length for longer names. Error
/// messages use it for their "did you mean" hint.
pub fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::levenshtein(word, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn hint_suffix(hint: &Option<String>) -> String {
    match hint {
        Some(h) => format!(" (hint: {h})"),
        None => String::new(),
    }
}

fn place(file: &std::path::Path, line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!("{}:{l}:{c}", file.display()),
        (Some(l), None) => format!("{}:{l}", file.display()),
        _ => file.display().to_string(),
    }
}
