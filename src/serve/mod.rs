//! The serving endpoint: an HTTP server (axum on tokio) that answers MLflow scoring-server and
//! Databricks serving-endpoint requests with the registry's Production model, optionally split
//! with the Staging challenger, hot-reloads new versions, writes every request to the inference
//! log and reports its status to the store.
//!
//! [`run`] takes a bound listener and a shutdown future (so tests bind `127.0.0.1:0` and stop it
//! cleanly, and the TUI can host it later). Routes:
//!
//! - `POST /invocations`, `POST /serving-endpoints/{name}/invocations`: predictions. Bodies are
//!   described in [`payload`]; the answer is `{"predictions": [0 or 1, ...]}` (the class, as an
//!   sklearn pyfunc returns it), plus `"probabilities": [p(positive), ...]` when asked with
//!   `?probabilities=true` or `"params": {"probabilities": true}`; with
//!   `"params": {"predict_method": "predict_proba"}` predictions are `[p(0), p(1)]` pairs.
//!   Headers `x-request-id` (this endpoint's id of the request) and `x-cerebro-model-version`
//!   (the version(s) that answered, e.g. `3` or `3,4`).
//! - `GET /ping`, `GET /health`: 200 when a model is loaded, 503 before.
//! - `GET /version`: JSON with the cerebro version and the versions served.
//! - `GET /metrics`: Prometheus text ([`metrics`]).
//!
//! Errors are `{"error_code": ..., "message": ...}` as MLflow writes them: 400
//! `MALFORMED_REQUEST` (bad JSON or CSV, naming line and column), 400 `BAD_REQUEST` (signature
//! mismatch), 400 `INVALID_PARAMETER_VALUE` (too many records), 401 `UNAUTHENTICATED`, 404
//! `ENDPOINT_NOT_FOUND`, 413 `REQUEST_LIMIT_EXCEEDED`, 415 `UNSUPPORTED_MEDIA_TYPE`, 503
//! `TEMPORARILY_UNAVAILABLE` (no model), 500 `INTERNAL_ERROR` (a panic while predicting, caught
//! per request).
//!
//! When a bearer token is configured, every route but `/ping` and `/health` requires
//! `Authorization: Bearer <token>`, compared in constant time.

pub mod log;
pub mod metrics;
pub mod payload;
pub mod router;
pub mod status;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use crate::config::ServingConfig;
use crate::error::{Error, Result};
use crate::registry::{ModelUri, RegistryStore};
use crate::store::SqliteStore;
use crate::train::Model;
use log::{LogEntry, LogPolicy, LogSender, LogStats, LogWriter, LoggedInputs};
use metrics::Metrics;
use payload::{InputSchema, Parsed};
use router::{Arm, ArmRole, Served};
use status::{EndpointStats, ServedArm, StatusTable};

/// The environment variable holding the bearer token (it overrides `serving.token`).
pub const TOKEN_ENV: &str = "CEREBRO_SERVING_TOKEN";

/// Requests with more records than this are predicted on the blocking pool, not the I/O task.
const INLINE_ROWS: usize = 32;

/// How often the endpoint heartbeats.
const HEARTBEAT: Duration = Duration::from_secs(1);

/// What an endpoint serves and where it keeps things.
#[derive(Debug, Clone)]
pub struct EndpointOptions {
    /// Endpoint name (URLs, log folder, status row).
    pub endpoint: String,
    /// The registered model served.
    pub model: String,
    /// The workspace's store folder.
    pub store_root: PathBuf,
    /// This endpoint's inference log folder.
    pub log_dir: PathBuf,
    pub serving: ServingConfig,
    /// Bearer token required by the API, if any.
    pub token: Option<String>,
}

/// What an endpoint did, returned when it stops.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub requests: u64,
    pub errors: u64,
    pub log: LogStats,
}

