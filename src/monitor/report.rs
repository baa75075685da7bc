//! The shareable HTML monitoring report: one self-contained file (inline CSS and SVG, no script,
//! nothing fetched) with, per endpoint, the latest window's per-feature baseline-vs-current
//! histograms, each feature's drift score over time against its threshold, prediction drift,
//! quality over time (realised, CBPE-estimated and the test value), and the alerts.
//!
//! Charts carry stable class names (`hist`, `drift-over-time`, `quality-over-time`,
//! `prediction-over-time`) so a headless browser check (`bench/check_report.sh`) can assert they
//! rendered.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use super::alerts::Alert;
use super::config::format_duration_ms;
use super::service::{
    DriftPoint, Histogram, Monitor, PredictionDrift, QualityWindow, Status, WindowDrift,
};
use crate::error::Result;
use crate::serve::status::EndpointState;

/// Everything the report shows, gathered from a [`Monitor`].
#[derive(Debug, Clone, Serialize)]
pub struct ReportData {
    pub generated_at: i64,
    pub granularity_ms: i64,
    pub status: Status,
    pub latest: Vec<WindowDrift>,
    pub history: Vec<DriftPoint>,
    pub predictions: Vec<PredictionDrift>,
    pub quality: Vec<QualityWindow>,
    pub alerts: Vec<Alert>,
}

impl ReportData {
    /// Gathers the report of every endpoint (or one) at one granularity.
    pub fn gather(
        monitor: &mut Monitor,
        endpoint: Option<&str>,
        granularity_ms: i64,
    ) -> Result<ReportData> {
        Ok(ReportData {
            generated_at: chrono::Utc::now().timestamp_millis(),
            granularity_ms,
            status: monitor.status(endpoint)?,
            latest: monitor.drift(endpoint, granularity_ms, None)?,
            history: monitor.drift_history(endpoint, granularity_ms, None)?,
            predictions: monitor.prediction_drift(endpoint, granularity_ms)?,
            quality: monitor.quality(endpoint, granularity_ms)?,
            alerts: monitor.alerts(false, endpoint)?,
        })
    }
}

