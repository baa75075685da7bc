//! Alert state: rules (`[[monitoring.alerts]]`) are evaluated into observations on every
//! refresh; an observation that fires opens an alert, and an open alert whose rule was evaluated
//! for its endpoint and no longer fires for its subject is resolved. At most one alert per rule,
//! endpoint and subject is open at a time (a unique index in `monitor_alerts` enforces it).
//!
//! **Hooks.** A rule's `hook` runs on open and on resolve as an argument list (no shell, so
//! nothing in an alert can inject a command), with the alert in `CEREBRO_ALERT_*` environment
//! variables, stdin/stdout/stderr detached, and a timeout after which it is killed. What it did
//! (`exit 0`, `exit 3`, `killed after 10000 ms`, `failed to start: …`) is stored in
//! `hook_status`; a failing hook never fails the refresh.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};
use serde::{Deserialize, Serialize};

use super::config::{AlertKind, AlertRule};
use crate::error::Result;
use crate::notify::event::{Event, EventName};
use crate::notify::outbox;

/// A row of `monitor_alerts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub alert_id: i64,
    pub rule: String,
    pub kind: String,
    pub endpoint: String,
    /// Feature or metric name; empty when the rule has none.
    pub subject: String,
    /// `OPEN` or `RESOLVED`.
    pub state: String,
    pub opened_at: i64,
    pub resolved_at: Option<i64>,
    pub granularity_ms: Option<i64>,
    pub window_start: Option<i64>,
    pub value: Option<f64>,
    pub threshold: Option<f64>,
    pub message: String,
    pub hook_status: Option<String>,
}

/// One rule's verdict for one endpoint and subject, as evaluated on a refresh.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Observation {
    pub rule: String,
    pub kind: AlertKind,
    pub endpoint: String,
    pub subject: String,
    pub firing: bool,
    pub value: f64,
    pub threshold: f64,
    pub granularity_ms: Option<i64>,
    pub window_start: Option<i64>,
    pub message: String,
}

/// What one evaluation changed.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AlertChanges {
    pub opened: Vec<Alert>,
    pub resolved: Vec<Alert>,
}

const SELECT: &str = "SELECT alert_id, rule, kind, endpoint, subject, state, opened_at, \
                      resolved_at, granularity_ms, window_start, value, threshold, message, \
                      hook_status FROM monitor_alerts";

fn alert_from_row(r: &Row<'_>) -> rusqlite::Result<Alert> {
    Ok(Alert {
        alert_id: r.get(0)?,
        rule: r.get(1)?,
        kind: r.get(2)?,
        endpoint: r.get(3)?,
        subject: r.get(4)?,
        state: r.get(5)?,
        opened_at: r.get(6)?,
        resolved_at: r.get(7)?,
        granularity_ms: r.get(8)?,
        window_start: r.get(9)?,
        value: r.get(10)?,
        threshold: r.get(11)?,
        message: r.get(12)?,
        hook_status: r.get(13)?,
    })
}

