//! ManifestWork payloads, codecs, status hash and the agent-side work client (docs/protocol.md §4,
//! §5, §6.4).
//!
//! - [`model`]: the ManifestWork and the event data shapes, with OCM's JSON names.
//! - [`codec`]: source- and agent-side codecs for `manifestbundles` and `manifests`.
//! - [`data_types`]: which of the two an agent serves ([`WorkDataType`]).
//! - [`validation`]: the manifest checks of §4.5.
//! - [`status_hash`] (with [`go_json`]): the v1 status hash of §6.4.
//! - [`sequence`]: snowflake sequence ids (§5.3).
//! - [`source_status`]: the source-side status rules of §5.2, as a pure function.
//! - [`client`]: the agent-side work client: a store keyed by resource id with a watch stream.
//! - [`source`]: the source-side work client: create, update and delete works, receive status.
//!
//! Builds on the SDK core ([the crate root](crate)); must not know the hub or its store.

pub mod client;
pub mod codec;
pub mod data_types;
pub mod go_json;
pub mod model;
pub mod sequence;
pub mod source;
pub mod source_status;
pub mod status_hash;
pub mod validation;

pub use codec::{BundleAgentCodec, BundleSourceCodec, ManifestAgentCodec, ManifestSourceCodec};
pub use data_types::WorkDataType;
pub use model::ManifestWork;
pub use source::{SourceWatchEvent, SourceWorkClient};
pub use status_hash::WorkStatusHasher;
