//! What a caller plugs into the generic clients: the resource type ([`ResourceObject`]), where
//! the current objects come from ([`Lister`]), how a status is hashed ([`StatusHasher`]), how
//! objects become events and back ([`Codec`]), and who is told about changes
//! ([`ResourceHandler`]).

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::Event;
use super::error::CodecError;
pub use super::error::{HashError, ListError};
use super::event_type::{DataType, EventType};

/// A resource that travels as CloudEvents: identified by a stable id, versioned by an integer
/// the source increments on every spec change (§1.3).
pub trait ResourceObject: Clone + Send + Sync + 'static {
    /// The `resourceid` (§1.3); opaque to everyone but its source.
    fn resource_id(&self) -> &str;
    /// The `resourceversion`; 0 means unversioned (§5.1).
    fn resource_version(&self) -> i64;
    /// Set while the resource is being deleted.
    fn deletion_timestamp(&self) -> Option<DateTime<Utc>>;
    /// Agent side: the source that owns the resource (the `source` of its spec events), when
    /// known. An agent ignores specs about a resource from any other source, so that one source
    /// answering a resync for ids it does not know cannot delete another source's work.
    fn owner_source(&self) -> Option<&str> {
        None
    }
    /// Source side: the cluster the resource is for, when the object knows it; lets a source
    /// ask each cluster about its own resources instead of broadcasting the whole fleet's.
    fn cluster_name(&self) -> Option<&str> {
        None
    }
}

/// Which objects a [`Lister`] should return. Empty strings mean "all".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListOptions {
    /// Source side: the cluster a resync is for (`""` = every cluster).
    pub cluster_name: String,
    /// Agent side: the source a resync is addressed to (`""` = every source).
    pub source: String,
    /// The data type listed.
    pub data_type: DataType,
}

/// The current set of objects: the source's desired state, or the agent's applied state. The
/// clients read it to answer resyncs and (agent) to classify incoming specs.
#[async_trait]
pub trait Lister<T: ResourceObject>: Send + Sync + 'static {
    /// The objects matching `options`.
    async fn list(&self, options: &ListOptions) -> Result<Vec<T>, ListError>;

    /// Source side: the clusters a resync of every cluster covers, when the lister can name
    /// them. The source client then lists and asks one cluster at a time, so it never holds
    /// the whole fleet's objects at once (100,000 decoded works at 10,000 clusters × 10).
    /// `None`, the default: one list of every cluster's objects.
    async fn clusters(&self) -> Result<Option<Vec<String>>, ListError> {
        Ok(None)
    }

    /// One object by resource id. The default lists and searches; stores should override it.
    async fn get(&self, resource_id: &str, options: &ListOptions) -> Result<Option<T>, ListError> {
        Ok(self
            .list(options)
            .await?
            .into_iter()
            .find(|o| o.resource_id() == resource_id))
    }
}

/// The status hash of an object (§6.4), compared during status resync.
pub trait StatusHasher<T>: Send + Sync + 'static {
    /// The hash of `object`'s status; equal hashes mean equal statuses.
    fn status_hash(&self, object: &T) -> Result<String, HashError>;
}

impl<T, F> StatusHasher<T> for F
where
    F: Fn(&T) -> Result<String, HashError> + Send + Sync + 'static,
{
    fn status_hash(&self, object: &T) -> Result<String, HashError> {
        self(object)
    }
}

/// Turns objects of one data type into events and back.
pub trait Codec<T>: Send + Sync + 'static {
    /// The data type this codec handles.
    fn data_type(&self) -> &DataType;
    /// Builds the event of `event_type` for `object`, sent by `source`.
    fn encode(&self, source: &str, event_type: &EventType, object: &T)
    -> Result<Event, CodecError>;
    /// Reads an object out of a received event.
    fn decode(&self, event: &Event) -> Result<T, CodecError>;
}

/// What happened to a resource, as the clients tell their handlers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceAction {
    /// Agent: a resource it did not have.
    Added,
    /// Agent: a newer spec of a resource it has.
    Modified,
    /// Agent: the source is deleting the resource.
    Deleted,
    /// Source: an agent reported a status.
    StatusModified,
}

/// A handler refused or failed to process an object; the client logs and counts it and goes on.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HandlerError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

impl HandlerError {
    /// Wraps the handler's own error.
    pub fn new(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self(Box::new(err))
    }

    /// A handler error from a message.
    pub fn msg(message: impl Into<String>) -> Self {
        Self(message.into().into())
    }
}

/// Receives every change the client decides to report. May fail; failures never stop the loop.
#[async_trait]
pub trait ResourceHandler<T>: Send + Sync + 'static {
    /// Told about one change; an error is logged and counted, never retried.
    async fn handle(&self, action: ResourceAction, object: T) -> Result<(), HandlerError>;
}

/// A handler from an async closure: `handler_fn(|action, obj| async move { ... })`.
pub fn handler_fn<T, F, Fut>(f: F) -> Arc<dyn ResourceHandler<T>>
where
    T: Send + 'static,
    F: Fn(ResourceAction, T) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
{
    Arc::new(FnHandler(f))
}

struct FnHandler<F>(F);

#[async_trait]
impl<T, F, Fut> ResourceHandler<T> for FnHandler<F>
where
    T: Send + 'static,
    F: Fn(ResourceAction, T) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
{
    async fn handle(&self, action: ResourceAction, object: T) -> Result<(), HandlerError> {
        (self.0)(action, object).await
    }
}
