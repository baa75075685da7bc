//! The endpoint's connections: the accept loop, a cap on open connections, a deadline for every
//! stage of a connection, and a bounded graceful stop.
//!
//! axum's own `serve` gives no header-read timeout (hyper's needs a timer it does not set) and no
//! connection cap, so a client that opens a connection and sends nothing, or half a request head,
//! holds a descriptor forever and holds a graceful shutdown open (cases rel-05 and rel-06). Here
//! each connection is served by hyper's HTTP/1.1 connection with axum's router as the service,
//! watched by a small state machine that knows its stage:
//!
//! | stage | deadline |
//! |---|---|
//! | opened, no complete request head yet | `header_timeout` from the accept |
//! | a later request's head started (keep-alive) | `header_timeout` from its first byte |
//! | a request being handled (body, prediction) | none here: the body has `body_timeout` (408) |
//! | a response being written | `idle_timeout` without write progress |
//! | idle between requests (keep-alive) | `idle_timeout` |
//!
//! A connection past its deadline is closed. Past `max_connections` open connections (capped
//! below the process's descriptor limit) a new one is answered `503 TEMPORARILY_UNAVAILABLE`
//! with a message and closed, so nobody waits on a full server. On shutdown the listener closes,
//! connections with no request in progress are closed at once (a partial head is not a request
//! anybody was answered), the others finish their request with keep-alive off; whatever is still
//! open after the drain time is cut.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::body::Bytes;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tower::ServiceExt;

use super::metrics::Metrics;

/// Descriptors kept free for the store, the log and the rest of the process when the
/// connection cap is derived from the descriptor limit.
const RESERVED_FDS: u64 = 48;

/// Most refusals (503 and close) being written at once; past it a connection is just closed.
const MAX_REFUSING: usize = 16;

/// How long a refused client has to read its 503.
const REFUSE_TIME: Duration = Duration::from_secs(1);

/// The watchdog looks at a connection at least this often.
const TICK: Duration = Duration::from_secs(1);

/// Timeouts and the cap (from `[serving]`).
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub header: Duration,
    pub idle: Duration,
    /// Open connections allowed, already capped by [`connection_cap`].
    pub max_connections: usize,
    /// How long a graceful stop waits for requests in progress.
    pub drain: Duration,
}

/// `configured`, lowered to stay under the process's soft descriptor limit (minus a reserve):
/// past that limit `accept` fails and nobody at all is answered.
pub(super) fn connection_cap(configured: usize) -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
    if !ok || limit.rlim_cur == libc::RLIM_INFINITY {
        return configured;
    }
    let room = limit.rlim_cur.saturating_sub(RESERVED_FDS).max(8);
    configured.min(usize::try_from(room).unwrap_or(usize::MAX))
}

/// Accepts and serves connections until `shutdown` completes, then drains them (see the module
/// doc).
pub(super) async fn serve<F>(
    listener: TcpListener,
    router: Router,
    metrics: Arc<Metrics>,
    limits: Limits,
    shutdown: F,
) where
    F: Future<Output = ()> + Send + 'static,
{
    let (stop_tx, stop_rx) = watch::channel(false);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let refusing = Arc::new(AtomicUsize::new(0));
    let mut tasks = JoinSet::new();
    let mut accept_errors = 0u64;
    let mut last_warning: Option<Instant> = None;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    match slots.clone().try_acquire_owned() {
                        Ok(permit) => {
                            let (router, metrics, stop) = (router.clone(), metrics.clone(), stop_rx.clone());
                            tasks.spawn(async move {
                                serve_connection(stream, router, metrics, limits, stop).await;
                                drop(permit);
                            });
                        }
                        Err(_) => {
                            metrics.connections_refused_total.fetch_add(1, Relaxed);
                            if refusing.fetch_add(1, Relaxed) < MAX_REFUSING {
                                let refusing = refusing.clone();
                                tasks.spawn(async move {
                                    refuse(stream, limits.max_connections).await;
                                    refusing.fetch_sub(1, Relaxed);
                                });
                            } else {
                                refusing.fetch_sub(1, Relaxed);
                            }
                        }
                    }
                }
                Err(e) => {
                    // Out of descriptors and the like: wait instead of spinning, and say so
                    // once in a while rather than 20 times a second.
                    accept_errors += 1;
                    if last_warning.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                        tracing::warn!(error = %e, failures = accept_errors, "accept failed");
                        last_warning = Some(Instant::now());
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(limits.drain, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = tasks.len(),
            "connections still open after the drain time were closed"
        );
        tasks.shutdown().await;
    }
}

