//! Endpoints: every endpoint in the store's status table (up, stale or down from its heartbeat),
//! with address, served versions and split, request and error rates, latency, and CPU and
//! memory sparklines built from the heartbeats seen since the UI opened. `s` starts a local
//! endpoint (in this process, on 127.0.0.1 and a free port) for the model with a Production
//! version, `S` stops it, `+`/`-` change its challenger share. The serve core reads the share
//! when it starts, so a new share restarts the local endpoint.

use std::collections::{HashMap, VecDeque};

use cerebro::serve::status::{EndpointState, EndpointStatus};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Row, Sparkline};

use crate::tui::action::Action;
use crate::tui::app::State;
use crate::tui::effects::Effect;
use crate::tui::widgets::table::{self, Cursor};

/// The name of the endpoint this UI starts.
pub const LOCAL_ENDPOINT: &str = "local";

/// Heartbeats kept per endpoint for the sparklines (one a second: the last 5 minutes).
pub const KEEP_SAMPLES: usize = 300;

/// How much `+`/`-` change the challenger share.
pub const SHARE_STEP: f64 = 0.1;

/// One heartbeat as the sparklines use it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub at: i64,
    pub cpu_percent: f64,
    pub rss_mib: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Starting,
    Up,
    Stopping,
}

/// The endpoint this UI runs. `generation` tags the start request so that the reply of an
/// endpoint that was replaced (a share change restarts it) is dropped.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalEndpoint {
    pub generation: u64,
    pub model: String,
    pub share: f64,
    pub phase: Phase,
    pub address: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct EndpointsState {
    pub endpoints: Vec<EndpointStatus>,
    /// Heartbeats seen per endpoint, oldest first.
    pub history: HashMap<String, VecDeque<Sample>>,
    pub cursor: Cursor,
    pub local: Option<LocalEndpoint>,
    /// Challenger share the local endpoint starts with (from `serving.challenger_share`).
    pub share: f64,
    pub generation: u64,
    pub loaded: bool,
}

impl EndpointsState {
    pub fn rows(&self) -> Vec<usize> {
        self.endpoints
            .iter()
            .enumerate()
            .filter(|(_, e)| {
                self.cursor
                    .matches(&[&e.name, &e.model, e.state.as_str(), &e.address])
            })
            .map(|(i, _)| i)
            .collect()
    }

    pub fn selected(&self) -> Option<&EndpointStatus> {
        self.rows()
            .get(self.cursor.selected)
            .map(|&i| &self.endpoints[i])
    }

    /// Whether the local endpoint is starting, up or stopping.
    pub fn local_running(&self) -> bool {
        self.local.is_some()
    }
}

/// Requests per second over the last minute.
pub fn request_rate(e: &EndpointStatus) -> f64 {
    e.stats.requests_last_minute as f64 / 60.0
}

/// Share of requests answered with an error, since the endpoint started.
pub fn error_rate(e: &EndpointStatus) -> Option<f64> {
    (e.stats.requests > 0).then(|| e.stats.errors as f64 / e.stats.requests as f64)
}

/// `v3 90% · v4 10%`.
pub fn split(e: &EndpointStatus) -> String {
    if e.served.is_empty() {
        return "-".into();
    }
    e.served
        .iter()
        .map(|a| format!("v{} {:.0}%", a.version, a.share * 100.0))
        .collect::<Vec<_>>()
        .join(" · ")
}

fn ms(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.1}"))
}

/// The store's endpoints were read: keep them and record new heartbeats for the sparklines.
pub fn on_endpoints(state: &mut State, endpoints: Vec<EndpointStatus>) {
    let s = &mut state.endpoints;
    for e in &endpoints {
        if e.state != EndpointState::Up {
            continue;
        }
        let history = s.history.entry(e.name.clone()).or_default();
        if history.back().is_some_and(|h| h.at == e.last_heartbeat) {
            continue;
        }
        history.push_back(Sample {
            at: e.last_heartbeat,
            cpu_percent: e.stats.cpu_percent.unwrap_or(0.0),
            rss_mib: e.stats.rss_bytes.unwrap_or(0) as f64 / (1024.0 * 1024.0),
        });
        while history.len() > KEEP_SAMPLES {
            history.pop_front();
        }
    }
    s.endpoints = endpoints;
    s.loaded = true;
    let len = s.rows().len();
    s.cursor.clamp(len, 1);
}