/// Refuses to listen beyond this machine without a token.
pub fn check_bind(addrs: &[SocketAddr], token: Option<&str>) -> Result<()> {
    let open: Vec<String> = addrs
        .iter()
        .filter(|a| !a.ip().is_loopback())
        .map(|a| a.to_string())
        .collect();
    if !open.is_empty() && token.is_none() {
        return Err(Error::invalid(format!(
            "refusing to listen on {} (reachable from other machines) without a bearer token: set `serving.token` or {TOKEN_ENV}, or bind 127.0.0.1",
            open.join(", ")
        )));
    }
    Ok(())
}

/// Serves until `shutdown` completes, then drains in-flight requests, flushes the inference
/// log and marks the endpoint stopped.
pub async fn run<F>(listener: TcpListener, opts: EndpointOptions, shutdown: F) -> Result<Summary>
where
    F: Future<Output = ()> + Send + 'static,
{
    let address = listener
        .local_addr()
        .map_err(|e| Error::io("listener", e))?;
    let (writer, log_tx) = LogWriter::start(
        &opts.log_dir,
        LogPolicy {
            flush: Duration::from_millis(opts.serving.log_flush_ms),
            rotate_bytes: opts.serving.log_rotate_bytes,
            rotate_age: Duration::from_secs(opts.serving.log_rotate_seconds),
        },
    )?;
    let app = Arc::new(App {
        endpoint: opts.endpoint.as_str().into(),
        model: opts.model.as_str().into(),
        served: ArcSwap::from_pointee(Served::empty(&opts.model)),
        metrics: Metrics::default(),
        log: log_tx,
        max_rows: opts.serving.max_rows,
        max_body: opts.serving.max_body_bytes,
        body_timeout: Duration::from_millis(opts.serving.body_timeout_ms),
        token: opts.token.as_deref().map(token_digest),
    });

    // Load the current versions and register before accepting anything.
    let control = {
        let app = app.clone();
        let opts = opts.clone();
        let address = address.to_string();
        tokio::task::spawn_blocking(move || -> Result<Control> {
            let mut c = Control::open(app, &opts)?;
            c.status.register(&opts.endpoint, &address, &opts.model)?;
            c.poll();
            c.heartbeat();
            Ok(c)
        })
        .await
        .map_err(|e| Error::invalid(format!("endpoint start-up failed: {e}")))??
    };
    let poll = Duration::from_millis(opts.serving.reload_poll_ms);
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let control = std::thread::Builder::new()
        .name("endpoint-control".into())
        .spawn(move || control.run(poll, stop_rx))
        .map_err(|e| Error::io("endpoint control thread", e))?;

    tracing::info!(endpoint = %opts.endpoint, %address, model = %opts.model, "endpoint started");
    let listener = CountingListener {
        inner: listener,
        app: app.clone(),
    };
    let served = axum::serve(listener, routes(app.clone()))
        .with_graceful_shutdown(shutdown)
        .await;

    let _ = stop_tx.send(());
    let control_result = control.join();
    let summary_counts = (
        app.metrics.requests_total.load(Relaxed),
        app.metrics.errors_total.load(Relaxed),
    );
    // Every request has finished: dropping the last senders lets the writer drain and stop.
    drop(app);
    let log = writer.finish();
    tracing::info!(endpoint = %opts.endpoint, lines = log.lines, "endpoint stopped, inference log flushed");
    served.map_err(|e| Error::io("serving", e))?;
    if control_result.is_err() {
        return Err(Error::invalid("the endpoint's control thread panicked"));
    }
    Ok(Summary {
        requests: summary_counts.0,
        errors: summary_counts.1,
        log,
    })
}

fn routes(app: Arc<App>) -> Router {
    Router::new()
        .route("/invocations", post(invocations))
        .route(
            "/serving-endpoints/{name}/invocations",
            post(named_invocations),
        )
        .route("/ping", get(ping))
        .route("/health", get(health))
        .route("/version", get(version))
        .route("/metrics", get(prometheus))
        .fallback(not_found)
        .with_state(app)
}

/// State shared by every request.
struct App {
    endpoint: Arc<str>,
    model: Arc<str>,
    served: ArcSwap<Served>,
    metrics: Metrics,
    log: LogSender,
    max_rows: usize,
    max_body: usize,
    body_timeout: Duration,
    /// SHA-256 of the bearer token.
    token: Option<[u8; 32]>,
}

