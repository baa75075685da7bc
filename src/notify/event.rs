//! The events a webhook receives: their names, payloads (`data`), the envelope POSTed, and a
//! Slack `text` line.
//!
//! Names and payload shapes are MLflow 3's (`mlflow/entities/webhook.py`,
//! `mlflow/webhooks/types.py`, mlflow 3.17): `<entity>.<action>`, with the version number as a
//! string. MLflow 3 has no event for a stage change (stages are deprecated there), a rollback or
//! a monitoring alert; cerebro adds those in the same `<entity>.<action>` grammar, marked
//! *cerebro* in [`EventName`].

use std::fmt;
use std::str::FromStr;

use serde::Serialize;
use serde_json::{Value, json};

use crate::error::{Error, Result};

/// An event a webhook can subscribe to (`events = [...]` in `[[notifications]]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum EventName {
    /// MLflow `registered_model.created`: `{name, tags, description}`.
    RegisteredModelCreated,
    /// MLflow `model_version.created`: `{name, version, source, run_id, tags, description}`.
    ModelVersionCreated,
    /// MLflow `model_version_alias.created` (also when an alias moves to another version):
    /// `{name, alias, version}`.
    ModelVersionAliasCreated,
    /// MLflow `model_version_alias.deleted`: `{name, alias}`.
    ModelVersionAliasDeleted,
    /// *cerebro* `model_version_stage.transitioned`: `{name, version, from_stage, to_stage,
    /// action, actor, reason, replaced_version}`; `action` is the audit action (`promote`,
    /// `archive`, `rollback`).
    ModelVersionStageTransitioned,
    /// *cerebro* `model_version.rolled_back`: `{name, version, from_version, actor, reason}`,
    /// `version` being the one restored to Production.
    ModelVersionRolledBack,
    /// *cerebro* `alert.opened`: the alert as `cerebro monitor alerts --json` prints it.
    AlertOpened,
    /// *cerebro* `alert.resolved`: the same shape, `state = "RESOLVED"`.
    AlertResolved,
}

impl EventName {
    pub const ALL: [EventName; 8] = [
        EventName::RegisteredModelCreated,
        EventName::ModelVersionCreated,
        EventName::ModelVersionAliasCreated,
        EventName::ModelVersionAliasDeleted,
        EventName::ModelVersionStageTransitioned,
        EventName::ModelVersionRolledBack,
        EventName::AlertOpened,
        EventName::AlertResolved,
    ];

    /// Every name, as config and JSON spell it.
    pub const NAMES: &'static [&'static str] = &[
        "registered_model.created",
        "model_version.created",
        "model_version_alias.created",
        "model_version_alias.deleted",
        "model_version_stage.transitioned",
        "model_version.rolled_back",
        "alert.opened",
        "alert.resolved",
    ];

    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// The envelope's `entity` (before the dot).
    pub fn entity(self) -> &'static str {
        self.as_str().split('.').next().unwrap_or_default()
    }

    /// The envelope's `action` (after the dot).
    pub fn action(self) -> &'static str {
        self.as_str().split('.').nth(1).unwrap_or_default()
    }
}

impl fmt::Display for EventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventName {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        EventName::ALL
            .into_iter()
            .find(|e| e.as_str() == s)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "unknown webhook event `{s}` (one of {})",
                    EventName::NAMES.join(", ")
                ))
            })
    }
}

/// One event as the outbox keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub name: EventName,
    /// The payload: the envelope's `data`.
    pub data: Value,
    /// One line for people (Slack's `text`).
    pub text: String,
}

impl Event {
    pub fn new(name: EventName, data: Value, text: String) -> Event {
        Event { name, data, text }
    }

    /// MLflow's `registered_model.created` (the registry creates a model with its first
    /// version; MLflow sends the request's description, possibly empty).
    pub fn registered_model_created(name: &str, description: &str) -> Event {
        Event::new(
            EventName::RegisteredModelCreated,
            json!({"name": name, "tags": {}, "description": description}),
            format!("[cerebro] registered model `{name}` created"),
        )
    }
}

/// The JSON body POSTed for an event: MLflow's envelope `{entity, action, timestamp, data}`
/// (`mlflow/webhooks/delivery.py`, `_send_webhook_request`) plus Slack's `text`. `timestamp` is
/// ISO 8601 UTC with microseconds (Python's `datetime.now(timezone.utc).isoformat()`), taken
/// when the event was recorded (MLflow: when sent), so every attempt sends the same body.
pub fn envelope(name: EventName, data: &Value, text: &str, at_ms: i64) -> Value {
    let timestamp = chrono::DateTime::from_timestamp_millis(at_ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, false);
    json!({
        "entity": name.entity(),
        "action": name.action(),
        "timestamp": timestamp,
        "data": data,
        "text": text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_split_into_entity_and_action() {
        for e in EventName::ALL {
            assert_eq!(e.as_str().parse::<EventName>().unwrap(), e);
            assert_eq!(format!("{}.{}", e.entity(), e.action()), e.as_str());
        }
        assert_eq!(EventName::NAMES.len(), EventName::ALL.len());
        assert!("model_version.create".parse::<EventName>().is_err());
    }

    #[test]
    fn the_envelope_is_mlflows_with_slack_text() {
        let body = envelope(
            EventName::ModelVersionAliasCreated,
            &json!({"name": "m", "alias": "champion", "version": "2"}),
            "hi",
            1_700_000_000_123,
        );
        assert_eq!(
            body,
            json!({
                "entity": "model_version_alias",
                "action": "created",
                "timestamp": "2023-11-14T22:13:20.123000+00:00",
                "data": {"name": "m", "alias": "champion", "version": "2"},
                "text": "hi",
            })
        );
    }
}