/// The model the local endpoint serves: the first registered model with a Production version.
fn production_model(state: &State) -> Option<String> {
    state
        .registry
        .models
        .iter()
        .find(|m| m.production.is_some())
        .map(|m| m.name.clone())
}

/// Asks the runtime to (re)start the local endpoint for `model` with `share`.
pub fn start(state: &mut State, model: String, share: f64) -> Vec<Effect> {
    state.endpoints.generation += 1;
    let generation = state.endpoints.generation;
    state.endpoints.local = Some(LocalEndpoint {
        generation,
        model: model.clone(),
        share,
        phase: Phase::Starting,
        address: None,
    });
    vec![Effect::StartEndpoint {
        generation,
        model,
        share,
    }]
}

pub fn on_key(state: &mut State, action: &Action) -> Vec<Effect> {
    let len = state.endpoints.rows().len();
    let page = state.page();
    if state.endpoints.cursor.apply(action, len, page) {
        return Vec::new();
    }
    match action {
        Action::StartEndpoint => {
            if let Some(l) = &state.endpoints.local {
                let msg = match &l.address {
                    Some(a) => format!("the local endpoint is already running at http://{a}"),
                    None => "the local endpoint is already starting".into(),
                };
                state.info(msg);
                return Vec::new();
            }
            let Some(model) = production_model(state) else {
                state.error(
                    "no model has a Production version: promote one on the Registry tab (p) first",
                );
                return Vec::new();
            };
            let share = state.endpoints.share;
            state.info(format!(
                "starting the local endpoint for {model} (challenger share {:.0}%)…",
                share * 100.0
            ));
            start(state, model, share)
        }
        Action::StopEndpoint => match &mut state.endpoints.local {
            Some(l) if l.phase != Phase::Stopping => {
                l.phase = Phase::Stopping;
                state.info("stopping the local endpoint…");
                vec![Effect::StopEndpoint]
            }
            Some(_) => Vec::new(),
            None => {
                state.error("no local endpoint is running (s starts one)");
                Vec::new()
            }
        },
        Action::ShareUp | Action::ShareDown => {
            let delta = if matches!(action, Action::ShareUp) {
                SHARE_STEP
            } else {
                -SHARE_STEP
            };
            let share = ((state.endpoints.share + delta) * 10.0).round() / 10.0;
            let share = share.clamp(0.0, 1.0);
            state.endpoints.share = share;
            let pct = share * 100.0;
            match state.endpoints.local.clone() {
                Some(l) if l.phase != Phase::Stopping => {
                    state.info(format!(
                        "challenger share {pct:.0}%: restarting the local endpoint (the share is read at start)"
                    ));
                    start(state, l.model, share)
                }
                _ => {
                    state.info(format!(
                        "challenger share {pct:.0}% for the next local endpoint (s starts it)"
                    ));
                    Vec::new()
                }
            }
        }
        _ => Vec::new(),
    }
}

/// The runtime bound the local endpoint.
pub fn on_started(state: &mut State, generation: u64, address: String) {
    if let Some(l) = &mut state.endpoints.local
        && l.generation == generation
    {
        l.phase = Phase::Up;
        let msg = format!(
            "local endpoint serving {} at http://{address} (challenger share {:.0}%)",
            l.model,
            l.share * 100.0
        );
        l.address = Some(address);
        state.info(msg);
    }
}

/// The local endpoint stopped (asked to, replaced, or failed).
pub fn on_stopped(state: &mut State, generation: u64, result: Result<String, String>) {
    let current = state
        .endpoints
        .local
        .as_ref()
        .is_some_and(|l| l.generation == generation);
    if !current {
        return;
    }
    state.endpoints.local = None;
    match result {
        Ok(m) => state.info(m),
        Err(e) => state.error(format!("local endpoint: {e}")),
    }
}