fn token_digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl App {
    /// Constant-time check of the `Authorization: Bearer` header (digests have equal length, so
    /// the comparison time does not depend on the token).
    fn authorized(&self, headers: &HeaderMap) -> bool {
        let Some(expected) = &self.token else {
            return true;
        };
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        let digest = token_digest(given);
        digest
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

/// An error answer.
#[derive(Debug)]
struct ApiError {
    status: u16,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: u16, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    fn unauthorized() -> ApiError {
        ApiError::new(
            401,
            "UNAUTHENTICATED",
            "missing or wrong bearer token (send `Authorization: Bearer <token>`)",
        )
    }

    fn response(&self) -> Response {
        #[derive(Serialize)]
        struct Body<'a> {
            error_code: &'a str,
            message: &'a str,
        }
        let body = serde_json::to_vec(&Body {
            error_code: self.code,
            message: &self.message,
        })
        .unwrap_or_default();
        let mut r = (
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body,
        )
            .into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if self.status == 401 {
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        r
    }
}

impl From<payload::PayloadError> for ApiError {
    fn from(e: payload::PayloadError) -> Self {
        let (status, code) = e.status_and_code();
        ApiError::new(status, code, e.to_string())
    }
}

/// The records one arm predicted.
struct Group {
    arm: Arc<Arm>,
    rows: Option<Vec<usize>>,
    probabilities: Vec<f64>,
    predictions: Vec<u8>,
    unseen: usize,
}

/// A successful prediction.
struct Predicted {
    parsed: Arc<Parsed>,
    groups: Vec<Group>,
    /// Per record, in request order.
    probabilities: Vec<f64>,
    predictions: Vec<u8>,
}

impl Predicted {
    fn versions(&self) -> String {
        let mut v: Vec<String> = self
            .groups
            .iter()
            .map(|g| g.arm.version.to_string())
            .collect();
        v.dedup();
        v.join(",")
    }
}

/// Parses, routes and predicts. Pure CPU work; may run on the blocking pool.
fn predict(
    served: &Served,
    content_type: Option<&str>,
    body: &[u8],
    max_rows: usize,
    client_id: Option<&str>,
) -> std::result::Result<Predicted, ApiError> {
    let champion = served.champion.as_ref().ok_or_else(no_model)?;
    let parsed = payload::parse(content_type, body, &champion.schema, max_rows)?;
    let rows = parsed.rows();
    let client_id = parsed.client_request_id.as_deref().or(client_id);
    let mut groups = Vec::with_capacity(2);
    if served.challenger.is_none() {
        groups.push((champion.clone(), None));
    } else {
        let (mut champ, mut chall) = (Vec::new(), Vec::new());
        for r in 0..rows {
            let key = parsed.ids[r].as_deref().or(client_id);
            match served.route(key) {
                ArmRole::Champion => champ.push(r),
                ArmRole::Challenger => chall.push(r),
            }
        }
        for (role, index) in [(ArmRole::Champion, champ), (ArmRole::Challenger, chall)] {
            if index.is_empty() {
                continue;
            }
            let arm = served.arm(role).cloned().ok_or_else(no_model)?;
            let rows = (index.len() < rows).then_some(index);
            groups.push((arm, rows));
        }
    }
    let mut probabilities = vec![0.0; rows];
    let mut predictions = vec![0u8; rows];
    let mut out = Vec::with_capacity(groups.len());
    for (arm, index) in groups {
        let (p, unseen) = match &index {
            None => arm.model.predict_proba(&parsed.table),
            Some(ix) => arm.model.predict_proba(&parsed.select(ix)),
        };
        let labels: Vec<u8> = p
            .iter()
            .map(|&x| u8::from(x >= arm.model.threshold))
            .collect();
        match &index {
            None => {
                probabilities.copy_from_slice(&p);
                predictions.copy_from_slice(&labels);
            }
            Some(ix) => {
                for (k, &r) in ix.iter().enumerate() {
                    probabilities[r] = p[k];
                    predictions[r] = labels[k];
                }
            }
        }
        out.push(Group {
            arm,
            rows: index,
            probabilities: p,
            predictions: labels,
            unseen,
        });
    }
    Ok(Predicted {
        parsed: Arc::new(parsed),
        groups: out,
        probabilities,
        predictions,
    })
}

fn no_model() -> ApiError {
    ApiError::new(
        503,
        "TEMPORARILY_UNAVAILABLE",
        "no model is loaded yet: the registered model has no Production version",
    )
}

fn wants_probabilities(query: Option<&str>) -> bool {
    query.is_some_and(|q| {
        q.split('&').any(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            k == "probabilities" && matches!(v, "" | "true" | "1" | "yes")
        })
    })
}

/// A fresh request id: 128 random bits in hex.
fn request_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

async fn invocations(State(app): State<Arc<App>>, req: Request) -> Response {
    invoke(app, req).await
}

async fn named_invocations(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    req: Request,
) -> Response {
    if name != *app.endpoint {
        return ApiError::new(
            404,
            "ENDPOINT_NOT_FOUND",
            format!(
                "no serving endpoint `{name}` here (this one is `{}`)",
                app.endpoint
            ),
        )
        .response();
    }
    invoke(app, req).await
}

/// Decrements the in-flight gauge when a request ends, however it ends.
struct InFlight<'a>(&'a Metrics);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Relaxed);
    }
}

