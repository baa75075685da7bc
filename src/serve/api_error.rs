//! The error answers of the endpoint, in MLflow's shape: `{"error_code": ..., "message": ...}`
//! with the HTTP status the code stands for.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::payload;

/// An error answer.
#[derive(Debug)]
pub(super) struct ApiError {
    pub(super) status: u16,
    pub(super) code: &'static str,
    pub(super) message: String,
}

impl ApiError {
    pub(super) fn new(status: u16, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub(super) fn unauthorized() -> ApiError {
        ApiError::new(
            401,
            "UNAUTHENTICATED",
            "missing or wrong bearer token (send `Authorization: Bearer <token>`)",
        )
    }

    pub(super) fn response(&self) -> Response {
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

/// 503: the registered model has no Production version yet.
pub(super) fn no_model() -> ApiError {
    ApiError::new(
        503,
        "TEMPORARILY_UNAVAILABLE",
        "no model is loaded yet: the registered model has no Production version",
    )
}