fn state_style(state: EndpointState) -> &'static str {
    match state {
        EndpointState::Up => "finished",
        EndpointState::Stale => "running",
        EndpointState::Down => "failed",
    }
}

/// A coloured `●`-less light: the state word in its colour (readable without colour too).
pub fn light(state: &State, endpoint_state: EndpointState) -> Span<'static> {
    Span::styled(
        endpoint_state.as_str(),
        state.theme.get(state_style(endpoint_state)),
    )
}

pub fn render(frame: &mut Frame, area: Rect, state: &State) {
    let theme = &state.theme;
    let s = &state.endpoints;
    let [list_area, detail_area] =
        Layout::vertical([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(area);
    let rows: Vec<Row> = s
        .rows()
        .into_iter()
        .map(|i| {
            let e = &s.endpoints[i];
            let name = if e.name == LOCAL_ENDPOINT && s.local.is_some() {
                format!("{} *", e.name)
            } else {
                e.name.clone()
            };
            Row::new(vec![
                Line::from(name),
                Line::from(light(state, e.state)),
                Line::from(e.address.clone()),
                Line::from(split(e)),
                Line::from(format!("{:.1}", request_rate(e))),
                Line::from(error_rate(e).map_or("-".into(), |r| format!("{:.1}%", r * 100.0))),
                Line::from(ms(e.stats.p50_ms)),
                Line::from(ms(e.stats.p99_ms)),
            ])
        })
        .collect();
    let title = format!("Endpoints ({})", s.endpoints.len());
    table::draw(
        frame,
        list_area,
        theme,
        title,
        Row::new(vec![
            "endpoint", "state", "address", "serving", "req/s", "errors", "p50 ms", "p99 ms",
        ]),
        rows,
        &[
            Constraint::Length(8),
            Constraint::Length(5),
            Constraint::Length(15),
            Constraint::Min(15),
            Constraint::Length(6),
            Constraint::Length(6),
            Constraint::Length(6),
            Constraint::Length(6),
        ],
        &s.cursor,
        true,
    );

    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.get("border"))
        .title(match s.selected() {
            Some(e) => format!("{} · {}", e.name, e.model),
            None => "Endpoint".into(),
        });
    let inner = block.inner(detail_area);
    frame.render_widget(block, detail_area);
    let local_line = match &s.local {
        None => Line::from(vec![
            Span::styled("local endpoint off", theme.get("dim")),
            Span::styled(
                format!(
                    " · s serves the Production model here, challenger {:.0}% (+/-)",
                    s.share * 100.0
                ),
                theme.get("dim"),
            ),
        ]),
        Some(l) => Line::from(vec![
            Span::styled(
                format!(
                    "local endpoint {}",
                    match l.phase {
                        Phase::Starting => "starting",
                        Phase::Up => "up",
                        Phase::Stopping => "stopping",
                    }
                ),
                theme.get("running"),
            ),
            Span::raw(format!(
                "{} · challenger {:.0}% (+/-) · S stops",
                l.address
                    .as_ref()
                    .map(|a| format!(" at http://{a}"))
                    .unwrap_or_default(),
                l.share * 100.0
            )),
        ]),
    };
    let Some(e) = s.selected() else {
        let mut lines = vec![local_line, Line::from("")];
        lines.push(Line::from(if s.loaded {
            "No endpoints yet. Press s to serve the Production model here, or run `cerebro serve`."
        } else {
            "Reading endpoint status…"
        }));
        frame.render_widget(
            Paragraph::new(lines).wrap(ratatui::widgets::Wrap { trim: false }),
            inner,
        );
        return;
    };
    let [info_area, cpu_area, mem_area] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Min(2),
        Constraint::Min(2),
    ])
    .areas(inner);
    let mut info = vec![
        local_line,
        Line::from(format!(
            "{} requests, {} errors, {} records · heartbeat {:.1}s ago · pid {} on {}",
            e.stats.requests,
            e.stats.errors,
            e.stats.records,
            e.heartbeat_age_ms as f64 / 1000.0,
            e.pid,
            e.host
        )),
    ];
    if let Some(note) = &e.stats.note {
        info.push(Line::from(Span::styled(note.clone(), theme.get("dim"))));
    }
    frame.render_widget(Paragraph::new(info), info_area);
    let history = s.history.get(&e.name);
    let cpu: Vec<u64> = spark(history, |h| h.cpu_percent);
    let mem: Vec<u64> = spark(history, |h| h.rss_mib);
    let cpu_now = history
        .and_then(|h| h.back())
        .map_or("-".into(), |h| format!("{:.0}%", h.cpu_percent));
    let mem_now = history
        .and_then(|h| h.back())
        .map_or("-".into(), |h| format!("{:.0} MiB", h.rss_mib));
    let n = history.map_or(0, VecDeque::len);
    sparkline(
        frame,
        cpu_area,
        state,
        format!("CPU {cpu_now} (last {n} heartbeats)"),
        &cpu,
    );
    sparkline(frame, mem_area, state, format!("memory {mem_now}"), &mem);
}