async fn invoke(app: Arc<App>, req: Request) -> Response {
    let start = Instant::now();
    app.metrics.in_flight.fetch_add(1, Relaxed);
    let _guard = InFlight(&app.metrics);
    let request_id: Arc<str> = request_id().into();
    let (parts, body) = req.into_parts();
    let header_client_id: Option<String> = parts
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(200).collect());
    let outcome = invoke_inner(&app, &parts, body, header_client_id.as_deref()).await;
    let timestamp_ms = crate::store::now_ms();
    let client_request_id: Option<Arc<str>> = match &outcome {
        Ok((p, _)) => p
            .parsed
            .client_request_id
            .as_deref()
            .or(header_client_id.as_deref()),
        Err(_) => header_client_id.as_deref(),
    }
    .map(Into::into);
    let mut response = match &outcome {
        Ok((p, proba)) => {
            let mut body = Vec::with_capacity(32 + p.predictions.len() * 24);
            write_predictions(&mut body, p, *proba);
            let mut r = (StatusCode::OK, body).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            if let Ok(v) = HeaderValue::from_str(&p.versions()) {
                r.headers_mut().insert("x-cerebro-model-version", v);
            }
            r
        }
        Err(e) => e.response(),
    };
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", v);
    }
    let latency_us = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
    let entry = |status: u16| LogEntry {
        request_id: request_id.clone(),
        client_request_id: client_request_id.clone(),
        timestamp_ms,
        endpoint: app.endpoint.clone(),
        model: app.model.clone(),
        status,
        latency_us,
        inputs: None,
        predictions: Vec::new(),
        probabilities: Vec::new(),
        unseen: 0,
        error: None,
    };
    match outcome {
        Ok((p, _)) => {
            app.metrics.observe(200, &p.versions(), latency_us);
            app.metrics
                .records_total
                .fetch_add(p.parsed.rows() as u64, Relaxed);
            for g in p.groups {
                app.metrics.unseen_total.fetch_add(g.unseen as u64, Relaxed);
                let mut e = entry(200);
                e.inputs = Some(LoggedInputs {
                    parsed: p.parsed.clone(),
                    arm: g.arm,
                    rows: g.rows,
                });
                e.predictions = g.predictions;
                e.probabilities = g.probabilities;
                e.unseen = g.unseen;
                let _ = app.log.send(e);
            }
        }
        Err(err) => {
            app.metrics.observe(err.status, "none", latency_us);
            let mut e = entry(err.status);
            e.error = Some(format!("{}: {}", err.code, err.message));
            let _ = app.log.send(e);
        }
    }
    response
}

