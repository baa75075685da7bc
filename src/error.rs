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

    /// The tracking store failed.
    #[error("store: {0}")]
    Store(#[from] rusqlite::Error),

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