fn spark(history: Option<&VecDeque<Sample>>, value: impl Fn(&Sample) -> f64) -> Vec<u64> {
    history
        .map(|h| h.iter().map(|s| value(s).max(0.0).round() as u64).collect())
        .unwrap_or_default()
}

fn sparkline(frame: &mut Frame, area: Rect, state: &State, title: String, data: &[u64]) {
    // The newest samples that fit, right-aligned.
    let width = usize::from(area.width);
    let data = &data[data.len().saturating_sub(width)..];
    frame.render_widget(
        Sparkline::default()
            .block(
                Block::default()
                    .borders(Borders::TOP)
                    .border_style(state.theme.get("border"))
                    .title(title),
            )
            .style(state.theme.get("gauge"))
            .data(data),
        area,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::app::Tab;
    use crate::tui::fixtures::{endpoint, loaded, state};
    use crate::tui::update::update;

    fn on_tab(mut s: State) -> State {
        update(&mut s, Action::TabEndpoints);
        assert_eq!(s.tab, Tab::Endpoints);
        s
    }

    #[test]
    fn start_needs_a_production_model() {
        let mut s = on_tab(state());
        assert!(update(&mut s, Action::StartEndpoint).is_empty());
        assert!(s.status.as_ref().unwrap().error);
        assert!(s.endpoints.local.is_none());
        assert!(update(&mut s, Action::StopEndpoint).is_empty());
        assert!(
            s.status
                .as_ref()
                .unwrap()
                .text
                .contains("no local endpoint")
        );
    }

    #[test]
    fn start_share_changes_restart_and_stale_replies_are_dropped() {
        let mut s = on_tab(loaded());
        let e = update(&mut s, Action::StartEndpoint);
        assert!(matches!(
            e.as_slice(),
            [Effect::StartEndpoint { generation: 1, model, share }] if model == "characters" && *share == 0.0
        ));
        assert_eq!(s.endpoints.local.as_ref().unwrap().phase, Phase::Starting);
        update(
            &mut s,
            Action::EndpointStarted {
                generation: 1,
                address: "127.0.0.1:5555".into(),
            },
        );
        let l = s.endpoints.local.clone().unwrap();
        assert_eq!(l.phase, Phase::Up);
        assert_eq!(l.address.as_deref(), Some("127.0.0.1:5555"));
        assert!(
            update(&mut s, Action::StartEndpoint).is_empty(),
            "already up"
        );

        // + restarts with the new share; the old endpoint's stop report is dropped.
        let e = update(&mut s, Action::ShareUp);
        assert!(matches!(
            e.as_slice(),
            [Effect::StartEndpoint { generation: 2, share, .. }] if (*share - 0.1).abs() < 1e-9
        ));
        assert!(s.status.as_ref().unwrap().text.contains("restarting"));
        update(
            &mut s,
            Action::EndpointStopped {
                generation: 1,
                result: Ok("stopped".into()),
            },
        );
        assert_eq!(s.endpoints.local.as_ref().unwrap().generation, 2);
        update(
            &mut s,
            Action::EndpointStarted {
                generation: 2,
                address: "127.0.0.1:5556".into(),
            },
        );
        assert_eq!(s.endpoints.local.as_ref().unwrap().phase, Phase::Up);

        let e = update(&mut s, Action::StopEndpoint);
        assert!(matches!(e.as_slice(), [Effect::StopEndpoint]));
        assert_eq!(s.endpoints.local.as_ref().unwrap().phase, Phase::Stopping);
        update(
            &mut s,
            Action::EndpointStopped {
                generation: 2,
                result: Ok("local endpoint stopped".into()),
            },
        );
        assert!(s.endpoints.local.is_none());
    }

    #[test]
    fn the_command_line_serves_and_unserves() {
        let mut s = loaded();
        let e = crate::tui::update::run_command(&mut s, "serve");
        assert_eq!(s.tab, Tab::Endpoints);
        assert!(matches!(e.as_slice(), [Effect::StartEndpoint { .. }]));
        let e = crate::tui::update::run_command(&mut s, "unserve");
        assert!(matches!(e.as_slice(), [Effect::StopEndpoint]));
    }

    #[test]
    fn share_stays_between_0_and_1_and_waits_for_the_next_start() {
        let mut s = on_tab(loaded());
        for _ in 0..3 {
            assert!(update(&mut s, Action::ShareDown).is_empty());
        }
        assert_eq!(s.endpoints.share, 0.0);
        for _ in 0..15 {
            update(&mut s, Action::ShareUp);
        }
        assert_eq!(s.endpoints.share, 1.0);
        let e = update(&mut s, Action::StartEndpoint);
        assert!(matches!(e.as_slice(), [Effect::StartEndpoint { share, .. }] if *share == 1.0));
    }

    #[test]
    fn every_tick_reads_endpoints_and_new_heartbeats_feed_the_sparklines() {
        let mut s = state();
        let e = update(&mut s, Action::Tick);
        assert!(matches!(e.as_slice(), [Effect::LoadEndpoints]));
        update(
            &mut s,
            Action::EndpointsLoaded(vec![endpoint("a", "up", 1000)]),
        );
        update(
            &mut s,
            Action::EndpointsLoaded(vec![endpoint("a", "up", 1000)]),
        );
        update(
            &mut s,
            Action::EndpointsLoaded(vec![endpoint("a", "up", 2000)]),
        );
        update(
            &mut s,
            Action::EndpointsLoaded(vec![endpoint("a", "down", 3000)]),
        );
        let h = &s.endpoints.history["a"];
        assert_eq!(h.len(), 2, "one sample per heartbeat, none once down");
        assert_eq!(h[0].rss_mib, 48.0);
        for i in 0..(KEEP_SAMPLES as i64 + 10) {
            on_endpoints(&mut s, vec![endpoint("a", "up", 10_000 + i)]);
        }
        assert_eq!(s.endpoints.history["a"].len(), KEEP_SAMPLES);
        // An idle session with no endpoints is not redrawn on every read.
        let mut s = state();
        update(&mut s, Action::EndpointsLoaded(Vec::new()));
        s.dirty = false;
        update(&mut s, Action::EndpointsLoaded(Vec::new()));
        assert!(!s.dirty);
    }

    #[test]
    fn header_lights_put_up_endpoints_first_and_keep_a_few() {
        let mut s = state();
        update(
            &mut s,
            Action::EndpointsLoaded(vec![
                endpoint("a", "down", 1),
                endpoint("b", "stale", 1),
                endpoint("c", "down", 1),
                endpoint("d", "up", 1),
                endpoint("e", "down", 1),
            ]),
        );
        let lights: Vec<String> = s
            .endpoint_lights("characters")
            .into_iter()
            .map(|(n, st)| format!("{n} {st}"))
            .collect();
        assert_eq!(lights, ["d up", "b stale", "a down"]);
        assert!(s.endpoint_lights("other").is_empty());
    }

    #[test]
    fn rates_and_split() {
        let e = endpoint("a", "up", 1);
        assert_eq!(request_rate(&e), 2.0);
        assert_eq!(error_rate(&e), Some(0.025));
        assert_eq!(split(&e), "v1 90% · v2 10%");
    }
}