/// `{"predictions": [...]}` (and `probabilities`), written by hand: this is the hot path.
fn write_predictions(out: &mut Vec<u8>, p: &Predicted, probabilities: bool) {
    use std::io::Write as _;
    out.extend_from_slice(b"{\"predictions\":[");
    for (i, (&label, &prob)) in p.predictions.iter().zip(&p.probabilities).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if p.parsed.options.predict_proba {
            let _ = write!(out, "[{},{}]", json_f64(1.0 - prob), json_f64(prob));
        } else {
            out.push(b'0' + label);
        }
    }
    out.push(b']');
    if probabilities || p.parsed.options.probabilities {
        out.extend_from_slice(b",\"probabilities\":[");
        for (i, &prob) in p.probabilities.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let _ = write!(out, "{}", json_f64(prob));
        }
        out.push(b']');
    }
    out.push(b'}');
}

/// A finite float as JSON (probabilities always are; anything else becomes null).
fn json_f64(x: f64) -> String {
    if x.is_finite() {
        format!("{x}")
    } else {
        "null".into()
    }
}

async fn invoke_inner(
    app: &Arc<App>,
    parts: &axum::http::request::Parts,
    body: Body,
    client_id: Option<&str>,
) -> std::result::Result<(Predicted, bool), ApiError> {
    if !app.authorized(&parts.headers) {
        return Err(ApiError::unauthorized());
    }
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    payload::body_kind(content_type.as_deref())?;
    let too_large = || {
        ApiError::new(
            413,
            "REQUEST_LIMIT_EXCEEDED",
            format!(
                "the body is larger than the limit of {} bytes (serving.max_body_bytes)",
                app.max_body
            ),
        )
    };
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > app.max_body as u64) {
        return Err(too_large());
    }
    let bytes = tokio::time::timeout(app.body_timeout, axum::body::to_bytes(body, app.max_body))
        .await
        .map_err(|_| {
            ApiError::new(
                408,
                "REQUEST_TIMEOUT",
                format!(
                    "the body did not arrive within {} ms (serving.body_timeout_ms)",
                    app.body_timeout.as_millis()
                ),
            )
        })?
        .map_err(|e| {
            if e.to_string().contains("length limit") {
                too_large()
            } else {
                ApiError::new(
                    400,
                    "MALFORMED_REQUEST",
                    format!("could not read the body: {e}"),
                )
            }
        })?;
    let served = app.served.load_full();
    if served.champion.is_none() {
        return Err(no_model());
    }
    let proba = wants_probabilities(parts.uri.query());
    let max_rows = app.max_rows;
    let client_id = client_id.map(str::to_string);
    // A cheap guess of the record count (rows are at least a few bytes each) decides where to
    // predict: small requests inline, large ones on the blocking pool.
    let large = bytes.len() > INLINE_ROWS * 64;
    let work = move || {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            predict(
                &served,
                content_type.as_deref(),
                &bytes,
                max_rows,
                client_id.as_deref(),
            )
        }))
        .unwrap_or_else(|_| {
            Err(ApiError::new(
                500,
                "INTERNAL_ERROR",
                "internal error while predicting (see the endpoint's log)",
            ))
        })
    };
    let predicted = if large {
        tokio::task::spawn_blocking(work)
            .await
            .unwrap_or_else(|_| {
                Err(ApiError::new(
                    500,
                    "INTERNAL_ERROR",
                    "prediction task failed",
                ))
            })?
    } else {
        work()?
    };
    Ok((predicted, proba))
}

async fn ping(State(app): State<Arc<App>>) -> Response {
    if app.served.load().champion.is_some() {
        (StatusCode::OK, "\n").into_response()
    } else {
        no_model().response()
    }
}

async fn health(State(app): State<Arc<App>>) -> Response {
    let served = app.served.load();
    let body = serde_json::json!({
        "status": if served.champion.is_some() { "ok" } else { "no_model" },
        "endpoint": &*app.endpoint,
        "model": &*app.model,
        "served": served_arms(&served),
    });
    let status = if served.champion.is_some() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}

async fn version(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if !app.authorized(&headers) {
        return ApiError::unauthorized().response();
    }
    let served = app.served.load();
    axum::Json(serde_json::json!({
        "cerebro_version": env!("CARGO_PKG_VERSION"),
        "endpoint": &*app.endpoint,
        "model": &*app.model,
        "served": served_arms(&served),
    }))
    .into_response()
}

