//! The model registry: registered models and their versions, stages (None, Staging,
//! Production, Archived) and aliases, the promotion gate, an append-only audit trail, rollback,
//! lineage and export/import.
//!
//! The lifecycle is MLflow's and Databricks': at most one Production version per model (the
//! `champion` alias) and one Staging version (the `challenger` alias). Promoting to Production
//! archives the previous Production version in the same transaction. Every transition names the
//! Production version it expects to replace, so of two promotions racing, the one that commits
//! second finds Production changed and is refused instead of silently overwriting it.
//!
//! Storage sits behind [`RegistryStore`], implemented by the SQLite store and by an MLflow
//! server's model registry; both check the one precondition of a stage change,
//! [`Transition::check`], inside their write. The logic that needs models and data (the gate,
//! lineage, export) lives in [`ops`].

pub mod conflict;
pub mod ops;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::data::schema::Signature;
use crate::error::{Error, Result};
pub use crate::names::{Alias, ModelName};
pub use conflict::Conflict;

/// Lifecycle stage of a model version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Stage {
    None,
    Staging,
    Production,
    Archived,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::None => "None",
            Stage::Staging => "Staging",
            Stage::Production => "Production",
            Stage::Archived => "Archived",
        }
    }

    /// The alias a stage always carries.
    pub fn alias(self) -> Option<&'static str> {
        match self {
            Stage::Production => Some(CHAMPION),
            Stage::Staging => Some(CHALLENGER),
            _ => None,
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Stage {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "none" => Ok(Stage::None),
            "staging" => Ok(Stage::Staging),
            "production" | "prod" => Ok(Stage::Production),
            "archived" => Ok(Stage::Archived),
            _ => Err(Error::invalid(format!(
                "unknown stage `{s}` (one of None, Staging, Production, Archived)"
            ))),
        }
    }
}

/// The alias Production always carries.
pub const CHAMPION: &str = "champion";
/// The alias Staging always carries.
pub const CHALLENGER: &str = "challenger";

/// A version of a registered model.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ModelVersion {
    pub name: String,
    pub version: i64,
    /// The run it was registered from (for imported versions, a run of another store).
    pub run_id: Option<String>,
    pub stage: Stage,
    pub aliases: Vec<String>,
    /// `sha256:<hex>` of the model artifact in the store's artifact folder.
    pub artifact_digest: String,
    pub signature: Signature,
    pub data_version: Option<String>,
    /// The source run's test metrics at registration; NaN when undefined (`null` in JSON).
    #[serde(with = "crate::store::json_f64::map")]
    pub metrics: BTreeMap<String, f64>,
    pub tags: BTreeMap<String, String>,
    pub description: String,
    /// `run:<id>` or `import:<manifest path>`.
    pub source: String,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A registered model with a summary of its versions.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RegisteredModel {
    pub name: String,
    pub description: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub versions: i64,
    pub latest_version: i64,
    pub production: Option<i64>,
    pub staging: Option<i64>,
    pub aliases: BTreeMap<String, i64>,
}

/// One entry of the audit trail.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AuditRecord {
    pub id: i64,
    pub name: String,
    pub version: Option<i64>,
    /// register, promote, archive, rollback, alias_set, alias_removed, import.
    pub action: String,
    pub from_stage: Option<String>,
    pub to_stage: Option<String>,
    pub alias: Option<String>,
    /// The Production version a promotion to Production replaced (what rollback restores).
    pub replaced_version: Option<i64>,
    /// OS user.
    pub actor: String,
    /// Unix milliseconds.
    pub at: i64,
    pub reason: Option<String>,
    pub gate: Option<serde_json::Value>,
}

/// What `register` and `import` insert.
#[derive(Debug, Clone)]
pub struct NewVersion {
    pub name: ModelName,
    pub run_id: Option<String>,
    pub artifact_digest: String,
    pub signature: Signature,
    pub data_version: Option<String>,
    pub metrics: BTreeMap<String, f64>,
    pub tags: BTreeMap<String, String>,
    pub description: String,
    pub source: String,
    pub actor: String,
    /// Audit action: `register` or `import`.
    pub action: &'static str,
}

