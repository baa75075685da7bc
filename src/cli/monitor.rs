//! `cerebro monitor`: ingest the inference log, and show status, drift, quality and alerts, or
//! write the HTML report. Every subcommand is a thin shell over `monitor::service::Monitor`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use super::output::{Table, f4, print_json, time_ms};
use cerebro::monitor::config::format_duration_ms;
use cerebro::monitor::report::{ReportData, render_html};
use cerebro::monitor::service::Monitor;

#[derive(Debug, Subcommand)]
pub enum MonitorCommand {
    /// One ingestion pass over the inference log, then the alert rules; prints the counts.
    Ingest(Filter),
    /// Endpoints, windows, requests, errors, latency, labelled share, open alerts.
    Status(Filter),
    /// Per-feature drift of the latest window of each endpoint (or `--at` a window start).
    Drift(DriftArgs),
    /// Realised (labelled) and estimated (CBPE) quality per window, with the test values.
    Quality(Filter),
    /// Alerts, newest first.
    Alerts(AlertsArgs),
    /// Write a self-contained HTML report (charts inline, nothing fetched).
    Report(ReportArgs),
}

#[derive(Debug, Args)]
pub struct Filter {
    /// Only this endpoint.
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Window length, one of `monitoring.granularities` (default: the finest).
    #[arg(long)]
    pub window: Option<String>,
    /// Print JSON (stable field names) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Do not ingest new log lines first.
    #[arg(long)]
    pub no_refresh: bool,
}

#[derive(Debug, Args)]
pub struct DriftArgs {
    #[command(flatten)]
    pub filter: Filter,
    /// A window start (unix ms) instead of the latest window.
    #[arg(long)]
    pub at: Option<i64>,
    /// Every window of the granularity (drift over time) instead of one.
    #[arg(long)]
    pub history: bool,
    /// With --history: only this feature.
    #[arg(long)]
    pub feature: Option<String>,
    /// Prediction drift of every window (probabilities against the test set) instead.
    #[arg(long, conflicts_with_all = ["history", "at", "feature"])]
    pub predictions: bool,
}