async fn prometheus(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if !app.authorized(&headers) {
        return ApiError::unauthorized().response();
    }
    let text = app.metrics.render(&app.endpoint, &app.served.load());
    let mut r = (StatusCode::OK, text).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    r
}

async fn not_found(req: Request) -> Response {
    ApiError::new(
        404,
        "ENDPOINT_NOT_FOUND",
        format!(
            "no route {} {}: try POST /invocations",
            req.method(),
            req.uri().path()
        ),
    )
    .response()
}

fn served_arms(s: &Served) -> Vec<ServedArm> {
    [ArmRole::Champion, ArmRole::Challenger]
        .into_iter()
        .filter_map(|role| {
            s.arm(role).map(|a| ServedArm {
                arm: role.as_str().into(),
                version: a.version,
                stage: a.stage.to_string(),
                share: match role {
                    ArmRole::Champion => 1.0 - s.share,
                    ArmRole::Challenger => s.share,
                },
            })
        })
        .collect()
}

/// The control loop: polls the registry for new versions (hot reload) and heartbeats.
struct Control {
    app: Arc<App>,
    store: SqliteStore,
    status: StatusTable,
    share: f64,
    last_error: Option<String>,
    last_cpu: Option<(Instant, f64)>,
}

impl Control {
    fn open(app: Arc<App>, opts: &EndpointOptions) -> Result<Control> {
        let store = SqliteStore::open(&opts.store_root)?;
        let status = StatusTable::open(store.db_path())?;
        Ok(Control {
            app,
            store,
            status,
            share: opts.serving.challenger_share,
            last_error: None,
            last_cpu: None,
        })
    }

    fn run(mut self, poll: Duration, stop: mpsc::Receiver<()>) {
        let mut next_beat = Instant::now() + HEARTBEAT;
        while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(poll) {
            self.poll();
            if Instant::now() >= next_beat {
                self.heartbeat();
                next_beat = Instant::now() + HEARTBEAT;
            }
        }
        let stats = self.stats();
        if let Err(e) = self.status.stop(&self.app.endpoint, &stats) {
            tracing::warn!(error = %e, "could not mark the endpoint stopped");
        }
    }

    /// Swaps in new versions if Production or Staging changed.
    fn poll(&mut self) {
        let name = &*self.app.model;
        let (production, staging) = match self.store.get_model(name) {
            Ok(m) => (m.production, m.staging),
            Err(Error::NotFound { .. }) => (None, None),
            Err(e) => {
                self.note_error(format!("reading the registry: {e}"));
                return;
            }
        };
        let staging = staging.filter(|_| self.share > 0.0);
        let current = self.app.served.load_full();
        if current.versions() == (production, staging) {
            return;
        }
        let champion = match production {
            None => None,
            Some(v) => match self.arm(&current, ArmRole::Champion, v) {
                Ok(a) => Some(a),
                Err(e) => {
                    // Keep serving what works; retried on the next poll.
                    self.note_error(format!("loading {name}/{v}: {e}"));
                    return;
                }
            },
        };
        let mut note = None;
        let challenger = match (staging, &champion) {
            (Some(v), Some(champ)) => match self.arm(&current, ArmRole::Challenger, v) {
                Ok(a) if a.schema.same_inputs(&champ.schema) => Some(a),
                Ok(_) => {
                    note = Some(format!(
                        "Staging version {v} takes other inputs than Production; not served"
                    ));
                    None
                }
                Err(e) => {
                    note = Some(format!("Staging version {v} could not be loaded: {e}"));
                    None
                }
            },
            _ => None,
        };
        if let Some(n) = &note {
            tracing::warn!(endpoint = %self.app.endpoint, "{n}");
        }
        let next = Served {
            model_name: name.to_string(),
            share: if challenger.is_some() {
                self.share
            } else {
                0.0
            },
            champion,
            challenger,
            challenger_note: note,
        };
        tracing::info!(
            endpoint = %self.app.endpoint,
            from = ?current.versions(),
            to = ?next.versions(),
            "serving new model versions"
        );
        self.app.served.store(Arc::new(next));
        self.app.metrics.reloads_total.fetch_add(1, Relaxed);
        self.last_error = None;
    }

