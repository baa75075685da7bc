//! A blocking client of the MLflow REST API: JSON calls under `/api/2.0/mlflow/`, artifact
//! transfers through the artifact proxy (`/api/2.0/mlflow-artifacts/artifacts/`), a bearer token,
//! and bounded retries with exponential backoff on 429, 5xx and connection errors.

use std::time::Duration;

use serde_json::Value;

use super::MlflowTarget;
use crate::error::{Error, Result};

/// Attempts per call (the first plus retries).
const ATTEMPTS: u32 = 5;
/// First backoff; doubled after every failed attempt (100, 200, 400, 800 ms: 1.5 s in all).
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(5);
/// Largest response body read (a page of 1,000 runs with their data is a few MB; artifacts are
/// models of a few MB).
const BODY_LIMIT: u64 = 512 * 1024 * 1024;

/// What went wrong with one call, before it becomes a crate [`Error`].
#[derive(Debug)]
pub enum CallError {
    /// The server answered with an error: HTTP status, MLflow `error_code` and message.
    Api {
        status: u16,
        code: String,
        message: String,
    },
    /// No usable answer after every attempt (connection refused, timeouts, 5xx, 429).
    Unavailable(String),
}

impl CallError {
    pub fn code(&self) -> Option<&str> {
        match self {
            CallError::Api { code, .. } => Some(code),
            CallError::Unavailable(_) => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, CallError::Api { status: 404, .. })
            || self.code() == Some("RESOURCE_DOES_NOT_EXIST")
    }

    pub fn is_already_exists(&self) -> bool {
        self.code() == Some("RESOURCE_ALREADY_EXISTS")
    }
}

/// A client of one server. Cheap to clone (the agent shares its connection pool).
#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    target: MlflowTarget,
}

