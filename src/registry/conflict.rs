//! Why the registry refused a stage transition before changing anything: the registry is not in
//! the state the transition was decided on. A leaf module (it imports nothing of the crate), so
//! the core [`Error`](crate::error::Error) can carry it as its own variant without a cycle.

/// A stage transition that conflicts with the registry as it is now. Nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    /// Production is not the version the caller saw when it decided (another promotion,
    /// rollback or archive committed first); running it again decides afresh.
    #[error(
        "Production of `{model}` changed while this {action} was being decided (expected {}, now {}); nothing was changed, run it again",
        version_or_none(*expected),
        version_or_none(*found)
    )]
    ProductionChanged {
        model: String,
        /// The audit action refused: promote, archive or rollback.
        action: &'static str,
        expected: Option<i64>,
        found: Option<i64>,
    },
    /// The version already is in the stage it was to move to.
    #[error("{model}/{version} is already in stage {stage}")]
    AlreadyInStage {
        model: String,
        version: i64,
        stage: &'static str,
    },
}

fn version_or_none(v: Option<i64>) -> String {
    v.map_or("none".to_string(), |v| format!("version {v}"))
}