    fn note_error(&mut self, message: String) {
        if self.last_error.as_ref() != Some(&message) {
            tracing::warn!(endpoint = %self.app.endpoint, "{message}");
            self.last_error = Some(message);
        }
    }

    /// The arm for `version`: reused if already loaded in that role, else read from the store.
    fn arm(&self, current: &Served, role: ArmRole, version: i64) -> Result<Arc<Arm>> {
        if let Some(a) = current.arm(role)
            && a.version == version
        {
            return Ok(a.clone());
        }
        let v = self
            .store
            .resolve(&ModelUri::Version(self.app.model.to_string(), version))?;
        let bytes = self.store.artifacts().get(&v.artifact_digest)?;
        let model = Model::from_bytes(&bytes)?;
        let schema = InputSchema::new(&model.signature);
        Ok(Arc::new(Arm {
            role,
            version,
            stage: v.stage,
            digest: v.artifact_digest,
            model,
            schema,
        }))
    }

    fn stats(&mut self) -> EndpointStats {
        let m = &self.app.metrics;
        let (recent, p50, p99) = m.last_minute();
        let (cpu, rss) = status::process_usage();
        let now = Instant::now();
        let cpu_percent = match (cpu, self.last_cpu) {
            (Some(c), Some((t, c0))) => {
                let wall = now.duration_since(t).as_secs_f64();
                (wall > 0.0).then(|| ((c - c0) / wall * 100.0).max(0.0))
            }
            _ => None,
        };
        if let Some(c) = cpu {
            self.last_cpu = Some((now, c));
        }
        EndpointStats {
            requests: m.requests_total.load(Relaxed),
            errors: m.errors_total.load(Relaxed),
            records: m.records_total.load(Relaxed),
            unseen_categories: m.unseen_total.load(Relaxed),
            requests_last_minute: recent,
            p50_ms: p50,
            p99_ms: p99,
            in_flight: m.in_flight.load(Relaxed),
            open_connections: m.connections_open.load(Relaxed),
            cpu_percent,
            rss_bytes: rss,
            reloads: m.reloads_total.load(Relaxed),
            note: self
                .app
                .served
                .load()
                .challenger_note
                .clone()
                .or_else(|| self.last_error.clone()),
        }
    }

    fn heartbeat(&mut self) {
        let stats = self.stats();
        let served = served_arms(&self.app.served.load());
        if let Err(e) = self.status.heartbeat(&self.app.endpoint, &served, &stats) {
            tracing::warn!(error = %e, "endpoint heartbeat failed");
        }
    }
}

/// A TCP listener that counts open connections and disables Nagle's algorithm.
struct CountingListener {
    inner: TcpListener,
    app: Arc<App>,
}

impl axum::serve::Listener for CountingListener {
    type Io = CountedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    self.app.metrics.connections_open.fetch_add(1, Relaxed);
                    self.app.metrics.connections_total.fetch_add(1, Relaxed);
                    return (
                        CountedStream {
                            inner: stream,
                            app: self.app.clone(),
                        },
                        addr,
                    );
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A connection; decrements the open-connection gauge when dropped.
struct CountedStream {
    inner: TcpStream,
    app: Arc<App>,
}

impl Drop for CountedStream {
    fn drop(&mut self) {
        self.app.metrics.connections_open.fetch_sub(1, Relaxed);
    }
}

impl AsyncRead for CountedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for CountedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_loopback_binds_need_a_token() {
        let local: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let open: SocketAddr = "0.0.0.0:5000".parse().unwrap();
        check_bind(&[local], None).unwrap();
        assert!(check_bind(&[open], None).is_err());
        check_bind(&[open], Some("s3cret")).unwrap();
    }

    #[test]
    fn probabilities_query_flag() {
        assert!(wants_probabilities(Some("probabilities=true")));
        assert!(wants_probabilities(Some("a=1&probabilities")));
        assert!(!wants_probabilities(Some("probabilities=false")));
        assert!(!wants_probabilities(None));
    }
}