enum Body<'a> {
    None,
    Json(&'a Value),
    Bytes(&'a [u8]),
}

impl Client {
    pub fn new(target: &MlflowTarget) -> Client {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(5)))
            .timeout_global(Some(Duration::from_secs(300)))
            .user_agent(format!("cerebro/{}", env!("CARGO_PKG_VERSION")))
            .build();
        Client {
            agent: ureq::Agent::new_with_config(config),
            target: target.clone(),
        }
    }

    pub fn uri(&self) -> &str {
        &self.target.uri
    }

    /// `GET /api/2.0/mlflow/<path>?query`.
    pub fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, CallError> {
        let bytes = self.call("GET", &api(path), query, Body::None)?;
        parse_json(&bytes, path)
    }

    /// Every item under `items` of a paged `GET` search, following `next_page_token` until the
    /// server gives none.
    pub fn get_all(
        &self,
        path: &str,
        query: &[(&str, &str)],
        items: &str,
    ) -> Result<Vec<Value>, CallError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut q = query.to_vec();
            if let Some(t) = &token {
                q.push(("page_token", t.as_str()));
            }
            let mut page = self.get(path, &q)?;
            if let Some(Value::Array(list)) = page.get_mut(items).map(Value::take) {
                out.extend(list);
            }
            token = page["next_page_token"]
                .as_str()
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            if token.is_none() {
                return Ok(out);
            }
        }
    }

    /// `POST /api/2.0/mlflow/<path>` with a JSON body.
    pub fn post(&self, path: &str, body: &Value) -> Result<Value, CallError> {
        let bytes = self.call("POST", &api(path), &[], Body::Json(body))?;
        parse_json(&bytes, path)
    }

    /// `PATCH /api/2.0/mlflow/<path>` with a JSON body.
    pub fn patch(&self, path: &str, body: &Value) -> Result<Value, CallError> {
        let bytes = self.call("PATCH", &api(path), &[], Body::Json(body))?;
        parse_json(&bytes, path)
    }

    /// `DELETE /api/2.0/mlflow/<path>` with a JSON body.
    pub fn delete(&self, path: &str, body: &Value) -> Result<Value, CallError> {
        let bytes = self.call("DELETE", &api(path), &[], Body::Json(body))?;
        parse_json(&bytes, path)
    }

    /// Uploads a file through the artifact proxy; `path` is relative to the artifact root
    /// (`<experiment id>/<run id>/artifacts/<name>`).
    pub fn upload(&self, path: &str, bytes: &[u8]) -> Result<(), CallError> {
        self.call(
            "PUT",
            &format!("/api/2.0/mlflow-artifacts/artifacts/{path}"),
            &[],
            Body::Bytes(bytes),
        )
        .map(|_| ())
    }

    /// Downloads a file through the artifact proxy.
    pub fn download(&self, path: &str) -> Result<Vec<u8>, CallError> {
        self.call(
            "GET",
            &format!("/api/2.0/mlflow-artifacts/artifacts/{path}"),
            &[],
            Body::None,
        )
    }

    /// One call with retries. Returns the body of a 2xx answer.
    fn call(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        body: Body<'_>,
    ) -> Result<Vec<u8>, CallError> {
        let url = format!("{}{}", self.target.uri, path);
        let mut backoff = FIRST_BACKOFF;
        let mut last = String::new();
        for attempt in 1..=ATTEMPTS {
            match self.once(method, &url, query, &body) {
                Ok((status, bytes, _)) if (200..300).contains(&status) => return Ok(bytes),
                Ok((status, bytes, retry_after)) if status == 429 || status >= 500 => {
                    last = format!("HTTP {status}: {}", snippet(&bytes));
                    if let Some(wait) = retry_after {
                        backoff = backoff.max(wait.min(MAX_RETRY_AFTER));
                    }
                }
                Ok((status, bytes, _)) => return Err(api_error(status, &bytes)),
                Err(e) => last = e.to_string(),
            }
            tracing::debug!(uri = %self.target.uri, %method, %path, attempt, error = %last, "MLflow call failed");
            if attempt < ATTEMPTS {
                std::thread::sleep(backoff);
                backoff *= 2;
            }
        }
        Err(CallError::Unavailable(format!(
            "MLflow server {} did not answer {method} {path}: {last} (after {ATTEMPTS} attempts)",
            self.target.uri
        )))
    }

    fn once(
        &self,
        method: &str,
        url: &str,
        query: &[(&str, &str)],
        body: &Body<'_>,
    ) -> Result<(u16, Vec<u8>, Option<Duration>), ureq::Error> {
        let auth = self.target.token.as_ref().map(|t| format!("Bearer {t}"));
        macro_rules! prepare {
            ($builder:expr) => {{
                let mut b = $builder;
                for (k, v) in query {
                    b = b.query(*k, *v);
                }
                if let Some(a) = &auth {
                    b = b.header("Authorization", a.as_str());
                }
                b
            }};
        }
        let response = match (method, body) {
            ("GET", _) => prepare!(self.agent.get(url)).call(),
            ("POST", Body::Json(v)) => prepare!(self.agent.post(url)).send_json(v),
            ("PATCH", Body::Json(v)) => prepare!(self.agent.patch(url)).send_json(v),
            ("DELETE", Body::Json(v)) => prepare!(self.agent.delete(url))
                .force_send_body()
                .send_json(v),
            ("PUT", Body::Bytes(b)) => prepare!(self.agent.put(url))
                .header("Content-Type", "application/octet-stream")
                .send(*b),
            _ => prepare!(self.agent.post(url)).send_empty(),
        }?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let bytes = response
            .into_body()
            .with_config()
            .limit(BODY_LIMIT)
            .read_to_vec()?;
        Ok((status, bytes, retry_after))
    }
}

fn api(path: &str) -> String {
    format!("/api/2.0/mlflow/{path}")
}

fn parse_json(bytes: &[u8], path: &str) -> Result<Value, CallError> {
    if bytes.is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    serde_json::from_slice(bytes).map_err(|e| CallError::Api {
        status: 200,
        code: "BAD_RESPONSE".into(),
        message: format!("{path}: the answer is not JSON ({e}): {}", snippet(bytes)),
    })
}

