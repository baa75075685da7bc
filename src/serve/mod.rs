//! The serving endpoint: an HTTP server (axum on tokio) that answers MLflow scoring-server and
//! Databricks serving-endpoint requests with the registry's Production model, optionally split
//! with the Staging challenger, hot-reloads new versions, writes every request to the inference
//! log and reports its status to the store.
//!
//! [`run`] takes a bound listener and a shutdown future (so tests bind `127.0.0.1:0` and stop it
//! cleanly, and the TUI hosts it as its local endpoint). Routes:
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

mod api_error;
mod control;
mod handlers;
mod listener;
pub mod log;
pub mod metrics;
pub mod payload;
mod predict;
pub mod router;
pub mod status;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;

use crate::config::{LogFailure, ServingConfig};
use crate::error::{Error, Result};
use control::Control;
use handlers::{App, routes, token_digest};
use listener::{Limits, connection_cap};
use log::{LogPolicy, LogStats, LogWriter};
use metrics::Metrics;
use router::Served;
use status::NameLock;

/// How much longer than `body_timeout_ms` a graceful stop waits for requests in progress.
const DRAIN_MARGIN: Duration = Duration::from_secs(5);

/// The environment variable holding the bearer token (it overrides `serving.token`).
pub const TOKEN_ENV: &str = "CEREBRO_SERVING_TOKEN";

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
#[derive(Debug, Clone)]
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

/// Serves until `shutdown` completes, then drains in-flight requests (bounded: see
/// [`listener`]), flushes the inference log and marks the endpoint stopped.
///
/// Errors: the endpoint name is held by a running endpoint ([`status::NameLock`]), the store
/// cannot be opened, the log folder cannot be created.
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
    let metrics = Arc::new(Metrics::default());
    let app = Arc::new(App {
        endpoint: opts.endpoint.as_str().into(),
        model: opts.model.as_str().into(),
        served: ArcSwap::from_pointee(Served::empty(&opts.model)),
        metrics: metrics.clone(),
        log: log_tx,
        log_health: writer.health(),
        refuse_unlogged: opts.serving.log_failure == LogFailure::Refuse,
        max_rows: opts.serving.max_rows,
        max_body: opts.serving.max_body_bytes,
        body_timeout: Duration::from_millis(opts.serving.body_timeout_ms),
        token: opts.token.as_deref().map(token_digest),
    });

    // Hold the name, load the current versions and register before accepting anything.
    let (control, name_lock) = {
        let app = app.clone();
        let opts = opts.clone();
        let address = address.to_string();
        tokio::task::spawn_blocking(move || -> Result<(Control, NameLock)> {
            let mut c = Control::open(app, &opts)?;
            let lock = NameLock::acquire(c.db_path(), &opts.endpoint)?;
            c.status.register(&opts.endpoint, &address, &opts.model)?;
            c.poll();
            c.heartbeat();
            Ok((c, lock))
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

    let limits = Limits {
        header: Duration::from_millis(opts.serving.header_timeout_ms),
        idle: Duration::from_millis(opts.serving.idle_timeout_ms),
        max_connections: connection_cap(opts.serving.max_connections),
        drain: Duration::from_millis(opts.serving.body_timeout_ms) + DRAIN_MARGIN,
    };
    tracing::info!(
        endpoint = %opts.endpoint, %address, model = %opts.model,
        max_connections = limits.max_connections, "endpoint started"
    );
    listener::serve(
        listener,
        routes(app.clone()),
        metrics.clone(),
        limits,
        shutdown,
    )
    .await;

    let _ = stop_tx.send(());
    let control_result = control.join();
    // Every connection has ended: dropping the last senders lets the writer drain and stop.
    drop(app);
    let log = writer.finish();
    drop(name_lock);
    tracing::info!(endpoint = %opts.endpoint, lines = log.lines, lost = log.lost, "endpoint stopped, inference log flushed");
    if control_result.is_err() {
        return Err(Error::invalid("the endpoint's control thread panicked"));
    }
    Ok(Summary {
        requests: metrics.requests_total.load(Relaxed),
        errors: metrics.errors_total.load(Relaxed),
        log,
    })
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
}
