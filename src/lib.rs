//! # baton
//!
//! A hub service and SDK that ship Kubernetes manifests to managed clusters as CloudEvents and
//! bring their status back, wire-compatible with Open Cluster Management's Go `sdk-go`
//! (the protocol is specified in `PROTOCOL.md`, cited as §N throughout).
//!
//! The crate map, from the wire up:
//!
//! - [`cloudevents`]: the SDK core. Event types and extensions (§2, §3), resync payloads (§6),
//!   the traits a caller implements (`ResourceObject`, `Lister`, `Codec`, handlers), the
//!   `Transport` abstraction with its MQTT, gRPC and in-memory implementations, and the generic
//!   [`cloudevents::SourceClient`] / [`cloudevents::AgentClient`]. Knows nothing of the hub.
//! - [`work`]: ManifestWork payloads and codecs (§4), status hash (§6.4), sequence ids (§5.3)
//!   and the agent-side work client with its watch stream.
//! - [`broker`]: the gRPC `CloudEventService` server that routes events between sources and
//!   agents (§8.5); embedded by the hub, also runnable alone.
//! - `hub`, `store`, `agent`: the `baton serve` service and the reference agent (later issues).
//!
//! The binary (`src/main.rs`) only parses the command line and calls [`cli::run`].

pub mod agent;
pub mod bench;
pub mod broker;
pub mod cli;
pub mod cloudevents;
pub mod hub;
pub mod store;
pub mod telemetry;
pub mod work;
