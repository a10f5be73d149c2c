//! # baton
//!
//! A hub service and SDK that ship Kubernetes manifests to managed clusters as CloudEvents and
//! bring their status back, wire-compatible with Open Cluster Management's Go `sdk-go`
//! (the wire protocol is described in `docs/protocol.md`, cited as §N throughout).
//!
//! The crate map, from the wire up:
//!
//! - [`cloudevents`] and [`work`]: the SDK, its own crate (`crates/baton-cloudevents`),
//!   re-exported here under the names the hub's modules use. Event types and extensions,
//!   resync payloads, the traits a caller implements, the transports (MQTT, gRPC, in memory),
//!   the generic source and agent clients; ManifestWork payloads and codecs, status hash,
//!   sequence ids and the agent-side work client. Knows nothing of the hub.
//! - [`broker`]: the gRPC `CloudEventService` server that routes events between sources and
//!   agents (§8.5); embedded by the hub, also runnable alone.
//! - [`store`]: the `Store` trait with its PostgreSQL and SQLite backends (all SQL, the outbox,
//!   the change feed, the replica registry).
//! - [`hub`]: `baton serve`: the REST API, publisher, status writer, watch, replica membership,
//!   and the gRPC source API Maestro's clients use.
//! - [`agent`]: `baton agent`, the reference agent and its simulated cluster.
//! - [`client`]: `baton apply|get|describe|watch|wait|delete|consumers`, a command-line client
//!   of the REST API (over HTTP only; the API's view types are its contract).
//! - [`tls`]: TLS material every listener shares (reloaded certificates, lowest version).
//!
//! The binary (`src/main.rs`) only parses the command line and calls [`cli::run`].

pub mod agent;
pub mod broker;
pub mod cli;
pub mod client;
pub mod hub;
pub mod store;
pub mod telemetry;
pub mod tls;

pub use baton_cloudevents::{self as cloudevents, work};