const CSS: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#1d2330;background:#fafbfc}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #d8dde6;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}.meta{color:#5b6475;font-size:13px}
table{border-collapse:collapse;font-size:13px;margin:6px 0}td,th{padding:3px 10px;border-bottom:1px solid #e4e7ec;text-align:left}
th{background:#eef1f5}.num{text-align:right;font-variant-numeric:tabular-nums}
.drifted{color:#b42318;font-weight:600}.ok{color:#067647}
.grid{display:flex;flex-wrap:wrap;gap:14px}.card{background:#fff;border:1px solid #e4e7ec;border-radius:6px;padding:8px}
.card h4{margin:0 0 4px;font-size:13px}.legend{font-size:12px;color:#5b6475}
.sw{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px;vertical-align:middle}
svg text{font-size:10px;fill:#5b6475}
";

const BASE: &str = "#8da2c0";
const CURRENT: &str = "#e07a1f";
const LINES: [&str; 4] = ["#2563eb", "#e07a1f", "#067647", "#b42318"];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn num(x: f64) -> String {
    if !x.is_finite() {
        "-".into()
    } else if x != 0.0 && x.abs() < 1e-3 {
        format!("{x:.2e}")
    } else {
        format!("{x:.4}")
    }
}

fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// Grouped bars: baseline and current share per bin.
fn histogram_svg(name: &str, h: &Histogram) -> String {
    let (w, ht, pad) = (360.0, 150.0, 22.0);
    let n = h.labels.len().max(1) as f64;
    let max = h
        .baseline
        .iter()
        .chain(&h.current)
        .fold(0.0f64, |a, b| a.max(*b))
        .max(1e-9);
    let slot = (w - pad) / n;
    let mut s = format!(
        "<svg class=\"hist\" data-feature=\"{}\" width=\"{w}\" height=\"{}\" viewBox=\"0 0 {w} {}\" role=\"img\">",
        esc(name),
        ht + 40.0,
        ht + 40.0
    );
    let _ = write!(
        s,
        "<line x1=\"{pad}\" y1=\"{ht}\" x2=\"{w}\" y2=\"{ht}\" stroke=\"#9aa3b2\"/>"
    );
    for (i, label) in h.labels.iter().enumerate() {
        let x = pad + i as f64 * slot;
        let bw = (slot - 4.0).max(2.0) / 2.0;
        for (j, (v, color)) in [
            (h.baseline.get(i).copied().unwrap_or(0.0), BASE),
            (h.current.get(i).copied().unwrap_or(0.0), CURRENT),
        ]
        .into_iter()
        .enumerate()
        {
            let bh = (v / max) * (ht - 8.0);
            let _ = write!(
                s,
                "<rect class=\"{}\" x=\"{:.1}\" y=\"{:.1}\" width=\"{bw:.1}\" height=\"{bh:.1}\" fill=\"{color}\"><title>{}: {:.1}%</title></rect>",
                if j == 0 {
                    "bar-baseline"
                } else {
                    "bar-current"
                },
                x + 2.0 + j as f64 * bw,
                ht - bh,
                esc(label),
                v * 100.0
            );
        }
        if h.labels.len() <= 12 {
            let _ = write!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" transform=\"rotate(30 {:.1} {:.1})\">{}</text>",
                x + 2.0,
                ht + 11.0,
                x + 2.0,
                ht + 11.0,
                esc(&label.chars().take(14).collect::<String>())
            );
        }
    }
    let _ = write!(s, "<text x=\"0\" y=\"10\">{:.0}%</text></svg>", max * 100.0);
    s
}

/// A line chart of named series over window starts, with an optional horizontal reference.
fn line_svg(
    class: &str,
    title: &str,
    xs: &[i64],
    series: &[(&str, Vec<Option<f64>>)],
    reference: Option<(&str, f64)>,
) -> String {
    let (w, ht, pad) = (520.0, 170.0, 36.0);
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for v in series
        .iter()
        .flat_map(|s| s.1.iter().flatten())
        .chain(reference.iter().map(|r| &r.1))
    {
        if v.is_finite() {
            lo = lo.min(*v);
            hi = hi.max(*v);
        }
    }
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    if hi - lo < 1e-9 {
        hi = lo + 1.0;
    }
    let span = hi - lo;
    lo -= 0.05 * span;
    hi += 0.05 * span;
    let (x0, x1) = (
        xs.iter().copied().min().unwrap_or(0),
        xs.iter().copied().max().unwrap_or(1),
    );
    let px = |x: i64| {
        if x1 == x0 {
            pad + (w - pad) / 2.0
        } else {
            pad + (x - x0) as f64 / (x1 - x0) as f64 * (w - pad - 8.0)
        }
    };
    let py = |y: f64| 8.0 + (hi - y) / (hi - lo) * (ht - 16.0);
    let mut s = format!(
        "<svg class=\"{class}\" data-title=\"{}\" width=\"{w}\" height=\"{}\" viewBox=\"0 0 {w} {}\" role=\"img\">",
        esc(title),
        ht + 18.0,
        ht + 18.0
    );
    let _ = write!(
        s,
        "<line x1=\"{pad}\" y1=\"{ht}\" x2=\"{w}\" y2=\"{ht}\" stroke=\"#9aa3b2\"/>\
         <text x=\"0\" y=\"{:.1}\">{}</text><text x=\"0\" y=\"{:.1}\">{}</text>\
         <text x=\"{pad}\" y=\"{:.1}\">{}</text><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
        py(hi - 0.05 * span) + 3.0,
        num(hi - 0.05 * span),
        py(lo + 0.05 * span) + 3.0,
        num(lo + 0.05 * span),
        ht + 14.0,
        time(x0),
        w - 4.0,
        ht + 14.0,
        time(x1)
    );
    if let Some((label, y)) = reference
        && y.is_finite()
    {
        let _ = write!(
            s,
            "<line class=\"reference\" x1=\"{pad}\" y1=\"{0:.1}\" x2=\"{w}\" y2=\"{0:.1}\" stroke=\"#b42318\" stroke-dasharray=\"4 3\"><title>{1} {2}</title></line>",
            py(y),
            esc(label),
            num(y)
        );
    }
    for (k, (name, ys)) in series.iter().enumerate() {
        let color = LINES[k % LINES.len()];
        let pts: Vec<String> = xs
            .iter()
            .zip(ys)
            .filter_map(|(x, y)| {
                y.filter(|v| v.is_finite())
                    .map(|v| format!("{:.1},{:.1}", px(*x), py(v)))
            })
            .collect();
        if pts.is_empty() {
            continue;
        }
        let _ = write!(
            s,
            "<polyline class=\"series\" data-series=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"1.8\" points=\"{}\"/>",
            esc(name),
            pts.join(" ")
        );
        for p in &pts {
            let (x, y) = p.split_once(',').unwrap_or(("0", "0"));
            let _ = write!(
                s,
                "<circle cx=\"{x}\" cy=\"{y}\" r=\"2.5\" fill=\"{color}\"/>"
            );
        }
    }
    s.push_str("</svg>");
    s
}

fn legend(items: &[(&str, &str)]) -> String {
    let mut s = String::from("<div class=\"legend\">");
    for (name, color) in items {
        let _ = write!(
            s,
            "<span class=\"sw\" style=\"background:{color}\"></span>{}",
            esc(name)
        );
    }
    s.push_str("</div>");
    s
}

/// Renders the report as one HTML document.
pub fn render_html(r: &ReportData) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>cerebro monitoring report</title><style>{CSS}</style></head><body>\
         <h1>cerebro monitoring report</h1><p class=\"meta\">generated {} UTC · windows of {} · \
         baseline: {} · {} log lines from {} files ({} corrupt) · {} labels ({} without a \
         prediction) · {} open alerts</p>",
        time(r.generated_at),
        format_duration_ms(r.granularity_ms),
        match r.status.baseline {
            super::config::BaselineMode::Training => "training data",
            super::config::BaselineMode::PreviousWindow => "previous window",
        },
        r.status.lines,
        r.status.files,
        r.status.corrupt_lines,
        r.status.labels,
        r.status.labels_unmatched,
        r.status.open_alerts
    );
    h.push_str("<h2>Endpoints</h2><table id=\"endpoints\"><tr><th>endpoint</th><th>state</th><th>versions</th><th class=\"num\">windows</th><th class=\"num\">requests</th><th class=\"num\">error rate</th><th class=\"num\">mean latency ms</th><th class=\"num\">labelled</th><th>latest dataset drift</th></tr>");
    for e in &r.status.endpoints {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{:.2}%</td><td class=\"num\">{:.2}</td><td class=\"num\">{:.1}%</td><td>{}</td></tr>",
            esc(&e.endpoint),
            esc(e.state.map_or("-", EndpointState::as_str)),
            esc(&e.versions_text()),
            e.windows,
            e.requests,
            e.error_rate * 100.0,
            e.mean_latency_ms,
            e.labelled_share * 100.0,
            match e.latest_dataset_drift {
                Some(true) => format!(
                    "<span class=\"drifted\">drifted ({:.0}% of features)</span>",
                    e.latest_drift_share.unwrap_or(0.0) * 100.0
                ),
                Some(false) => "<span class=\"ok\">no drift</span>".into(),
                None => "-".into(),
            }
        );
    }
    h.push_str("</table>");

    for d in &r.latest {
        let _ = write!(
            h,
            "<h2 class=\"endpoint\" data-endpoint=\"{0}\">{0} · {1}/{2} · window {3}</h2>\
             <p class=\"meta\">{4} records · {5} (share {6:.2}, dataset drift at {7:.2}): {8}</p>",
            esc(&d.endpoint),
            esc(&d.model),
            d.version,
            time(d.window_start),
            d.records,
            esc(&d.drifted_text()),
            d.share,
            d.threshold,
            if d.dataset_drift {
                "<span class=\"drifted\">dataset drift</span>"
            } else {
                "<span class=\"ok\">no dataset drift</span>"
            }
        );
        if let Some(note) = &d.note {
            let _ = write!(h, "<p class=\"meta\">{}</p>", esc(note));
            continue;
        }
        if let Some(w) = &d.withheld {
            let _ = write!(h, "<p class=\"meta\">{}</p>", esc(w));
        }
        if let Some(mv) = &d.multivariate {
            let _ = write!(
                h,
                "<p class=\"meta multivariate\">multivariate: {} · {}</p>",
                esc(&mv.summary()),
                match (mv.drifted, &d.withheld) {
                    (_, Some(_)) => "<span>too few records</span>",
                    (true, None) => "<span class=\"drifted\">multivariate drift</span>",
                    (false, None) => "<span class=\"ok\">no multivariate drift</span>",
                }
            );
        }
        h.push_str("<table class=\"features\"><tr><th>feature</th><th>test</th><th class=\"num\">score</th><th class=\"num\">threshold</th><th class=\"num\">no-drift band</th><th class=\"num\">PSI</th><th class=\"num\">rows</th><th class=\"num\">nulls</th><th>values</th><th>verdict</th></tr>");
        for f in &d.features {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>",
                esc(&f.name),
                f.drift.test.as_str(),
                num(f.drift.score),
                num(f.drift.threshold),
                f.drift.band_text(),
                num(f.drift.psi),
                f.drift.rows,
                f.drift.nulls,
                f.drift.values_text(),
                match (f.has_data(), f.drift.drifted, &d.withheld) {
                    (false, _, _) => "<span class=\"meta\">no data</span>",
                    (true, _, Some(_)) => "<span class=\"meta\">too few records</span>",
                    (true, true, None) => "<span class=\"drifted\">drifted</span>",
                    (true, false, None) => "<span class=\"ok\">ok</span>",
                }
            );
        }
        h.push_str("</table><h3>Baseline vs current</h3>");
        h.push_str(&legend(&[("baseline", BASE), ("current window", CURRENT)]));
        h.push_str("<div class=\"grid\">");
        for f in &d.features {
            let _ = write!(
                h,
                "<div class=\"card\"><h4>{}</h4>{}</div>",
                esc(&f.name),
                histogram_svg(&f.name, &f.histogram)
            );
        }
        h.push_str("</div>");

        // Drift over time of this endpoint's version.
        let points: Vec<&DriftPoint> = r
            .history
            .iter()
            .filter(|p| p.endpoint == d.endpoint && p.model == d.model && p.version == d.version)
            .collect();
        if !points.is_empty() {
            h.push_str("<h3>Drift over time</h3><div class=\"grid\">");
            let xs: Vec<i64> = points.iter().map(|p| p.window_start).collect();
            let share: Vec<Option<f64>> = points.iter().map(|p| Some(p.share)).collect();
            let _ = write!(
                h,
                "<div class=\"card\"><h4>share of drifted features</h4>{}</div>",
                line_svg(
                    "drift-over-time",
                    "dataset",
                    &xs,
                    &[("share", share)],
                    Some(("dataset drift at", d.threshold))
                )
            );
            let mut names: BTreeMap<&str, (String, f64)> = BTreeMap::new();
            for p in &points {
                for (n, f) in &p.features {
                    names.insert(n, (f.test.clone(), f.threshold));
                }
            }
            for (name, (test, threshold)) in names {
                let ys: Vec<Option<f64>> = points
                    .iter()
                    .map(|p| p.features.get(name).map(|f| f.score))
                    .collect();
                let _ = write!(
                    h,
                    "<div class=\"card\"><h4>{} · {}</h4>{}</div>",
                    esc(name),
                    esc(&test),
                    line_svg(
                        "drift-over-time",
                        name,
                        &xs,
                        &[(test.as_str(), ys)],
                        Some(("threshold", threshold))
                    )
                );
            }
            h.push_str("</div>");
        }

        let preds: Vec<&PredictionDrift> = r
            .predictions
            .iter()
            .filter(|p| p.endpoint == d.endpoint && p.model == d.model && p.version == d.version)
            .collect();
        if let Some(last) = preds.last() {
            let xs: Vec<i64> = preds.iter().map(|p| p.window_start).collect();
            let _ = write!(
                h,
                "<h3>Prediction drift</h3><p class=\"meta\">latest window: {} {} (threshold {}) · positive rate {:.3} vs {:.3} on the test set</p>",
                last.drift.test.as_str(),
                num(last.drift.score),
                num(last.drift.threshold),
                last.positive_rate,
                last.baseline_positive_rate
            );
            h.push_str(&legend(&[
                ("positive rate", LINES[0]),
                ("test-set positive rate", "#b42318"),
            ]));
            let _ = write!(
                h,
                "<div class=\"grid\"><div class=\"card\"><h4>positive rate</h4>{}</div><div class=\"card\"><h4>probabilities: test set vs latest window</h4>{}</div></div>",
                line_svg(
                    "prediction-over-time",
                    "positive rate",
                    &xs,
                    &[(
                        "positive rate",
                        preds.iter().map(|p| Some(p.positive_rate)).collect()
                    )],
                    Some(("test set", last.baseline_positive_rate))
                ),
                histogram_svg("probability", &last.histogram)
            );
        }

        let q: Vec<&QualityWindow> = r
            .quality
            .iter()
            .filter(|p| p.endpoint == d.endpoint && p.model == d.model && p.version == d.version)
            .collect();
        if !q.is_empty() {
            let xs: Vec<i64> = q.iter().map(|p| p.window_start).collect();
            h.push_str("<h3>Quality over time</h3>");
            if q.iter().any(|w| w.estimated.is_some()) {
                let _ = write!(h, "<p class=\"meta\">{}</p>", esc(super::cbpe::ASSUMPTION));
            }
            h.push_str(&legend(&[
                ("realised", LINES[0]),
                ("estimated (CBPE)", LINES[1]),
                ("test value", "#b42318"),
            ]));
            h.push_str("<div class=\"grid\">");
            for metric in ["accuracy", "roc_auc"] {
                let realised = q
                    .iter()
                    .map(|w| w.realised.and_then(|m| m.get(metric)))
                    .collect();
                let estimated = q
                    .iter()
                    .map(|w| {
                        w.estimated.map(|e| {
                            if metric == "accuracy" {
                                e.accuracy
                            } else {
                                e.roc_auc
                            }
                        })
                    })
                    .collect();
                let test = q.last().and_then(|w| w.test.get(metric).copied());
                let _ = write!(
                    h,
                    "<div class=\"card\"><h4>{metric}</h4>{}</div>",
                    line_svg(
                        "quality-over-time",
                        metric,
                        &xs,
                        &[("realised", realised), ("estimated", estimated)],
                        test.map(|t| ("test", t))
                    )
                );
            }
            h.push_str("</div><table class=\"quality\"><tr><th>window</th><th class=\"num\">records</th><th class=\"num\">labelled</th><th class=\"num\">accuracy</th><th class=\"num\">est. accuracy</th><th class=\"num\">ROC AUC</th><th class=\"num\">est. ROC AUC</th><th class=\"num\">F1</th></tr>");
            for w in &q {
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                    time(w.window_start),
                    w.records,
                    w.labelled,
                    w.realised.map(|m| num(m.accuracy)).unwrap_or("-".into()),
                    w.estimated.map(|m| num(m.accuracy)).unwrap_or("-".into()),
                    w.realised.map(|m| num(m.roc_auc)).unwrap_or("-".into()),
                    w.estimated.map(|m| num(m.roc_auc)).unwrap_or("-".into()),
                    w.realised.map(|m| num(m.f1)).unwrap_or("-".into()),
                );
            }
            h.push_str("</table>");
        }
    }

    h.push_str("<h2>Alerts</h2>");
    if r.alerts.is_empty() {
        h.push_str("<p class=\"meta\">no alerts</p>");
    } else {
        h.push_str("<table id=\"alerts\"><tr><th>state</th><th>rule</th><th>kind</th><th>endpoint</th><th>subject</th><th>opened</th><th>resolved</th><th>message</th><th>hook</th></tr>");
        for a in &r.alerts {
            let _ = write!(
                h,
                "<tr class=\"alert\"><td class=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                if a.state == "OPEN" { "drifted" } else { "ok" },
                esc(&a.state),
                esc(&a.rule),
                esc(&a.kind),
                esc(&a.endpoint),
                esc(&a.subject),
                time(a.opened_at),
                a.resolved_at.map(time).unwrap_or("-".into()),
                esc(&a.message),
                esc(a.hook_status.as_deref().unwrap_or("-"))
            );
        }
        h.push_str("</table>");
    }
    h.push_str("</body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_escape_their_labels() {
        let s = histogram_svg(
            "<x>",
            &Histogram {
                labels: vec!["a&b".into(), "\"q\"".into()],
                baseline: vec![0.5, 0.5],
                current: vec![0.9, 0.1],
            },
        );
        assert!(s.contains("data-feature=\"&lt;x&gt;\""));
        assert!(s.contains("a&amp;b") && s.contains("&quot;q&quot;"));
        assert_eq!(s.matches("<rect").count(), 4);
        let l = line_svg(
            "drift-over-time",
            "x",
            &[0, 60_000, 120_000],
            &[("psi", vec![Some(0.1), None, Some(0.3)])],
            Some(("threshold", 0.2)),
        );
        assert_eq!(l.matches("<circle").count(), 2);
        assert!(l.contains("class=\"reference\""));
    }

    /// An undefined value (a test ROC AUC on a one-class test set, a window's realised AUC with
    /// labels of one class) is left out of a chart, never drawn at NaN.
    #[test]
    fn undefined_values_are_left_out_of_charts() {
        let l = line_svg(
            "quality-over-time",
            "roc_auc",
            &[0, 60_000, 120_000],
            &[("realised", vec![Some(0.8), Some(f64::NAN), Some(0.7)])],
            Some(("test", f64::NAN)),
        );
        assert_eq!(l.matches("<circle").count(), 2);
        assert!(!l.contains("class=\"reference\""));
        assert!(!l.contains("NaN") && !l.contains("inf"), "{l}");
        assert_eq!(num(f64::NAN), "-");
    }
}
