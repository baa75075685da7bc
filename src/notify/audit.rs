//! Registry events from what the registry records: a new version from the [`ModelVersion`]
//! `create_version` returns, everything else from the [`AuditRecord`]s a change appends. Both
//! stores (SQLite and MLflow) append the same records for the same change, so deriving the
//! events here keeps the two backends' webhooks identical.

use serde_json::json;

use super::event::{Event, EventName};
use crate::registry::{AuditRecord, ModelVersion, Stage};

/// MLflow's `model_version.created` (`ModelVersionCreatedPayload`): the version as a string, the
/// run id or null, the description or null when empty (MLflow sends `description or None`).
pub fn version_created(v: &ModelVersion) -> Event {
    let description = (!v.description.is_empty()).then_some(v.description.as_str());
    let run = v
        .run_id
        .as_deref()
        .map(|r| format!(" from run {}", &r[..8.min(r.len())]))
        .unwrap_or_default();
    Event::new(
        EventName::ModelVersionCreated,
        json!({
            "name": v.name,
            "version": v.version.to_string(),
            "source": v.source,
            "run_id": v.run_id,
            "tags": v.tags,
            "description": description,
        }),
        format!(
            "[cerebro] model version {}/{} registered{run} by {}",
            v.name, v.version, v.created_by
        ),
    )
}

fn alias_created(name: &str, alias: &str, version: i64) -> Event {
    Event::new(
        EventName::ModelVersionAliasCreated,
        json!({"name": name, "alias": alias, "version": version.to_string()}),
        format!("[cerebro] {name}@{alias} now points to version {version}"),
    )
}

fn alias_deleted(name: &str, alias: &str) -> Event {
    Event::new(
        EventName::ModelVersionAliasDeleted,
        json!({"name": name, "alias": alias}),
        format!("[cerebro] alias {name}@{alias} removed"),
    )
}

fn stage_alias(stage: Option<&str>) -> Option<&'static str> {
    stage
        .and_then(|s| s.parse::<Stage>().ok())
        .and_then(Stage::alias)
}

/// The events one audit record stands for, in order:
///
/// - a stage change (`from_stage` and `to_stage` set): `model_version_stage.transitioned`;
///   the alias of the stage entered is created (pointing to this version) and the alias of the
///   stage left is deleted, unless the record says this version lost it to another (a demoted
///   champion: its `alias` is the one it lost, and the new holder's record creates it); a
///   `rollback` adds `model_version.rolled_back` (from the version it replaced);
/// - `alias_set` / `alias_removed`: `model_version_alias.created` / `.deleted`;
/// - `register` and `import`: nothing (see [`version_created`]).
pub fn from_audit(r: &AuditRecord) -> Vec<Event> {
    let mut out = Vec::new();
    let Some(version) = r.version else {
        return out;
    };
    let name = r.name.as_str();
    match (
        r.action.as_str(),
        r.from_stage.as_deref(),
        r.to_stage.as_deref(),
    ) {
        ("alias_set", ..) => {
            if let Some(a) = &r.alias {
                out.push(alias_created(name, a, version));
            }
        }
        ("alias_removed", ..) => {
            if let Some(a) = &r.alias {
                out.push(alias_deleted(name, a));
            }
        }
        (action, Some(from), Some(to)) => {
            let reason = r
                .reason
                .as_deref()
                .map(|x| format!(": {x}"))
                .unwrap_or_default();
            out.push(Event::new(
                EventName::ModelVersionStageTransitioned,
                json!({
                    "name": name,
                    "version": version.to_string(),
                    "from_stage": from,
                    "to_stage": to,
                    "action": action,
                    "actor": r.actor,
                    "reason": r.reason,
                    "replaced_version": r.replaced_version.map(|v| v.to_string()),
                }),
                format!(
                    "[cerebro] {name}/{version}: {from} → {to} ({action} by {}){reason}",
                    r.actor
                ),
            ));
            if from != to {
                if let Some(lost) = stage_alias(Some(from))
                    && r.alias.as_deref() != Some(lost)
                {
                    out.push(alias_deleted(name, lost));
                }
                if let Some(gained) = stage_alias(Some(to)) {
                    out.push(alias_created(name, gained, version));
                }
            }
            if action == "rollback" {
                let from_version = r.replaced_version;
                let from_text = from_version
                    .map(|v| format!(" from version {v}"))
                    .unwrap_or_default();
                out.push(Event::new(
                    EventName::ModelVersionRolledBack,
                    json!({
                        "name": name,
                        "version": version.to_string(),
                        "from_version": from_version.map(|v| v.to_string()),
                        "actor": r.actor,
                        "reason": r.reason,
                    }),
                    format!(
                        "[cerebro] {name} rolled back{from_text} to version {version} by {}{reason}",
                        r.actor
                    ),
                ));
            }
        }
        _ => {}
    }
    out
}

/// The events of several records, in order.
pub fn from_audits<'a>(records: impl IntoIterator<Item = &'a AuditRecord>) -> Vec<Event> {
    records.into_iter().flat_map(from_audit).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// The names in `events`.
    fn names(events: &[Event]) -> Vec<&'static str> {
        events.iter().map(|e| e.name.as_str()).collect()
    }

    /// The `data` of the first event named `name`.
    fn data_of(events: &[Event], name: EventName) -> Option<&Value> {
        events.iter().find(|e| e.name == name).map(|e| &e.data)
    }

    fn record(
        action: &str,
        version: i64,
        from: &str,
        to: &str,
        alias: Option<&str>,
    ) -> AuditRecord {
        AuditRecord {
            id: 1,
            name: "m".into(),
            version: Some(version),
            action: action.into(),
            from_stage: Some(from.into()),
            to_stage: Some(to.into()),
            alias: alias.map(str::to_string),
            replaced_version: None,
            actor: "ann".into(),
            at: 0,
            reason: None,
            gate: None,
        }
    }

    #[test]
    fn a_promotion_over_a_champion_moves_the_alias_once() {
        // What both stores append when Staging v2 replaces Production v1.
        let demoted = record("archive", 1, "Production", "Archived", Some("champion"));
        let mut promoted = record("promote", 2, "Staging", "Production", Some("champion"));
        promoted.replaced_version = Some(1);
        let events = from_audits([&demoted, &promoted]);
        assert_eq!(
            names(&events),
            [
                "model_version_stage.transitioned",
                "model_version_stage.transitioned",
                "model_version_alias.deleted",
                "model_version_alias.created",
            ]
        );
        assert_eq!(events[2].data, json!({"name": "m", "alias": "challenger"}));
        assert_eq!(
            events[3].data,
            json!({"name": "m", "alias": "champion", "version": "2"})
        );
        assert_eq!(events[1].data["replaced_version"], "1");
    }

    #[test]
    fn archiving_the_champion_deletes_its_alias_and_a_rollback_says_so() {
        let archived = record("archive", 3, "Production", "Archived", None);
        assert_eq!(
            names(&from_audit(&archived)),
            [
                "model_version_stage.transitioned",
                "model_version_alias.deleted"
            ]
        );
        let mut back = record("rollback", 1, "Archived", "Production", Some("champion"));
        back.replaced_version = Some(2);
        let events = from_audit(&back);
        assert_eq!(
            names(&events),
            [
                "model_version_stage.transitioned",
                "model_version_alias.created",
                "model_version.rolled_back"
            ]
        );
        assert_eq!(
            data_of(&events, EventName::ModelVersionRolledBack).unwrap()["from_version"],
            "2"
        );
        let mut register = record("register", 1, "None", "None", None);
        register.from_stage = None;
        assert!(from_audit(&register).is_empty());
    }
}