fn api_error(status: u16, bytes: &[u8]) -> CallError {
    let parsed: Option<Value> = serde_json::from_slice(bytes).ok();
    let field = |k: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.get(k))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    CallError::Api {
        status,
        code: field("error_code").unwrap_or_else(|| format!("HTTP_{status}")),
        message: field("message").unwrap_or_else(|| snippet(bytes)),
    }
}

fn snippet(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    match text.char_indices().nth(300) {
        Some((i, _)) => format!("{}...", &text[..i]),
        None => text.to_string(),
    }
}

/// Turns a call error into the crate's error, naming the server and what was asked.
pub fn to_error(uri: &str, what: &'static str, name: &str, e: CallError) -> Error {
    if e.is_not_found() {
        return Error::not_found(what, name);
    }
    match e {
        CallError::Unavailable(message) => Error::invalid(message),
        CallError::Api {
            status,
            code,
            message,
        } => Error::invalid(format!(
            "MLflow server {uri} refused ({what} {name}): {code} (HTTP {status}): {message}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A one-thread HTTP server on 127.0.0.1 that answers the i-th request with `answers[i]`
    /// (status, body), closing each connection; returns its URI and the request counter. Requests
    /// without the bearer token are answered 401.
    fn server(answers: Vec<(u16, &'static str)>) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let uri = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(AtomicUsize::new(0));
        let counter = seen.clone();
        std::thread::spawn(move || {
            for (status, body) in answers {
                let Ok((stream, _)) = listener.accept() else {
                    return;
                };
                let mut reader = BufReader::new(stream);
                let mut length = 0usize;
                let mut authorized = false;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    let lower = line.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                    authorized |= line.trim() == "Authorization: Bearer t0ken"
                        || lower.trim() == "authorization: bearer t0ken";
                }
                let mut request_body = vec![0; length];
                let _ = reader.read_exact(&mut request_body);
                counter.fetch_add(1, Ordering::SeqCst);
                let mut stream = reader.into_inner();
                let (status, body) = if authorized {
                    (status, body)
                } else {
                    (401, "no token")
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        (uri, seen)
    }

    fn client(uri: &str) -> Client {
        Client::new(&MlflowTarget {
            uri: uri.to_string(),
            token: Some("t0ken".into()),
        })
    }

    #[test]
    fn transient_errors_are_retried_until_an_answer() {
        let (uri, seen) = server(vec![
            (503, "busy"),
            (429, "slow down"),
            (200, r#"{"experiment": {"experiment_id": "7"}}"#),
        ]);
        let v = client(&uri)
            .get("experiments/get-by-name", &[("experiment_name", "x")])
            .unwrap();
        assert_eq!(v["experiment"]["experiment_id"], "7");
        assert_eq!(seen.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn client_errors_are_not_retried_and_keep_mlflow_s_code() {
        let (uri, seen) = server(vec![
            (
                404,
                r#"{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "no run"}"#,
            ),
            (200, "{}"),
        ]);
        let e = client(&uri)
            .post("runs/get", &serde_json::json!({}))
            .unwrap_err();
        assert!(e.is_not_found(), "{e:?}");
        assert_eq!(seen.load(Ordering::SeqCst), 1);
        let err = to_error(&uri, "run", "abc", e);
        assert_eq!(err.to_string(), "run not found: abc");
    }

    #[test]
    fn a_server_that_keeps_failing_is_an_error_naming_it() {
        let (uri, seen) = server(vec![(500, "boom"); ATTEMPTS as usize]);
        let e = client(&uri).get("experiments/search", &[]).unwrap_err();
        let CallError::Unavailable(message) = &e else {
            panic!("{e:?}")
        };
        assert!(message.contains(&uri), "{message}");
        assert!(message.contains("HTTP 500"), "{message}");
        assert_eq!(seen.load(Ordering::SeqCst), ATTEMPTS as usize);
    }
}