#[derive(Debug, Args)]
pub struct AlertsArgs {
    #[command(flatten)]
    pub filter: Filter,
    /// Only open alerts.
    #[arg(long)]
    pub open: bool,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub filter: Filter,
    /// Where to write the report.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(config: &Path, cmd: MonitorCommand) -> Result<i32> {
    let ws = super::open(config)?;
    let read_only = ws.read_only();
    if read_only && matches!(cmd, MonitorCommand::Ingest(_)) {
        return Err(cerebro::store::open::read_only_error(&ws.db_path()).into());
    }
    let mut m = Monitor::open(&ws).context("opening the monitor")?;
    let ws_db = ws.db_path();
    drop(ws);
    let filter = match &cmd {
        MonitorCommand::Ingest(f) | MonitorCommand::Status(f) | MonitorCommand::Quality(f) => f,
        MonitorCommand::Drift(a) => &a.filter,
        MonitorCommand::Alerts(a) => &a.filter,
        MonitorCommand::Report(a) => &a.filter,
    };
    let (endpoint, window, json, no_refresh) = (
        filter.endpoint.clone(),
        filter.window.clone(),
        filter.json,
        filter.no_refresh,
    );
    let g = m.granularity(window.as_deref())?;
    let endpoint = endpoint.as_deref();
    let refresh = if no_refresh && !matches!(cmd, MonitorCommand::Ingest(_)) {
        None
    } else if read_only {
        eprintln!(
            "note: {} is read-only: showing what was ingested before, without a new ingestion pass",
            ws_db.display()
        );
        None
    } else {
        Some(m.refresh().context("ingesting the inference log")?)
    };
    match cmd {
        MonitorCommand::Ingest(_) => {
            let r = refresh.unwrap_or_default();
            if json {
                return print_json(&r).map(|_| 0);
            }
            let i = &r.ingest;
            println!(
                "ingested {} lines ({} records, {} corrupt) from {} files in {}; {} files reset, {} deleted, {} bytes waiting for a newline",
                i.lines,
                i.records,
                i.corrupt,
                i.files,
                m.log_dir().display(),
                i.resets,
                i.deleted,
                i.waiting_bytes
            );
            let l = &r.labels;
            println!(
                "ingested {} labels ({} for ids with no prediction yet, {} bad lines) from {} files in {}",
                l.labels,
                l.unmatched,
                l.corrupt,
                l.files,
                m.labels_dir().display()
            );
            println!(
                "alerts: {} rules, {} opened, {} resolved",
                r.rules,
                r.alerts.opened.len(),
                r.alerts.resolved.len()
            );
        }
        MonitorCommand::Status(_) => {
            let s = m.status(endpoint)?;
            if json {
                return print_json(&s).map(|_| 0);
            }
            println!(
                "{} lines from {} files ({} corrupt) · {} labels from {} files ({} without a prediction, {} bad lines) · {} open alerts · windows of {}",
                s.lines,
                s.files,
                s.corrupt_lines,
                s.labels,
                s.label_files,
                s.labels_unmatched,
                s.label_corrupt_lines,
                s.open_alerts,
                format_duration_ms(s.granularity_ms)
            );
            let mut t = Table::new([
                "ENDPOINT", "STATE", "VERSIONS", "WINDOWS", "REQUESTS", "ERRORS", "MEAN MS",
                "LABELLED", "DRIFT", "ALERTS",
            ]);
            for e in &s.endpoints {
                t.row([
                    e.endpoint.clone(),
                    e.state.map_or("-".into(), |s| s.to_string()),
                    e.versions_text(),
                    e.windows.to_string(),
                    e.requests.to_string(),
                    format!("{:.2}%", e.error_rate * 100.0),
                    format!("{:.2}", e.mean_latency_ms),
                    format!("{:.1}%", e.labelled_share * 100.0),
                    match (e.latest_dataset_drift, e.latest_drift_share) {
                        (Some(true), Some(s)) => format!("DRIFT {:.0}%", s * 100.0),
                        (Some(false), Some(s)) => format!("ok {:.0}%", s * 100.0),
                        _ => "-".into(),
                    },
                    e.open_alerts.to_string(),
                ]);
            }
            t.print();
        }
        MonitorCommand::Drift(a) if a.predictions => {
            let p = m.prediction_drift(endpoint, g)?;
            if json {
                return print_json(&p).map(|_| 0);
            }
            let mut t = Table::new([
                "WINDOW",
                "ENDPOINT",
                "VERSION",
                "RECORDS",
                "POSITIVE",
                "TEST POSITIVE",
                "TEST",
                "SCORE",
                "DRIFTED",
            ]);
            for w in &p {
                t.row([
                    time_ms(w.window_start),
                    w.endpoint.clone(),
                    format!("{}/{}", w.model, w.version),
                    w.records.to_string(),
                    f4(w.positive_rate),
                    f4(w.baseline_positive_rate),
                    w.drift.test.as_str().to_string(),
                    f4(w.drift.score),
                    if w.drift.drifted { "YES" } else { "no" }.to_string(),
                ]);
            }
            t.print();
        }
        MonitorCommand::Drift(a) if a.history => {
            let h = m.drift_history(endpoint, g, a.feature.as_deref())?;
            if json {
                return print_json(&h).map(|_| 0);
            }
            let mut t = Table::new([
                "WINDOW", "ENDPOINT", "VERSION", "RECORDS", "SHARE", "DATASET", "FEATURE", "TEST",
                "SCORE", "DRIFTED",
            ]);
            for p in &h {
                for (name, f) in &p.features {
                    t.row([
                        time_ms(p.window_start),
                        p.endpoint.clone(),
                        format!("{}/{}", p.model, p.version),
                        p.records.to_string(),
                        format!("{:.2}", p.share),
                        if p.dataset_drift { "DRIFT" } else { "ok" }.to_string(),
                        name.clone(),
                        f.test.clone(),
                        f4(f.score),
                        if f.drifted { "yes" } else { "no" }.to_string(),
                    ]);
                }
            }
            t.print();
        }
        MonitorCommand::Drift(a) => {
            let d = m.drift(endpoint, g, a.at)?;
            if json {
                return print_json(&d).map(|_| 0);
            }
            if d.is_empty() {
                println!("no windows of {} yet", format_duration_ms(g));
            }
            for w in &d {
                println!(
                    "{} {}/{} window {} ({} records): {}, share {:.2} -> {}",
                    w.endpoint,
                    w.model,
                    w.version,
                    time_ms(w.window_start),
                    w.records,
                    w.drifted_text(),
                    w.share,
                    if w.dataset_drift {
                        "DATASET DRIFT"
                    } else {
                        "no dataset drift"
                    }
                );
                if let Some(n) = &w.note {
                    println!("  {n}");
                    continue;
                }
                if let Some(n) = &w.withheld {
                    println!("  {n}");
                }
                if let Some(mv) = &w.multivariate {
                    println!(
                        "  multivariate: {} -> {}",
                        mv.summary(),
                        match (mv.drifted, &w.withheld) {
                            (_, Some(_)) => "too few records",
                            (true, None) => "MULTIVARIATE DRIFT",
                            (false, None) => "no multivariate drift",
                        }
                    );
                }
                let mut t = Table::new([
                    "FEATURE",
                    "TEST",
                    "SCORE",
                    "THRESHOLD",
                    "NO-DRIFT BAND",
                    "PSI",
                    "ROWS",
                    "NULLS",
                    "VALUES",
                    "DRIFTED",
                ]);
                for f in &w.features {
                    let has = f.has_data();
                    t.row([
                        f.name.clone(),
                        f.drift.test.as_str().to_string(),
                        if has { f4(f.drift.score) } else { "-".into() },
                        f4(f.drift.threshold),
                        f.drift.band_text(),
                        if has { f4(f.drift.psi) } else { "-".into() },
                        f.drift.rows.to_string(),
                        f.drift.nulls.to_string(),
                        f.drift.values_text(),
                        match (has, f.drift.drifted, &w.withheld) {
                            (false, _, _) => "no data",
                            (true, _, Some(_)) => "too few",
                            (true, true, None) => "YES",
                            (true, false, None) => "no",
                        }
                        .to_string(),
                    ]);
                }
                t.print();
            }
        }
        MonitorCommand::Quality(_) => {
            let q = m.quality(endpoint, g)?;
            if json {
                return print_json(&q).map(|_| 0);
            }
            let mut t = Table::new([
                "WINDOW", "ENDPOINT", "VERSION", "RECORDS", "LABELLED", "ACCURACY", "EST ACC",
                "ROC AUC", "EST AUC", "F1", "TEST ACC",
            ]);
            for w in &q {
                let opt = |v: Option<f64>| v.map(f4).unwrap_or("-".into());
                t.row([
                    time_ms(w.window_start),
                    w.endpoint.clone(),
                    format!("{}/{}", w.model, w.version),
                    w.records.to_string(),
                    w.labelled.to_string(),
                    opt(w.realised.map(|r| r.accuracy)),
                    opt(w.estimated.map(|e| e.accuracy)),
                    opt(w.realised.map(|r| r.roc_auc)),
                    opt(w.estimated.map(|e| e.roc_auc)),
                    opt(w.realised.map(|r| r.f1)),
                    opt(w.test.get("accuracy").copied()),
                ]);
            }
            t.print();
            if q.iter().any(|w| w.estimated.is_some()) {
                println!("EST: {}", cerebro::monitor::cbpe::ASSUMPTION);
            }
        }
        MonitorCommand::Alerts(a) => {
            let list = m.alerts(a.open, endpoint)?;
            if json {
                return print_json(&list).map(|_| 0);
            }
            let mut t = Table::new([
                "ID", "STATE", "RULE", "KIND", "ENDPOINT", "SUBJECT", "OPENED", "RESOLVED",
                "MESSAGE", "HOOK",
            ]);
            for x in &list {
                t.row([
                    x.alert_id.to_string(),
                    x.state.clone(),
                    x.rule.clone(),
                    x.kind.clone(),
                    x.endpoint.clone(),
                    x.subject.clone(),
                    time_ms(x.opened_at),
                    x.resolved_at.map(time_ms).unwrap_or("-".into()),
                    x.message.clone(),
                    x.hook_status.clone().unwrap_or("-".into()),
                ]);
            }
            t.print();
        }
        MonitorCommand::Report(a) => {
            let data = ReportData::gather(&mut m, endpoint, g)?;
            let html = render_html(&data);
            if let Some(dir) = a.out.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            std::fs::write(&a.out, &html)
                .with_context(|| format!("writing {}", a.out.display()))?;
            if json {
                return print_json(&serde_json::json!({
                    "out": a.out,
                    "bytes": html.len(),
                    "endpoints": data.status.endpoints.len(),
                    "windows": data.history.len(),
                    "alerts": data.alerts.len(),
                }))
                .map(|_| 0);
            }
            println!(
                "wrote {} ({} bytes): {} endpoints, {} windows, {} alerts",
                a.out.display(),
                html.len(),
                data.status.endpoints.len(),
                data.history.len(),
                data.alerts.len()
            );
        }
    }
    Ok(0)
}
