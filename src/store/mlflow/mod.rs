//! An MLflow tracking server as cerebro's tracking and registry backend, over its REST API
//! (`/api/2.0/mlflow/...`).

/// An MLflow tracking server: its base URI and an optional bearer token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MlflowTarget {
    /// `http://HOST:PORT`, without a trailing slash.
    pub uri: String,
    /// Sent as `Authorization: Bearer <token>` (`MLFLOW_TRACKING_TOKEN`).
    pub token: Option<String>,
}
