//! The HTTP routes of an endpoint and the state they share ([`App`]): predictions, health,
//! version and metrics, the bearer-token check, and one inference-log entry per request and arm.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::api_error::{ApiError, no_model};
use super::log::{LogEntry, LogHealth, LogSender, LoggedInputs};
use super::metrics::Metrics;
use super::payload;
use super::predict::{Predicted, predict, write_predictions};
use super::router::{ArmRole, Served};
use super::status::ServedArm;

/// Requests with more records than this are predicted on the blocking pool, not the I/O task.
const INLINE_ROWS: usize = 32;

pub(super) fn routes(app: Arc<App>) -> Router {
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
pub(super) struct App {
    pub(super) endpoint: Arc<str>,
    pub(super) model: Arc<str>,
    pub(super) served: ArcSwap<Served>,
    pub(super) metrics: Arc<Metrics>,
    pub(super) log: LogSender,
    pub(super) log_health: Arc<LogHealth>,
    /// `serving.log_failure = "refuse"`: answer 503 while the log cannot be written.
    pub(super) refuse_unlogged: bool,
    pub(super) max_rows: usize,
    pub(super) max_body: usize,
    pub(super) body_timeout: Duration,
    /// SHA-256 of the bearer token.
    pub(super) token: Option<[u8; 32]>,
}

pub(super) fn token_digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl App {
    /// Checks the `Authorization` header: scheme `Bearer` in any case (RFC 7235 makes auth
    /// schemes case-insensitive), then the token. The digests are compared in constant time
    /// (`subtle`), and have equal length whatever was sent, so the time taken says nothing
    /// about the token.
    fn authorized(&self, headers: &HeaderMap) -> bool {
        let Some(expected) = &self.token else {
            return true;
        };
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_token)
            .unwrap_or("");
        token_digest(given).ct_eq(expected).into()
    }
}

/// The token of an `Authorization: Bearer <token>` value (scheme in any case), if that is what
/// it is.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once([' ', '\t'])?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Whether the query string turns `flag` on (`?flag`, `?flag=true`, `=1`, `=yes`).
fn query_flag(query: Option<&str>, flag: &str) -> bool {
    query.is_some_and(|q| {
        q.split('&').any(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            k == flag && matches!(v, "" | "true" | "1" | "yes")
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
    // The token first: an unauthenticated caller learns nothing, not even the endpoint's name.
    if !app.authorized(req.headers()) {
        return unauthorized(&app);
    }
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

/// A 401, counted apart: refused callers are neither invocation requests nor endpoint errors
/// (they would open error-rate alerts), and are not written to the inference log.
fn unauthorized(app: &App) -> Response {
    app.metrics.unauthenticated_total.fetch_add(1, Relaxed);
    ApiError::unauthorized().response()
}

async fn invoke(app: Arc<App>, req: Request) -> Response {
    if !app.authorized(req.headers()) {
        return unauthorized(&app);
    }
    let start = Instant::now();
    app.metrics.in_flight.fetch_add(1, Relaxed);
    let _guard = InFlight(app.metrics.as_ref());
    let request_id: Arc<str> = request_id().into();
    let (parts, body) = req.into_parts();
    let header_client_id: Option<String> = parts
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(200).collect());
    let outcome = invoke_inner(&app, &parts, body, header_client_id.as_deref()).await;
    let timestamp_ms = crate::clock::now_ms();
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
        Err(e) => {
            let mut r = e.response();
            // The body was not read to its end: the connection cannot carry another request,
            // so the client is told not to reuse it (hyper closes it after this response).
            if matches!(e.status, 408 | 413) {
                r.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            r
        }
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
        explanations: None,
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
                e.explanations = g.explanations;
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

async fn invoke_inner(
    app: &Arc<App>,
    parts: &axum::http::request::Parts,
    body: Body,
    client_id: Option<&str>,
) -> std::result::Result<(Predicted, bool), ApiError> {
    if app.refuse_unlogged && app.log_health.failing.load(Relaxed) {
        app.metrics.log_refused_total.fetch_add(1, Relaxed);
        return Err(ApiError::new(
            503,
            "TEMPORARILY_UNAVAILABLE",
            format!(
                "the inference log cannot be written ({}); this endpoint refuses requests it cannot log (serving.log_failure = \"refuse\")",
                app.log_health.last_error().unwrap_or_default()
            ),
        ));
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
    let proba = query_flag(parts.uri.query(), "probabilities");
    let explain = query_flag(parts.uri.query(), "explain");
    let max_rows = app.max_rows;
    let client_id = client_id.map(str::to_string);
    // A cheap guess of the record count (rows are at least a few bytes each) decides where to
    // predict: small requests inline, large ones on the blocking pool. An explanation asked for
    // in the query runs TreeSHAP, tens of milliseconds on a large ensemble: also off the worker.
    let large = bytes.len() > INLINE_ROWS * 64 || explain;
    let work = move || {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            predict(
                &served,
                content_type.as_deref(),
                &bytes,
                max_rows,
                client_id.as_deref(),
                explain,
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

/// 200 `ok` with a model loaded and the inference log writing; 503 `no_model` before a model
/// is loaded, 503 `log_failing` while the inference log cannot be written. Lines lost to an
/// earlier failure stay reported (`log_lines_lost`) after recovery.
async fn health(State(app): State<Arc<App>>) -> Response {
    let served = app.served.load();
    let log = &app.log_health;
    let failing = log.failing.load(Relaxed);
    let state = if served.champion.is_none() {
        "no_model"
    } else if failing {
        "log_failing"
    } else {
        "ok"
    };
    let mut body = serde_json::json!({
        "status": state,
        "endpoint": &*app.endpoint,
        "model": &*app.model,
        "served": served_arms(&served),
    });
    let lost = log.lost.load(Relaxed);
    if failing || lost > 0 {
        body["log_error"] = log.last_error().into();
        body["log_lines_waiting"] = log.waiting.load(Relaxed).into();
        body["log_lines_lost"] = lost.into();
    }
    let status = if state == "ok" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}

async fn version(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if !app.authorized(&headers) {
        return unauthorized(&app);
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
        return unauthorized(&app);
    }
    let text = app
        .metrics
        .render(&app.endpoint, &app.served.load(), &app.log_health);
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

pub(super) fn served_arms(s: &Served) -> Vec<ServedArm> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probabilities_query_flag() {
        let p = |q| query_flag(q, "probabilities");
        assert!(p(Some("probabilities=true")));
        assert!(p(Some("a=1&probabilities")));
        assert!(!p(Some("probabilities=false")));
        assert!(!p(None));
        assert!(query_flag(Some("probabilities&explain=1"), "explain"));
        assert!(!query_flag(Some("explainer=true"), "explain"));
    }

    #[test]
    fn bearer_scheme_in_any_case() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer abc"), Some("abc"));
        assert_eq!(bearer_token("BEARER  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearerabc"), None);
    }
}