/// A 503 with a JSON error for a connection over the cap, then close.
async fn refuse(mut stream: TcpStream, max: usize) {
    let body = format!(
        "{{\"error_code\":\"TEMPORARILY_UNAVAILABLE\",\"message\":\"too many open connections (the endpoint allows {max}, serving.max_connections); retry later\"}}"
    );
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let _ = tokio::time::timeout(REFUSE_TIME, async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body.as_bytes()).await?;
        stream.shutdown().await?;
        // Read what the client sent so that closing does not reset the connection before it
        // has read the answer.
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<_, std::io::Error>(())
    })
    .await;
}

/// Serves one connection under its watchdog.
async fn serve_connection(
    stream: TcpStream,
    router: Router,
    metrics: Arc<Metrics>,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) {
    metrics.connections_open.fetch_add(1, Relaxed);
    metrics.connections_total.fetch_add(1, Relaxed);
    let _open = OpenGuard(&metrics);
    let state = Arc::new(ConnState::new());
    let io = TokioIo::new(Watched {
        inner: stream,
        state: state.clone(),
    });
    let service = ConnService {
        router,
        state: state.clone(),
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    // The watchdog owns every deadline; hyper's own header timer would also cut idle keep-alive
    // connections at the header timeout.
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(None)
        .keep_alive(true);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let mut stopping = *stop.borrow();
    if stopping {
        return;
    }
    loop {
        let now = Instant::now();
        let deadline = state.deadline(&limits);
        let wake = deadline.map_or(now + TICK, |d| d.min(now + TICK));
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            () = tokio::time::sleep_until(wake.into()) => {
                if state.deadline(&limits).is_some_and(|d| Instant::now() >= d) {
                    metrics.connections_timed_out_total.fetch_add(1, Relaxed);
                    tracing::debug!(stage = state.stage(), "connection closed at its deadline");
                    return;
                }
            }
            _ = stop.changed(), if !stopping => {
                stopping = true;
                if state.waiting_for_head() {
                    return;
                }
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Decrements the open-connection gauge when a connection ends, however it ends.
struct OpenGuard<'a>(&'a Metrics);

impl Drop for OpenGuard<'_> {
    fn drop(&mut self) {
        self.0.connections_open.fetch_sub(1, Relaxed);
    }
}

/// Where a connection is, for its deadline. Times are milliseconds since `opened`; 0 in
/// `head_started` means no head is being read.
struct ConnState {
    opened: Instant,
    /// Requests being handled (from the complete head until the handler returned).
    handling: AtomicUsize,
    /// Responses being written (until hyper drops their body).
    responding: AtomicUsize,
    requests: AtomicU64,
    last_progress: AtomicU64,
    head_started: AtomicU64,
}

impl ConnState {
    fn new() -> ConnState {
        ConnState {
            opened: Instant::now(),
            handling: AtomicUsize::new(0),
            responding: AtomicUsize::new(0),
            requests: AtomicU64::new(0),
            last_progress: AtomicU64::new(0),
            head_started: AtomicU64::new(0),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn at(&self, ms: u64) -> Instant {
        self.opened + Duration::from_millis(ms)
    }

    fn touch(&self) {
        self.last_progress.store(self.now_ms(), Relaxed);
    }

    fn read_progress(&self) {
        self.touch();
        if self.handling.load(Relaxed) == 0 && self.head_started.load(Relaxed) == 0 {
            self.head_started.store(self.now_ms().max(1), Relaxed);
        }
    }

    /// No request is being handled or answered: the connection waits for (the rest of) a head.
    fn waiting_for_head(&self) -> bool {
        self.handling.load(Relaxed) == 0
            && self.responding.load(Relaxed) == 0
            && (self.requests.load(Relaxed) == 0 || self.head_started.load(Relaxed) > 0)
    }

    fn stage(&self) -> &'static str {
        if self.handling.load(Relaxed) > 0 {
            "handling"
        } else if self.responding.load(Relaxed) > 0 {
            "responding"
        } else if self.requests.load(Relaxed) == 0 || self.head_started.load(Relaxed) > 0 {
            "head"
        } else {
            "idle"
        }
    }

    /// When the connection is to be closed unless it makes progress; `None` while a request is
    /// handled.
    fn deadline(&self, l: &Limits) -> Option<Instant> {
        match self.stage() {
            "handling" => None,
            "responding" | "idle" => Some(self.at(self.last_progress.load(Relaxed)) + l.idle),
            _ if self.requests.load(Relaxed) == 0 => Some(self.opened + l.header),
            _ => Some(self.at(self.head_started.load(Relaxed)) + l.header),
        }
    }
}

/// The TCP stream, reporting read and write progress to its [`ConnState`].
struct Watched {
    inner: TcpStream,
    state: Arc<ConnState>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.state.read_progress();
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.state.touch();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.state.touch();
        }
        r
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

/// axum's router as hyper's service, marking when a request is handled and answered.
#[derive(Clone)]
struct ConnService {
    router: Router,
    state: Arc<ConnState>,
}

impl hyper::service::Service<hyper::Request<Incoming>> for ConnService {
    type Response = hyper::Response<TrackedBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, req: hyper::Request<Incoming>) -> Self::Future {
        let handling = Handling::new(self.state.clone());
        let router = self.router.clone();
        Box::pin(async move {
            let response = match router.oneshot(req.map(Body::new)).await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            let responding = Responding::new(handling.0.clone());
            drop(handling);
            let (parts, body) = response.into_parts();
            Ok(hyper::Response::from_parts(
                parts,
                TrackedBody {
                    inner: body,
                    _responding: responding,
                },
            ))
        })
    }
}

/// A request being handled; ends when the handler returns or the request is dropped.
struct Handling(Arc<ConnState>);

impl Handling {
    fn new(state: Arc<ConnState>) -> Handling {
        state.handling.fetch_add(1, Relaxed);
        state.requests.fetch_add(1, Relaxed);
        state.head_started.store(0, Relaxed);
        state.touch();
        Handling(state)
    }
}

impl Drop for Handling {
    fn drop(&mut self) {
        self.0.touch();
        self.0.handling.fetch_sub(1, Relaxed);
    }
}

/// A response being written; ends when hyper drops its body.
struct Responding(Arc<ConnState>);

impl Responding {
    fn new(state: Arc<ConnState>) -> Responding {
        state.responding.fetch_add(1, Relaxed);
        Responding(state)
    }
}

impl Drop for Responding {
    fn drop(&mut self) {
        self.0.touch();
        self.0.responding.fetch_sub(1, Relaxed);
    }
}

/// A response body that marks its connection as answering until it is dropped.
struct TrackedBody {
    inner: Body,
    _responding: Responding,
}

impl http_body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_stays_under_the_descriptor_limit() {
        let cap = connection_cap(usize::MAX);
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: as in connection_cap.
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
        if limit.rlim_cur != libc::RLIM_INFINITY {
            assert!((cap as u64) < limit.rlim_cur, "{cap} vs {}", limit.rlim_cur);
        }
        assert_eq!(connection_cap(3), 3);
    }

    #[test]
    fn deadlines_follow_the_stage() {
        let l = Limits {
            header: Duration::from_secs(10),
            idle: Duration::from_secs(60),
            max_connections: 1,
            drain: Duration::from_secs(1),
        };
        let s = Arc::new(ConnState::new());
        assert_eq!(s.stage(), "head");
        assert_eq!(s.deadline(&l), Some(s.opened + l.header));
        assert!(s.waiting_for_head());
        let h = Handling::new(s.clone());
        assert_eq!((s.stage(), s.deadline(&l)), ("handling", None));
        assert!(!s.waiting_for_head());
        let r = Responding::new(s.clone());
        drop(h);
        assert_eq!(s.stage(), "responding");
        drop(r);
        assert_eq!(s.stage(), "idle");
        assert!(!s.waiting_for_head());
        let idle = s.deadline(&l).unwrap();
        assert!(idle >= s.opened + l.idle);
        s.read_progress();
        assert_eq!(s.stage(), "head");
        assert!(s.deadline(&l).unwrap() <= Instant::now() + l.header + Duration::from_millis(2));
    }
}