/// A stage change.
#[derive(Debug, Clone)]
pub struct Transition {
    pub name: String,
    pub version: i64,
    pub to: Stage,
    /// The Production version the caller saw when it decided (e.g. evaluated the gate). If
    /// Production is another version at commit time, the transition is refused.
    pub expected_production: Option<i64>,
    pub actor: String,
    pub reason: Option<String>,
    pub gate: Option<serde_json::Value>,
    /// Audit action: promote, archive or rollback.
    pub action: &'static str,
}

impl Transition {
    /// The precondition of every stage transition, which each backend checks inside its write
    /// before changing anything, given the version's `current` stage and the Production version
    /// it finds there now: Production must still be [`Transition::expected_production`] (else
    /// [`Conflict::ProductionChanged`]), and the version must not already be in stage `to`
    /// ([`Conflict::AlreadyInStage`]).
    pub fn check(&self, current: Stage, production: Option<i64>) -> Result<(), Conflict> {
        if production != self.expected_production {
            return Err(Conflict::ProductionChanged {
                model: self.name.clone(),
                action: self.action,
                expected: self.expected_production,
                found: production,
            });
        }
        if current == self.to {
            return Err(Conflict::AlreadyInStage {
                model: self.name.clone(),
                version: self.version,
                stage: self.to.as_str(),
            });
        }
        Ok(())
    }
}

/// Storage of the registry. Writes are single transactions; a refused call changes nothing.
pub trait RegistryStore {
    /// Creates the next version of `new.name` (creating the model on first use).
    fn create_version(&mut self, new: &NewVersion) -> Result<ModelVersion>;
    fn list_models(&self) -> Result<Vec<RegisteredModel>>;
    fn get_model(&self, name: &str) -> Result<RegisteredModel>;
    fn list_versions(&self, name: &str) -> Result<Vec<ModelVersion>>;
    fn get_version(&self, name: &str, version: i64) -> Result<ModelVersion>;
    /// Resolves a model URI to a version.
    fn resolve(&self, uri: &ModelUri) -> Result<ModelVersion>;
    /// Applies a stage change and records it; returns the audit record.
    fn transition(&mut self, t: &Transition) -> Result<AuditRecord>;
    /// Points a free-form alias at a version (`champion` and `challenger` follow the stages;
    /// see [`check_settable_alias`]).
    fn set_alias(
        &mut self,
        name: &str,
        alias: &Alias,
        version: i64,
        actor: &str,
    ) -> Result<AuditRecord>;
    fn delete_alias(&mut self, name: &str, alias: &str, actor: &str) -> Result<AuditRecord>;
    /// The audit trail of a model, oldest first.
    fn history(&self, name: &str) -> Result<Vec<AuditRecord>>;
}

/// A way of naming a model version: `NAME/VERSION`, `NAME@ALIAS`, `NAME/STAGE` and
/// `NAME/latest` (the newest version, any stage), optionally prefixed `models:/` as MLflow
/// writes them. `latest` and stage names are read in any case, as MLflow reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelUri {
    Version(String, i64),
    Alias(String, String),
    Stage(String, Stage),
    Latest(String),
}

impl ModelUri {
    pub fn name(&self) -> &str {
        match self {
            ModelUri::Version(n, _)
            | ModelUri::Alias(n, _)
            | ModelUri::Stage(n, _)
            | ModelUri::Latest(n) => n,
        }
    }
}

impl fmt::Display for ModelUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelUri::Version(n, v) => write!(f, "{n}/{v}"),
            ModelUri::Alias(n, a) => write!(f, "{n}@{a}"),
            ModelUri::Stage(n, s) => write!(f, "{n}/{s}"),
            ModelUri::Latest(n) => write!(f, "{n}/latest"),
        }
    }
}

