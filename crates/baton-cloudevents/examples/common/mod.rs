//! What the examples share: the broker to reach and how long to wait for the other side.
//!
//! - `BATON_EXAMPLE_BROKER` (or the first argument): `mqtt://HOST:PORT` (an MQTT v5 broker
//!   such as Mosquitto) or `grpc://HOST:PORT` (a gRPC `CloudEventService` broker such as
//!   `baton broker`). Default `grpc://127.0.0.1:8090`.
//! - `BATON_EXAMPLE_SOURCE` / `BATON_EXAMPLE_CLUSTER`: the source id and the cluster name both
//!   examples of a pair agree on (default `example-source` / `cluster1`).
//! - `BATON_EXAMPLE_DEADLINE_SECS`: how long to wait for the other example (default 60).

#![allow(dead_code)] // each example uses part of it

pub mod greeting;

use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use baton_cloudevents::transport::grpc::{GrpcOptions, GrpcTransport};
use baton_cloudevents::transport::mqtt::{MqttConfig, MqttTransport};
use baton_cloudevents::{Transport, TransportRole};

/// The examples' error type: anything, reported by `main`.
pub type Result<T> = std::result::Result<T, Box<dyn Error + Send + Sync>>;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// The source id of the pair.
pub fn source_id() -> String {
    env_or("BATON_EXAMPLE_SOURCE", "example-source")
}

/// The cluster of the pair.
pub fn cluster_name() -> String {
    env_or("BATON_EXAMPLE_CLUSTER", "cluster1")
}

/// How long an example waits for its peer before it fails.
pub fn deadline() -> Duration {
    let secs = env_or("BATON_EXAMPLE_DEADLINE_SECS", "60");
    Duration::from_secs(secs.parse().unwrap_or(60))
}

/// A transport for `role` to the broker named by the first argument or `BATON_EXAMPLE_BROKER`.
pub fn transport(role: TransportRole) -> Result<Arc<dyn Transport>> {
    let broker = std::env::args()
        .nth(1)
        .unwrap_or_else(|| env_or("BATON_EXAMPLE_BROKER", "grpc://127.0.0.1:8090"));
    if let Some(address) = broker.strip_prefix("mqtt://") {
        // Both sides use the source's topics (docs/protocol.md §7.4): the source subscribes to
        // every consumer's agent events, the agent to its own source events.
        let source = source_id();
        let config = MqttConfig::from_yaml(&format!(
            "brokerHost: {address}\n\
             topics:\n  \
               sourceEvents: sources/{source}/consumers/+/sourceevents\n  \
               agentEvents: sources/{source}/consumers/+/agentevents\n"
        ))?;
        return Ok(Arc::new(MqttTransport::builder(config, role).build()?));
    }
    if let Some(address) = broker.strip_prefix("grpc://") {
        let options = GrpcOptions::plaintext(format!("http://{address}"));
        return Ok(Arc::new(GrpcTransport::new(role, options)?));
    }
    Err(format!("broker {broker:?}: expected mqtt://HOST:PORT or grpc://HOST:PORT").into())
}

/// Waits for `what` on `receiver` until the deadline; an error naming it otherwise.
pub async fn next<T>(receiver: &mut tokio::sync::mpsc::Receiver<T>, what: &str) -> Result<T> {
    match tokio::time::timeout(deadline(), receiver.recv()).await {
        Ok(Some(item)) => Ok(item),
        Ok(None) => Err(format!("the stream ended while waiting for {what}").into()),
        Err(_) => Err(format!("no {what} within {:?}", deadline()).into()),
    }
}
