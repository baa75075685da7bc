//! Names users give things, parsed once at the boundary into types that cannot hold a bad one
//! ("parse, don't validate"). The rules are MLflow's (`mlflow/utils/validation.py`, 3.x), made
//! stricter where cerebro uses a name as a folder or a URI part, so that whatever cerebro
//! accepts an MLflow server accepts too (`cerebro sync export`, `--tracking-uri`):
//!
//! | what | cerebro | MLflow |
//! |---|---|---|
//! | registered model, endpoint ([`ModelName`]) | ASCII letters, digits, `-`, `_`, `.`; not starting with `.`; not only digits; at most 128 | not blank, no `/` or `:`, not `.`/`..`-like |
//! | alias ([`Alias`]) | ASCII letters, digits, `-`, `_`; not only digits; not `latest` (any case) or `v<number>`; at most 255 | `[\w-]*`, at most 255, `latest` and `v<number>` reserved |
//! | experiment | not blank, at most 500 | not empty, at most 500 |
//! | run name | at most 250 | a 250-character column |
//! | param, tag and metric keys | letters, digits, `_ - . / :` and spaces; not a path that normalises to another name; at most 250 | the same |
//! | param value | at most 6,000 characters | the same |
//! | tag value | at most 8,000 characters (100,000 on a model version) | the same |
//!
//! Model and endpoint names share one rule because an endpoint is named after its model by
//! default and each endpoint writes its inference log under `<log_dir>/<name>/`: a name made of
//! dots (`.`, `..`) would escape that folder, so a leading dot is refused like `../x`.
//! Names are ASCII so they read the same in a terminal, a URL and a file name.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Longest model or endpoint name.
pub const MAX_MODEL_NAME: usize = 128;
/// Longest alias (MLflow's `MAX_REGISTERED_MODEL_ALIAS_LENGTH`).
pub const MAX_ALIAS: usize = 255;
/// Longest experiment name (MLflow's `MAX_EXPERIMENT_NAME_LENGTH`).
pub const MAX_EXPERIMENT_NAME: usize = 500;
/// Longest run name (the width of MLflow's `runs.name` column).
pub const MAX_RUN_NAME: usize = 250;
/// Longest param, tag or metric key (MLflow's `MAX_ENTITY_KEY_LENGTH`).
pub const MAX_KEY: usize = 250;
/// Longest param value (MLflow's `MAX_PARAM_VAL_LENGTH`).
pub const MAX_PARAM_VALUE: usize = 6000;
/// Longest run tag value (MLflow's `MAX_TAG_VAL_LENGTH`).
pub const MAX_TAG_VALUE: usize = 8000;
/// Longest model version tag value (MLflow's `MAX_MODEL_REGISTRY_TAG_VALUE_LENGTH`).
pub const MAX_VERSION_TAG_VALUE: usize = 100_000;

/// The name of a registered model or of a serving endpoint: ASCII letters, digits, `-`, `_`
/// and `.`, not starting with `.`, not only digits, at most [`MAX_MODEL_NAME`] characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ModelName(String);

/// Endpoint names follow the model-name rule (an endpoint is named after its model by default).
pub type EndpointName = ModelName;