impl FromStr for ModelUri {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            Error::invalid(format!(
                "`{s}` is not a model URI: write NAME/VERSION, NAME@ALIAS, NAME/STAGE or NAME/latest (e.g. marvel/3, marvel@champion, marvel/Production)"
            ))
        };
        let body = s.strip_prefix("models:/").unwrap_or(s);
        if let Some((name, alias)) = body.split_once('@') {
            if name.is_empty() || alias.is_empty() || alias.contains('/') {
                return Err(bad());
            }
            return Ok(ModelUri::Alias(name.into(), alias.into()));
        }
        let (name, rest) = body.rsplit_once('/').ok_or_else(bad)?;
        if name.is_empty() || rest.is_empty() {
            return Err(bad());
        }
        if let Ok(v) = rest.parse::<i64>() {
            return Ok(ModelUri::Version(name.into(), v));
        }
        if rest.eq_ignore_ascii_case("latest") {
            return Ok(ModelUri::Latest(name.into()));
        }
        Ok(ModelUri::Stage(
            name.into(),
            rest.parse().map_err(|_| bad())?,
        ))
    }
}

/// A free-form alias may be set to `alias`: not one of the aliases that follow the stages
/// (`champion`, `challenger`), which only a promotion moves. (The [`Alias`] type already
/// refuses MLflow's reserved names.)
pub fn check_settable_alias(alias: &Alias) -> Result<()> {
    let alias = alias.as_str();
    if alias == CHAMPION || alias == CHALLENGER {
        return Err(Error::invalid(format!(
            "`{alias}` follows the {} stage: promote a version instead",
            if alias == CHAMPION {
                "Production"
            } else {
                "Staging"
            }
        )));
    }
    Ok(())
}

/// A free-form alias may be deleted: the stage aliases are moved by archiving, not deleted.
pub fn check_deletable_alias(alias: &str) -> Result<()> {
    if alias == CHAMPION || alias == CHALLENGER {
        return Err(Error::invalid(format!(
            "`{alias}` follows a stage: archive the version instead"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_parse_every_form() {
        assert_eq!(
            "marvel/3".parse::<ModelUri>().unwrap(),
            ModelUri::Version("marvel".into(), 3)
        );
        assert_eq!(
            "models:/marvel@champion".parse::<ModelUri>().unwrap(),
            ModelUri::Alias("marvel".into(), "champion".into())
        );
        assert_eq!(
            "marvel/Production".parse::<ModelUri>().unwrap(),
            ModelUri::Stage("marvel".into(), Stage::Production)
        );
        for latest in ["models:/marvel/latest", "marvel/LATEST", "marvel/Latest"] {
            assert_eq!(
                latest.parse::<ModelUri>().unwrap(),
                ModelUri::Latest("marvel".into())
            );
        }
        for bad in [
            "marvel",
            "marvel/",
            "@x",
            "marvel/Prod2",
            "m@a/b",
            "marvel/latest2",
        ] {
            assert!(bad.parse::<ModelUri>().is_err(), "{bad}");
        }
    }

    #[test]
    fn stage_aliases_are_not_set_by_hand() {
        for alias in [CHAMPION, CHALLENGER] {
            let a: Alias = alias.parse().unwrap();
            assert!(check_settable_alias(&a).is_err());
            assert!(check_deletable_alias(alias).is_err());
        }
        check_settable_alias(&"blue".parse().unwrap()).unwrap();
    }

    #[test]
    fn a_transition_conflicts_with_a_changed_production_before_its_own_stage() {
        let t = Transition {
            name: "marvel".into(),
            version: 3,
            to: Stage::Production,
            expected_production: Some(2),
            actor: "me".into(),
            reason: None,
            gate: None,
            action: "promote",
        };
        t.check(Stage::Staging, Some(2)).unwrap();
        let changed = t.check(Stage::Production, Some(3)).unwrap_err();
        assert_eq!(
            changed,
            Conflict::ProductionChanged {
                model: "marvel".into(),
                action: "promote",
                expected: Some(2),
                found: Some(3),
            }
        );
        assert_eq!(
            changed.to_string(),
            "Production of `marvel` changed while this promote was being decided (expected \
             version 2, now version 3); nothing was changed, run it again"
        );
        let same = Transition {
            expected_production: None,
            ..t
        };
        assert_eq!(
            same.check(Stage::Production, None).unwrap_err().to_string(),
            "marvel/3 is already in stage Production"
        );
    }
}
