//! Webhooks: registry and monitoring events POSTed as JSON to the URLs of `[[notifications]]`,
//! in MLflow 3's webhook format, through a transactional outbox.
//!
//! **Format.** MLflow 3's model-registry webhooks (<https://mlflow.org/docs/latest/ml/webhooks>;
//! `mlflow/webhooks/{types,delivery,constants}.py` and `mlflow/entities/webhook.py` in mlflow
//! 3.17): event names `<entity>.<action>` (`model_version.created`,
//! `model_version_alias.created`, ...) with MLflow's payloads, the envelope
//! `{entity, action, timestamp, data}`, and the `X-MLflow-Delivery-Id`, `X-MLflow-Timestamp`
//! and `X-MLflow-Signature` (`v1,` + base64 HMAC-SHA256) headers, so a receiver written for
//! MLflow verifies cerebro's requests unchanged. cerebro adds a `text` field (one line for
//! people), which makes a Slack incoming-webhook URL work as is, and its own events where
//! MLflow 3 has none (stage transitions, rollback, alerts): see [`EventName`].
//!
//! **Delivery.** Nothing sends on the caller's path. A registry change (on the SQLite store)
//! and an alert opening or resolving append their events to `notification_events` in the same
//! SQLite transaction as the change itself ([`outbox::enqueue`]); a [`Deliverer`] later fans
//! each event out to the URLs subscribed to it and POSTs it, retrying with bounded exponential
//! backoff ([`deliver`]). Long-lived processes (the TUI, `monitor watch`, `agent`) run a
//! [`Worker`]; a short CLI command that left work behind starts a detached
//! `cerebro notifications deliver`, which exits once nothing is pending. Every delivery's state
//! and last outcome is kept in `notification_deliveries` (`cerebro notifications list`).
//!
//! **What is guaranteed.** On the SQLite backend an event is recorded if and only if its change
//! commits, so a crash loses none. On an MLflow backend there is no shared transaction: the
//! events are recorded locally right after the server accepted the change, and a crash between
//! the two loses them. Each event is delivered *at least once* to each URL configured when it
//! is fanned out (a URL added later receives only later events): a deliverer that dies after the
//! receiver answered but before it recorded the answer leaves a lease that expires, and the
//! attempt is repeated with the same `X-MLflow-Delivery-Id`; otherwise exactly once. A
//! delivery that fails every attempt is recorded FAILED and not retried again. Events are
//! delivered in order of their retries, not strictly in event order.

pub mod audit;
pub mod deliver;
pub mod event;
pub mod outbox;

pub use deliver::{Deliverer, Worker};
pub use event::{Event, EventName};
pub use outbox::{Delivery, DeliveryStatus};