impl ModelName {
    /// Parses a model name; `what` names it in the error ("model name", "endpoint name").
    pub fn parse_as(what: &str, name: &str) -> Result<ModelName> {
        let ok = !name.is_empty()
            && name.len() <= MAX_MODEL_NAME
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && !name.starts_with('.')
            && !name.chars().all(|c| c.is_ascii_digit());
        if ok {
            Ok(ModelName(name.to_string()))
        } else {
            Err(Error::invalid(format!(
                "invalid {what} `{name}`: use letters, digits, `-`, `_` and `.` (not only digits, \
                 not starting with `.`, at most {MAX_MODEL_NAME} characters)"
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ModelName {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        ModelName::parse_as("model name", s)
    }
}

impl TryFrom<String> for ModelName {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<ModelName> for String {
    fn from(n: ModelName) -> String {
        n.0
    }
}

impl AsRef<str> for ModelName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for ModelName {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ModelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A registered model alias (`NAME@ALIAS`): MLflow's alias rule (letters, digits, `_`, `-`),
/// not only digits (`NAME@3` would read as a version), and none of the names MLflow reserves:
/// `latest` in any case (MLflow's `models:/NAME/latest` means the newest version) and
/// `v<number>` (`NAME@v2` must not point at version 1).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Alias(String);

impl Alias {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Alias {
    type Err = Error;
    fn from_str(alias: &str) -> Result<Self> {
        let ok = !alias.is_empty()
            && alias.len() <= MAX_ALIAS
            && alias
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
            && !alias.chars().all(|c| c.is_ascii_digit());
        if !ok {
            return Err(Error::invalid(format!(
                "invalid alias `{alias}`: use letters, digits, `-` and `_` (not only digits, at \
                 most {MAX_ALIAS} characters)"
            )));
        }
        if alias.eq_ignore_ascii_case("latest") {
            return Err(Error::invalid(format!(
                "alias `{alias}` is reserved: `latest` (in any case) means the newest version \
                 (models:/NAME/latest), as in MLflow"
            )));
        }
        let rest = &alias[1..];
        if alias.starts_with(['v', 'V'])
            && !rest.is_empty()
            && rest.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(Error::invalid(format!(
                "alias `{alias}` is reserved: `v<number>` names a version (NAME@{alias} must not \
                 point at another version), as in MLflow"
            )));
        }
        Ok(Alias(alias.to_string()))
    }
}

impl TryFrom<String> for Alias {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<Alias> for String {
    fn from(a: Alias) -> String {
        a.0
    }
}

impl std::ops::Deref for Alias {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Alias {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An experiment name: not blank, at most [`MAX_EXPERIMENT_NAME`] characters.
pub fn check_experiment_name(name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(Error::invalid("the experiment name is empty"));
    }
    check_length("experiment name", name, MAX_EXPERIMENT_NAME)
}

/// A run name: at most [`MAX_RUN_NAME`] characters (it may be empty: MLflow then makes one up).
pub fn check_run_name(name: &str) -> Result<()> {
    check_length("run name", name, MAX_RUN_NAME)
}

/// A param key (MLflow's `_validate_param_name` and key length).
pub fn check_param_key(key: &str) -> Result<()> {
    check_key("param key", key)
}

/// A param value: at most [`MAX_PARAM_VALUE`] characters.
pub fn check_param_value(key: &str, value: &str) -> Result<()> {
    check_length(&format!("value of param `{key}`"), value, MAX_PARAM_VALUE)
}

/// A run or model version tag key (MLflow's `_validate_tag_name` and key length).
pub fn check_tag_key(key: &str) -> Result<()> {
    check_key("tag key", key)
}

/// A run tag value: at most [`MAX_TAG_VALUE`] characters.
pub fn check_tag_value(key: &str, value: &str) -> Result<()> {
    check_length(&format!("value of tag `{key}`"), value, MAX_TAG_VALUE)
}

/// A model version tag value: at most [`MAX_VERSION_TAG_VALUE`] characters.
pub fn check_version_tag_value(key: &str, value: &str) -> Result<()> {
    check_length(
        &format!("value of tag `{key}`"),
        value,
        MAX_VERSION_TAG_VALUE,
    )
}

/// A metric key (MLflow's `_validate_metric_name` and key length).
pub fn check_metric_key(key: &str) -> Result<()> {
    check_key("metric key", key)
}

fn check_length(what: &str, value: &str, max: usize) -> Result<()> {
    let n = value.chars().count();
    if n > max {
        return Err(Error::invalid(format!(
            "the {what} has {n} characters: at most {max} are allowed (MLflow's limit)"
        )));
    }
    Ok(())
}

/// MLflow's key rule: alphanumerics, `_`, `-`, `.`, `/`, `:` and spaces, and a key that, read as
/// a path, names itself (no `a//b`, `./a`, `a/`, `..`, `/a`), because MLflow stores keys as
/// file names in some backends.
fn check_key(what: &str, key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::invalid(format!("the {what} is empty")));
    }
    if !key
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | ':' | ' '))
    {
        return Err(Error::invalid(format!(
            "invalid {what} `{key}`: use letters, digits, `_`, `-`, `.`, `/`, `:` and spaces"
        )));
    }
    let norm = normalised(key);
    if norm != key || norm == "." || norm.starts_with("..") || norm.starts_with('/') {
        return Err(Error::invalid(format!(
            "invalid {what} `{key}`: read as a path it names `{norm}`, not itself (MLflow \
             refuses keys that resolve to other names or leave their folder)"
        )));
    }
    check_length(what, key, MAX_KEY)
}

/// Python's `posixpath.normpath` (no file system access): `.` parts and empty parts dropped,
/// `x/..` folded.
fn normalised(path: &str) -> String {
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            ".." if absolute => {}
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (absolute, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// An id as front ends and summaries show it: its first 8 characters (a run id, a data version,
/// an artifact digest), or the whole id when it is shorter. Lookups accept any prefix of at
/// least `store::MIN_PREFIX_LEN` characters, so a shown id can be typed back. The one way cerebro
/// shortens an id (`store::short_id` re-exports it).
pub fn short_id(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ids_are_the_first_eight_characters() {
        assert_eq!(short_id("0123456789abcdef"), "01234567");
        assert_eq!(short_id("abc"), "abc");
    }

    #[test]
    fn model_names_refuse_what_would_escape_a_folder() {
        for ok in ["marvel-alive_2.0", "a", "m.v1", "x..y", "A-1"] {
            assert_eq!(ok.parse::<ModelName>().unwrap().as_str(), ok);
        }
        let message = |s: &str| s.parse::<ModelName>().unwrap_err().to_string();
        let dotdot_slash = message("../x");
        for bad in [
            "..", ".", ".hidden", "...", "a b", "a/b", "42", "", "é", "a:b",
        ] {
            let m = message(bad);
            assert!(m.starts_with(&format!("invalid model name `{bad}`")), "{m}");
            // One message for every refused name, so `..` reads like `../x`.
            assert_eq!(
                m.replacen(&format!("`{bad}`"), "", 1),
                dotdot_slash.replacen("`../x`", "", 1)
            );
        }
        assert!("a".repeat(128).parse::<ModelName>().is_ok());
        assert!("a".repeat(129).parse::<ModelName>().is_err());
        let e = ModelName::parse_as("endpoint name", "..").unwrap_err();
        assert!(e.to_string().starts_with("invalid endpoint name `..`"));
        // JSON reads go through the same rule.
        assert!(serde_json::from_str::<ModelName>(r#""..""#).is_err());
        assert_eq!(
            serde_json::to_string(&"m".parse::<ModelName>().unwrap()).unwrap(),
            r#""m""#
        );
    }

    #[test]
    fn aliases_follow_mlflow_and_its_reserved_names() {
        for ok in [
            "champion",
            "blue-green_2",
            "v",
            "vx2",
            "v2a",
            "version2",
            "LATEST2",
            "x",
        ] {
            assert!(ok.parse::<Alias>().is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("latest", "reserved"),
            ("Latest", "reserved"),
            ("LATEST", "reserved"),
            ("v2", "reserved"),
            ("V10", "reserved"),
            ("v0", "reserved"),
            ("12", "invalid alias"),
            ("a.b", "invalid alias"),
            ("a b", "invalid alias"),
            ("", "invalid alias"),
        ] {
            let e = bad.parse::<Alias>().unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
        assert!("a".repeat(255).parse::<Alias>().is_ok());
        assert!("a".repeat(256).parse::<Alias>().is_err());
    }

    #[test]
    fn keys_follow_mlflows_character_and_path_rules() {
        for ok in ["max_depth", "a/b", "lr 0", "a.b-c:d", "x..y", "é"] {
            check_param_key(ok).unwrap();
            check_tag_key(ok).unwrap();
            check_metric_key(ok).unwrap();
        }
        for bad in [
            "", "a//b", "./a", "a/", "..", ".", "/a", "../a", "a/../b", "a\"b", "a=b",
        ] {
            assert!(check_param_key(bad).is_err(), "{bad}");
            assert!(check_tag_key(bad).is_err(), "{bad}");
        }
        assert!(check_param_key(&"k".repeat(250)).is_ok());
        assert!(check_param_key(&"k".repeat(251)).is_err());
        assert!(check_param_value("k", &"v".repeat(6000)).is_ok());
        assert!(check_param_value("k", &"v".repeat(6001)).is_err());
        assert!(check_tag_value("k", &"v".repeat(8001)).is_err());
        assert!(check_version_tag_value("k", &"v".repeat(100_000)).is_ok());
        assert!(check_version_tag_value("k", &"v".repeat(100_001)).is_err());
    }

    #[test]
    fn experiment_and_run_names_have_mlflows_limits() {
        check_experiment_name("characters alive / v2").unwrap();
        assert!(check_experiment_name("  ").is_err());
        assert!(check_experiment_name(&"e".repeat(501)).is_err());
        check_run_name("").unwrap();
        check_run_name(&"r".repeat(250)).unwrap();
        assert!(check_run_name(&"r".repeat(251)).is_err());
    }
}