/// Alerts, newest first; only open ones with `open_only`.
pub fn list(conn: &Connection, open_only: bool, endpoint: Option<&str>) -> Result<Vec<Alert>> {
    let mut stmt = conn.prepare(&format!(
        "{SELECT} WHERE (?1 = 0 OR state = 'OPEN') AND (?2 IS NULL OR endpoint = ?2)
         ORDER BY alert_id DESC"
    ))?;
    let rows = stmt.query_map(params![open_only, endpoint], alert_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn get(conn: &Connection, id: i64) -> Result<Alert> {
    Ok(conn.query_row(
        &format!("{SELECT} WHERE alert_id = ?1"),
        [id],
        alert_from_row,
    )?)
}

/// Opens alerts for firing observations and resolves open alerts of the `evaluated` (rule,
/// endpoint) pairs whose subject no longer fires; runs the rules' hooks. `now` is unix ms.
pub fn apply(
    conn: &Connection,
    rules: &[AlertRule],
    observations: &[Observation],
    evaluated: &BTreeSet<(String, String)>,
    hook_timeout: Duration,
    now: i64,
) -> Result<AlertChanges> {
    let mut changes = AlertChanges::default();
    let hook_of = |rule: &str| {
        rules
            .iter()
            .find(|r| r.name == rule)
            .and_then(|r| r.hook.clone())
    };
    let mut firing = BTreeSet::new();
    for o in observations.iter().filter(|o| o.firing) {
        firing.insert((o.rule.clone(), o.endpoint.clone(), o.subject.clone()));
        let open: Option<i64> = conn
            .query_row(
                "SELECT alert_id FROM monitor_alerts
                 WHERE rule = ?1 AND endpoint = ?2 AND subject = ?3 AND state = 'OPEN'",
                params![o.rule, o.endpoint, o.subject],
                |r| r.get(0),
            )
            .optional()?;
        if open.is_some() {
            continue;
        }
        // A concurrent refresh may have opened the same alert: the unique index keeps one. The
        // row and its webhook event commit together.
        let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
        let inserted = tx.execute(
            "INSERT OR IGNORE INTO monitor_alerts (rule, kind, endpoint, subject, state,
               opened_at, granularity_ms, window_start, value, threshold, message)
             VALUES (?1, ?2, ?3, ?4, 'OPEN', ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                o.rule,
                o.kind.as_str(),
                o.endpoint,
                o.subject,
                now,
                o.granularity_ms,
                o.window_start,
                finite(o.value),
                finite(o.threshold),
                o.message
            ],
        )?;
        if inserted == 0 {
            continue;
        }
        let id = tx.last_insert_rowid();
        outbox::enqueue(&tx, &[alert_event(&get(&tx, id)?)])?;
        tx.commit()?;
        tracing::warn!(rule = %o.rule, endpoint = %o.endpoint, subject = %o.subject, "alert opened: {}", o.message);
        if let Some(hook) = hook_of(&o.rule) {
            let alert = get(conn, id)?;
            let status = format!("open: {}", run_hook(&hook, &alert, hook_timeout));
            conn.execute(
                "UPDATE monitor_alerts SET hook_status = ?2 WHERE alert_id = ?1",
                params![id, status],
            )?;
        }
        changes.opened.push(get(conn, id)?);
    }
    for open in list(conn, true, None)? {
        let key = (open.rule.clone(), open.endpoint.clone());
        if !evaluated.contains(&key)
            || firing.contains(&(
                open.rule.clone(),
                open.endpoint.clone(),
                open.subject.clone(),
            ))
        {
            continue;
        }
        let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
        let updated = tx.execute(
            "UPDATE monitor_alerts SET state = 'RESOLVED', resolved_at = ?2
             WHERE alert_id = ?1 AND state = 'OPEN'",
            params![open.alert_id, now],
        )?;
        if updated == 0 {
            continue;
        }
        outbox::enqueue(&tx, &[alert_event(&get(&tx, open.alert_id)?)])?;
        tx.commit()?;
        tracing::info!(rule = %open.rule, endpoint = %open.endpoint, subject = %open.subject, "alert resolved");
        if let Some(hook) = hook_of(&open.rule) {
            let alert = get(conn, open.alert_id)?;
            let outcome = run_hook(&hook, &alert, hook_timeout);
            let status = match &alert.hook_status {
                Some(s) => format!("{s}; resolve: {outcome}"),
                None => format!("resolve: {outcome}"),
            };
            conn.execute(
                "UPDATE monitor_alerts SET hook_status = ?2 WHERE alert_id = ?1",
                params![open.alert_id, status],
            )?;
        }
        changes.resolved.push(get(conn, open.alert_id)?);
    }
    Ok(changes)
}

/// The webhook event of an alert that just opened or resolved: `alert.opened` or
/// `alert.resolved`, with the alert as `monitor alerts --json` prints it.
fn alert_event(a: &Alert) -> Event {
    let subject = if a.subject.is_empty() {
        String::new()
    } else {
        format!(" ({})", a.subject)
    };
    let (name, text) = if a.state == "OPEN" {
        (
            EventName::AlertOpened,
            format!(
                "[cerebro] alert `{}` opened on endpoint `{}`{subject}: {}",
                a.rule, a.endpoint, a.message
            ),
        )
    } else {
        (
            EventName::AlertResolved,
            format!(
                "[cerebro] alert `{}` resolved on endpoint `{}`{subject}",
                a.rule, a.endpoint
            ),
        )
    };
    Event::new(
        name,
        serde_json::to_value(a).unwrap_or(serde_json::Value::Null),
        text,
    )
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// How long a killed hook's process group may take to disappear (its orphans are reaped by
/// init, which some container inits do only every second or so).
const GROUP_GONE_WAIT: Duration = Duration::from_secs(3);

/// Runs `hook` (program and arguments) for `alert`, in its own process group; past `timeout`
/// the whole group is killed. Returns what happened. Never fails.
pub fn run_hook(hook: &[String], alert: &Alert, timeout: Duration) -> String {
    let Some((program, args)) = hook.split_first() else {
        return "no program".into();
    };
    let opt = |x: Option<String>| x.unwrap_or_default();
    let mut cmd = Command::new(program);
    // Its own process group: a timeout kills the hook and everything it started.
    crate::process::own_group(&mut cmd);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .env("CEREBRO_ALERT_ID", alert.alert_id.to_string())
        .env("CEREBRO_ALERT_RULE", &alert.rule)
        .env("CEREBRO_ALERT_KIND", &alert.kind)
        .env("CEREBRO_ALERT_ENDPOINT", &alert.endpoint)
        .env("CEREBRO_ALERT_SUBJECT", &alert.subject)
        .env("CEREBRO_ALERT_STATE", &alert.state)
        .env("CEREBRO_ALERT_MESSAGE", &alert.message)
        .env("CEREBRO_ALERT_OPENED_AT", alert.opened_at.to_string())
        .env(
            "CEREBRO_ALERT_RESOLVED_AT",
            opt(alert.resolved_at.map(|x| x.to_string())),
        )
        .env(
            "CEREBRO_ALERT_VALUE",
            opt(alert.value.map(|x| x.to_string())),
        )
        .env(
            "CEREBRO_ALERT_THRESHOLD",
            opt(alert.threshold.map(|x| x.to_string())),
        )
        .env(
            "CEREBRO_ALERT_WINDOW_START",
            opt(alert.window_start.map(|x| x.to_string())),
        )
        .env(
            "CEREBRO_ALERT_GRANULARITY_MS",
            opt(alert.granularity_ms.map(|x| x.to_string())),
        );
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(program = %program, "alert hook failed to start: {e}");
            return format!("failed to start {program}: {e}");
        }
    };
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                return match status.code() {
                    Some(code) => format!("exit {code}"),
                    None => format!("ended by {status}"),
                };
            }
            Ok(None) if started.elapsed() >= timeout => {
                crate::process::kill_group(child.id());
                let _ = child.kill();
                let _ = child.wait();
                // With what it started: nothing of the hook outlives its timeout.
                let gone = crate::process::kill_group_and_wait(child.id(), GROUP_GONE_WAIT);
                tracing::warn!(program = %program, group_gone = gone, "alert hook killed after {} ms", timeout.as_millis());
                return format!("killed after {} ms", timeout.as_millis());
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return format!("wait failed: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(name: &str, hook: Option<Vec<String>>) -> AlertRule {
        AlertRule {
            name: name.into(),
            kind: AlertKind::ErrorRate,
            threshold: Some(0.1),
            granularity: None,
            endpoint: None,
            feature: None,
            metric: None,
            hook,
        }
    }

    fn obs(rule: &str, subject: &str, firing: bool) -> Observation {
        Observation {
            rule: rule.into(),
            kind: AlertKind::ErrorRate,
            endpoint: "ep".into(),
            subject: subject.into(),
            firing,
            value: if firing { 0.5 } else { 0.0 },
            threshold: 0.1,
            granularity_ms: Some(60_000),
            window_start: Some(0),
            message: "errors".into(),
        }
    }

    #[test]
    fn opens_once_resolves_and_runs_the_hook_with_the_alert_in_its_environment() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::SqliteStore::open(dir.path()).unwrap();
        let conn = Connection::open(store.db_path()).unwrap();
        let out = dir.path().join("hook.txt");
        let hook = vec![
            "/bin/sh".to_string(),
            "-c".to_string(),
            "echo \"$CEREBRO_ALERT_STATE $CEREBRO_ALERT_RULE $1\" >> \"$0\"".to_string(),
            out.display().to_string(),
            "; touch /tmp/never".to_string(),
        ];
        let rules = vec![rule("err", Some(hook)), rule("quiet", None)];
        let evaluated = BTreeSet::from([
            ("err".to_string(), "ep".to_string()),
            ("quiet".to_string(), "ep".to_string()),
        ]);
        let t = Duration::from_secs(10);
        let c = apply(
            &conn,
            &rules,
            &[obs("err", "", true), obs("quiet", "", false)],
            &evaluated,
            t,
            1,
        )
        .unwrap();
        assert_eq!(c.opened.len(), 1);
        assert_eq!(c.opened[0].hook_status.as_deref(), Some("open: exit 0"));
        // Firing again opens nothing new.
        let c = apply(&conn, &rules, &[obs("err", "", true)], &evaluated, t, 2).unwrap();
        assert!(c.opened.is_empty() && c.resolved.is_empty());
        // Not evaluated (no data for the endpoint): stays open.
        let c = apply(&conn, &rules, &[], &BTreeSet::new(), t, 3).unwrap();
        assert!(c.resolved.is_empty());
        let c = apply(&conn, &rules, &[obs("err", "", false)], &evaluated, t, 4).unwrap();
        assert_eq!(c.resolved.len(), 1);
        let a = &c.resolved[0];
        assert_eq!((a.state.as_str(), a.resolved_at), ("RESOLVED", Some(4)));
        assert_eq!(
            a.hook_status.as_deref(),
            Some("open: exit 0; resolve: exit 0")
        );
        // The argument with a `;` reached the hook as one argument, not as a command.
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "OPEN err ; touch /tmp/never\nRESOLVED err ; touch /tmp/never\n"
        );
        // It can open again later: a new row.
        let c = apply(&conn, &rules, &[obs("err", "", true)], &evaluated, t, 5).unwrap();
        assert_eq!(c.opened.len(), 1);
        assert_eq!(list(&conn, false, None).unwrap().len(), 2);
        assert_eq!(list(&conn, true, Some("ep")).unwrap().len(), 1);
        // Each opening and resolution left its webhook event in the outbox, once.
        let events: Vec<(String, i64)> = conn
            .prepare("SELECT event, json_extract(data, '$.alert_id') FROM notification_events ORDER BY event_id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let second = c.opened[0].alert_id;
        assert_eq!(
            events,
            [
                ("alert.opened".to_string(), a.alert_id),
                ("alert.resolved".to_string(), a.alert_id),
                ("alert.opened".to_string(), second),
            ]
        );
    }

    /// An open latency alert for hook tests.
    fn open_latency_alert() -> Alert {
        Alert {
            alert_id: 1,
            rule: "r".into(),
            kind: "latency".into(),
            endpoint: "ep".into(),
            subject: String::new(),
            state: "OPEN".into(),
            opened_at: 0,
            resolved_at: None,
            granularity_ms: None,
            window_start: None,
            value: None,
            threshold: None,
            message: String::new(),
            hook_status: None,
        }
    }

    #[test]
    fn hook_failures_are_recorded_not_fatal() {
        let alert = open_latency_alert();
        let t = Duration::from_millis(200);
        assert!(run_hook(&["/nonexistent/hook".into()], &alert, t).starts_with("failed to start"));
        assert_eq!(
            run_hook(&["/bin/sh".into(), "-c".into(), "exit 3".into()], &alert, t),
            "exit 3"
        );
        assert_eq!(
            run_hook(&["/bin/sleep".into(), "5".into()], &alert, t),
            "killed after 200 ms"
        );
    }

    #[test]
    fn a_timed_out_hook_leaves_nothing_it_started_running() {
        let alert = open_latency_alert();
        let dir = tempfile::tempdir().unwrap();
        let pids = dir.path().join("pids");
        // A child in the background, a grandchild through a nested shell, and the hook itself
        // waiting on them: all in the hook's group.
        let script = format!(
            "sleep 30 & echo $! >> {p}; sh -c 'sleep 30 & echo $! >> {p}; wait' & wait",
            p = pids.display()
        );
        let out = run_hook(
            &["/bin/sh".into(), "-c".into(), script],
            &alert,
            Duration::from_millis(500),
        );
        assert_eq!(out, "killed after 500 ms");
        let started: Vec<i32> = std::fs::read_to_string(&pids)
            .unwrap()
            .lines()
            .map(|l| l.trim().parse().unwrap())
            .collect();
        assert_eq!(started.len(), 2, "{started:?}");
        for pid in started {
            // SAFETY: signal 0 only checks whether the process exists.
            let alive = unsafe { libc::kill(pid, 0) } == 0;
            assert!(!alive, "process {pid} the hook started is still there");
        }
    }
}
