//! Open Cluster Management's CloudEvents protocol in Rust, wire-compatible with OCM's Go
//! `sdk-go` "Cloudevents Clients" and with Maestro: the clients a **source** (a hub deciding what
//! runs where) and an **agent** (one per managed cluster) use to exchange resources and their
//! status over MQTT v5 or gRPC. The section numbers (§N) cite baton's protocol description
//! (`docs/protocol.md` in the repository).
//!
//! # From sdk-go
//!
//! | sdk-go | here |
//! |---|---|
//! | `generic.NewCloudEventSourceClient` | [`SourceClient::builder`] → [`SourceClient::subscribe`] |
//! | `generic.NewCloudEventAgentClient` | [`AgentClient::builder`] → [`AgentClient::subscribe`] |
//! | `generic.ResourceObject` | [`ResourceObject`] |
//! | `generic.Lister` | [`Lister`] |
//! | `generic.StatusHashGetter` | [`StatusHasher`] (a plain `fn(&T) -> Result<String, HashError>` is one) |
//! | `generic.Codec` | [`Codec`] |
//! | `generic.ResourceHandler` | [`ResourceHandler`], or [`resource::handler_fn`] over an async closure |
//! | MQTT and gRPC options and config files | [`transport::mqtt::MqttConfig`] → `MqttTransport::builder`, [`transport::grpc::GrpcOptions`] → `GrpcTransport::new` |
//! | `work.NewClientHolderBuilder(config).WithClusterName(..).WithCodecs(..)` | [`work::client::WorkClient::builder`] |
//! | the source-side work client (a "TODO" in sdk-go's README) | [`work::source::SourceWorkClient::builder`] |
//!
//! Where sdk-go takes a context and callbacks, the clients here are built once, started with
//! `subscribe`, and stopped with `shutdown`; resyncs on (re)connection, classification of
//! received specs and status hash comparison happen inside them, as in sdk-go.
//!
//! # A source and an agent in one program
//!
//! A resource type of your own needs the four traits; here over the in-memory transport (use
//! `MqttTransport` or `GrpcTransport` to reach a real broker):
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use baton_cloudevents::resource::{HashError, handler_fn};
//! use baton_cloudevents::transport::memory::MemoryBroker;
//! use baton_cloudevents::{extensions as ext, Action, AgentClient, Codec, CodecError, DataType,
//!     Event, EventBuilder, EventType, ListError, ListOptions, Lister, ResourceAction,
//!     ResourceObject, SourceClient, SubResource, TransportRole};
//!
//! #[derive(Clone, Debug)]
//! struct Note { id: String, cluster: String, version: i64, text: String }
//!
//! impl ResourceObject for Note {
//!     fn resource_id(&self) -> &str { &self.id }
//!     fn resource_version(&self) -> i64 { self.version }
//!     fn deletion_timestamp(&self) -> Option<chrono::DateTime<chrono::Utc>> { None }
//! }
//!
//! /// The source's notes and the agent's: what each side holds.
//! #[derive(Clone, Default)]
//! struct Notes(Arc<Mutex<Vec<Note>>>);
//!
//! #[async_trait::async_trait]
//! impl Lister<Note> for Notes {
//!     async fn list(&self, _: &ListOptions) -> Result<Vec<Note>, ListError> {
//!         Ok(self.0.lock().unwrap().clone())
//!     }
//! }
//!
//! struct NoteCodec(DataType);
//!
//! impl Codec<Note> for NoteCodec {
//!     fn data_type(&self) -> &DataType { &self.0 }
//!     fn encode(&self, source: &str, ty: &EventType, note: &Note) -> Result<Event, CodecError> {
//!         Ok(EventBuilder::new(source, ty)
//!             .cluster_name(&note.cluster)
//!             .original_source("notes-source") // status events are addressed to the owner
//!             .resource_id(&note.id)
//!             .resource_version(note.version)
//!             .json_data(serde_json::to_vec(&note.text).map_err(|e| CodecError::Invalid(e.into()))?)
//!             .build()?)
//!     }
//!     fn decode(&self, event: &Event) -> Result<Note, CodecError> {
//!         let data = ext::data_bytes(event).ok_or(CodecError::MissingData)?;
//!         Ok(Note {
//!             id: ext::required_string(event, ext::RESOURCE_ID)?.to_owned(),
//!             cluster: ext::required_string(event, ext::CLUSTER_NAME)?.to_owned(),
//!             version: ext::integer(event, ext::RESOURCE_VERSION)?.unwrap_or(0),
//!             text: serde_json::from_slice(&data)
//!                 .map_err(|source| CodecError::Json { what: "a note", source })?,
//!         })
//!     }
//! }
//!
//! fn hash(note: &Note) -> Result<String, HashError> { Ok(note.text.clone()) }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let data_type: DataType = "io.example.v1.notes".parse()?;
//! let broker = MemoryBroker::new();
//!
//! // The agent: stores what it is sent and answers with a status.
//! let held = Notes::default();
//! let agent = Arc::new(
//!     AgentClient::builder("cluster1", Arc::new(broker.transport(TransportRole::agent("cluster1"))),
//!         Arc::new(held.clone()), hash)
//!     .codec(NoteCodec(data_type.clone()))
//!     .build());
//! let (applied_tx, mut applied) = tokio::sync::mpsc::channel(8);
//! let store = held.clone();
//! agent.subscribe(handler_fn(move |_action, note: Note| {
//!     let (store, applied_tx) = (store.clone(), applied_tx.clone());
//!     async move {
//!         store.0.lock().unwrap().push(note.clone());
//!         let _ = applied_tx.send(note).await;
//!         Ok(())
//!     }
//! })).await?;
//!
//! // The source: publishes a note and receives the agent's status.
//! let wanted = Notes::default();
//! let source = SourceClient::builder("notes-source",
//!         Arc::new(broker.transport(TransportRole::source("notes-source"))),
//!         Arc::new(wanted.clone()), hash)
//!     .codec(NoteCodec(data_type.clone()))
//!     .build();
//! let (status_tx, mut statuses) = tokio::sync::mpsc::channel(8);
//! source.subscribe(handler_fn(move |action, note: Note| {
//!     let status_tx = status_tx.clone();
//!     async move { let _ = status_tx.send((action, note)).await; Ok(()) }
//! })).await?;
//!
//! let note = Note { id: "n1".into(), cluster: "cluster1".into(), version: 1, text: "hi".into() };
//! wanted.0.lock().unwrap().push(note.clone());
//! source.publish(&EventType::new(data_type.clone(), SubResource::Spec, Action::CreateRequest), &note).await?;
//!
//! let mut got = applied.recv().await.ok_or("agent stopped")?;
//! got.text = "hi, applied".into();
//! agent.publish(&EventType::new(data_type, SubResource::Status, Action::UpdateRequest), &got).await?;
//! let (action, status) = statuses.recv().await.ok_or("source stopped")?;
//! assert_eq!((action, status.text.as_str()), (ResourceAction::StatusModified, "hi, applied"));
//! source.shutdown().await;
//! agent.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Modules
//!
//! - [`event_type`]: data types and event type strings (§2.2–§2.5).
//! - [`extensions`]: extension names, value kinds and receive-side coercions (§3).
//! - [`builder`]: [`EventBuilder`], the one way events are made (§2.1, C1, C3, C4).
//! - [`payload`]: the resync request bodies (§6.2, §6.3).
//! - [`resource`]: the traits a caller implements: [`ResourceObject`], [`Lister`],
//!   [`StatusHasher`], [`Codec`], [`ResourceHandler`].
//! - [`transport`]: the [`Transport`] trait; `mqtt` (feature `mqtt`), `grpc` (feature `grpc`),
//!   [`transport::memory`] (in-process, for tests).
//! - [`source`] / [`agent`]: the generic clients with the receive and resync rules of §5, §6.
//! - [`backoff`], [`stats`]: reconnect backoff settings and the clients' counters.
//! - [`work`]: ManifestWork payloads and codecs (§4), status hash (§6.4), sequence ids (§5.3),
//!   the agent-side work client with its watch stream and the source-side work client.
//!
//! # Features
//!
//! - `mqtt` (default): the MQTT v5 transport (rumqttc, rustls).
//! - `grpc` (default): the gRPC transport (tonic, prost) and the generated `CloudEventService`.
//!
//! Must not depend on the hub, the store, axum or sqlx: the crate is usable alone.

#![deny(missing_docs)]

pub mod agent;
pub mod backoff;
pub mod builder;
mod client_core;
pub mod error;
pub mod event_type;
pub mod extensions;
pub mod payload;
mod rate_limit;
pub mod resource;
pub mod source;
pub mod stats;
pub mod transport;
pub mod work;

pub use agent::AgentClient;
pub use builder::EventBuilder;
pub use error::{ClientError, CodecError};
pub use event_type::{Action, DataType, EventType, EventTypeError, SubResource};
pub use resource::{
    Codec, HandlerError, ListError, ListOptions, Lister, ResourceAction, ResourceHandler,
    ResourceObject, StatusHasher,
};
pub use source::SourceClient;
pub use transport::{Inbound, Transport, TransportError, TransportRole};

/// The trait that reads an [`Event`]'s attributes (`id()`, `source()`, `ty()`, `time()`...),
/// re-exported from `cloudevents-sdk` with it.
pub use ::cloudevents::AttributesReader;
/// The CloudEvent type from the `cloudevents-sdk` crate, re-exported so callers need not
/// depend on it directly.
pub use ::cloudevents::Event;
