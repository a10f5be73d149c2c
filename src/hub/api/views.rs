//! The JSON shapes of the REST API (requests and responses), with their OpenAPI schemas: one
//! type per shape. Conversions from the store's records live here too, so handlers stay thin.
//! The `baton` client (`crate::client`) sends and reads these same types.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::store::fleet::Connection;
use crate::store::{
    ChangeKind, ConditionTransition, Consumer, ConsumerHealth, Direction, Labels, OrderBy, RawJson,
    Resource, ResourceState,
};

pub const CONSUMERS_PATH: &str = "/api/v1/consumers";
pub const RESOURCES_PATH: &str = "/api/v1/resources";

/// `POST /consumers`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsumerCreate {
    /// DNS-1123 label; the cluster name on the wire.
    #[schema(
        min_length = 1,
        max_length = 63,
        pattern = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
    )]
    pub name: String,
    #[serde(default)]
    #[schema(value_type = super::schema::Labels)]
    pub labels: Labels,
}

/// `PATCH /consumers/{id or name}`: replaces the labels.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsumerPatch {
    #[schema(value_type = super::schema::Labels)]
    pub labels: Labels,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConsumerView {
    /// Always `Consumer`.
    pub kind: String,
    pub id: Uuid,
    pub href: String,
    pub name: String,
    #[schema(value_type = super::schema::Labels)]
    pub labels: Labels,
    /// Whether an agent of this cluster is subscribed to the built-in broker of any hub
    /// replica right now; null when the transport cannot tell (MQTT).
    pub connected: Option<bool>,
    /// The replica (instance id) whose broker has the agent, with several hubs on one
    /// PostgreSQL database (docs/ha.md); null otherwise or when no agent is connected.
    pub replica: Option<String>,
    /// When the agent connected to `replica`.
    pub connected_since: Option<DateTime<Utc>>,
    /// The last event any hub replica received from the agent (recorded every few seconds);
    /// null before the first.
    pub last_seen_at: Option<DateTime<Utc>>,
    /// Live resources whose current version the agent has not reported on yet.
    pub pending: i64,
    /// Resources whose `Applied` condition is `False`.
    pub failed: i64,
    /// Since when the oldest pending resource has waited (its last spec change); null when
    /// none is pending.
    pub oldest_pending_since: Option<DateTime<Utc>>,
    /// Connected (or the transport cannot tell), and no resource pending for longer than the
    /// hub's `--unhealthy-pending-after` (default 5m).
    pub healthy: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ConsumerView {
    /// The view of `consumer`, its connection (`connected`, `at`), its resources' `health`,
    /// and whether that makes it `healthy` (decided by the caller: `hub::health`).
    pub fn new(
        consumer: Consumer,
        connected: Option<bool>,
        at: Option<Connection>,
        health: ConsumerHealth,
        healthy: bool,
    ) -> Self {
        let replica = at.as_ref().and_then(|c| c.replica.clone());
        Self {
            kind: "Consumer".into(),
            href: format!("{CONSUMERS_PATH}/{}", consumer.id),
            id: consumer.id,
            name: consumer.name,
            labels: consumer.labels,
            connected,
            connected_since: at
                .as_ref()
                .and_then(|c| c.since)
                .filter(|_| replica.is_some()),
            replica,
            last_seen_at: consumer.last_seen_at,
            pending: health.pending,
            failed: health.failed,
            oldest_pending_since: health.oldest_pending_since,
            healthy,
            created_at: consumer.created_at,
            updated_at: consumer.updated_at,
        }
    }
}

/// Filters of `GET /consumers`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsumerFilterParams {
    /// Only consumers whose `healthy` is this.
    pub healthy: Option<bool>,
}

/// `POST /resources`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourceCreate {
    /// The consumer (cluster) this resource is applied on.
    #[schema(
        min_length = 1,
        max_length = 63,
        pattern = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
    )]
    pub consumer_name: String,
    /// Optional name, unique per consumer; the ManifestWork name on the agent.
    #[schema(
        min_length = 1,
        max_length = 253,
        pattern = "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
    )]
    pub name: Option<String>,
    /// Kubernetes objects (each with apiVersion, kind and metadata.name), at most 500 KiB
    /// in all.
    #[schema(value_type = Vec<super::schema::Manifest>, min_items = 1, max_items = 10000)]
    pub manifests: RawJson,
    /// ManifestWork `deleteOption`, e.g. `{"propagationPolicy": "Orphan"}`.
    #[schema(value_type = Option<Object>)]
    pub delete_option: Option<RawJson>,
    /// ManifestWork `manifestConfigs` (feedback rules, update strategy per resource).
    #[schema(value_type = Option<Vec<Object>>)]
    pub manifest_configs: Option<RawJson>,
    #[serde(default)]
    #[schema(value_type = super::schema::Labels)]
    pub labels: Labels,
    #[serde(default)]
    #[schema(value_type = super::schema::Labels)]
    pub annotations: Labels,
}

/// `PUT /resources/{id}`: the whole new spec, with the version it replaces.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourceUpdate {
    /// The version this update is based on; 409 if the resource has moved on.
    #[schema(minimum = 1)]
    pub version: i64,
    #[schema(value_type = Vec<super::schema::Manifest>, min_items = 1, max_items = 10000)]
    pub manifests: RawJson,
    #[schema(value_type = Option<Object>)]
    pub delete_option: Option<RawJson>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub manifest_configs: Option<RawJson>,
    #[serde(default)]
    #[schema(value_type = super::schema::Labels)]
    pub labels: Labels,
    #[serde(default)]
    #[schema(value_type = super::schema::Labels)]
    pub annotations: Labels,
}

// A resource as every endpoint answers it (create, get, list, update, delete). The JSON
// documents (manifests, options, status) are written as the store holds them: a response is a
// copy of the stored text, never a parse and a re-serialisation of every object. (A `//`
// comment: a doc comment would become the schema's description.)
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ResourceView {
    /// Always `Resource`.
    pub kind: String,
    /// The `resourceid` on the wire.
    pub id: Uuid,
    pub href: String,
    pub consumer_name: String,
    pub name: Option<String>,
    /// +1 on every spec change; the `resourceversion` on the wire.
    pub version: i64,
    #[schema(value_type = Vec<Object>)]
    pub manifests: RawJson,
    #[schema(value_type = Option<Object>)]
    pub delete_option: Option<RawJson>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub manifest_configs: Option<RawJson>,
    #[schema(value_type = super::schema::Labels)]
    pub labels: Labels,
    #[schema(value_type = super::schema::Labels)]
    pub annotations: Labels,
    /// The agent's ManifestWork status exactly as reported (`conditions`, `resourceStatus`),
    /// null before the first report.
    #[schema(value_type = Option<Object>)]
    pub status: Option<RawJson>,
    pub status_hash: Option<String>,
    pub status_updated_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Set while deletion waits for the agent's confirmation.
    pub deleted_at: Option<DateTime<Utc>>,
}

impl From<Resource> for ResourceView {
    fn from(r: Resource) -> Self {
        let (status, status_hash, status_updated_at) = match r.status {
            Some(s) => (Some(s.status), Some(s.hash), Some(s.updated_at)),
            None => (None, None, None),
        };
        Self {
            kind: "Resource".into(),
            href: format!("{RESOURCES_PATH}/{}", r.id),
            id: r.id,
            consumer_name: r.consumer_name,
            name: r.name,
            version: r.version,
            manifests: r.spec.manifests,
            delete_option: r.spec.delete_option,
            manifest_configs: r.spec.manifest_configs,
            labels: r.spec.labels,
            annotations: r.spec.annotations,
            status,
            status_hash,
            status_updated_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
            deleted_at: r.deleted_at,
        }
    }
}

/// A page of a list.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ListView<T> {
    /// `ConsumerList` or `ResourceList`.
    pub kind: String,
    /// The page number, from 1.
    #[schema(minimum = 1)]
    pub page: u32,
    /// Items on this page.
    pub size: u32,
    /// Matches in all pages.
    pub total: i64,
    pub items: Vec<T>,
}

/// Paging and ordering of a list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page number, from 1 (default 1).
    #[param(minimum = 1, maximum = 4294967295_u64, format = Int64)]
    pub page: Option<u32>,
    /// Page size, 1..=1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub size: Option<u32>,
    /// Sort key (default `created_at`).
    pub order_by: Option<OrderBy>,
    /// Sort direction (default `asc`).
    pub direction: Option<Direction>,
}

/// `?watch=true` on a list: a stream of changes instead of a page. Not a parameter of the
/// documented list operations (a client generator and the contract fuzzer would wait on the
/// endless stream); the documented watch operations take `since` alone ([`WatchSince`]).
#[derive(Debug, Deserialize)]
pub struct WatchParams {
    /// Stream `text/event-stream` watch events instead of answering a page.
    pub watch: Option<bool>,
    /// Resume after this event id (what `Last-Event-ID` says; the header wins).
    pub since: Option<i64>,
}

/// Where a watch resumes.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WatchSince {
    /// Resume after this event id (the `Last-Event-ID` header wins); without either, the
    /// watch starts at the current head.
    #[param(minimum = 0)]
    pub since: Option<i64>,
}

/// Status filters of `GET /resources` (and its watch). Documented here, read from the raw
/// query by `validate::status_filter` (`condition` repeats, which the derived query parsing
/// refuses).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // The fields are the documentation; the values are read from the query.
pub struct StatusFilterParams {
    /// `TYPE=STATUS` of a top-level condition of the reported status, e.g. `Applied=False`;
    /// repeatable, all must match.
    #[param(explode = true, style = Form, inline, value_type = Option<Vec<String>>, pattern = "^[^=\\u0000]+=[^=\\u0000]+$")]
    pub condition: Option<Vec<String>>,
    /// `pending`: live, and the agent has not reported on the current version;
    /// `deleting`: marked for deletion, not confirmed yet.
    pub state: Option<ResourceState>,
}

/// An event of `GET /resources?watch=true` (`text/event-stream`): the SSE `event` is `type`,
/// its `id` is `position`, its `data` this object. A stream the hub ends gets a last
/// `ERROR` event instead (`{"type": "ERROR", "reason": ...}`): resume with the last id.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ResourceWatchEvent {
    #[serde(rename = "type")]
    pub kind: ChangeKind,
    /// The position in the change feed (the event id).
    pub position: i64,
    pub resource_id: Uuid,
    pub consumer_name: String,
    pub name: Option<String>,
    /// The resource as it is when the hub reads the change (null once its row is gone): a
    /// later state when further changes followed quickly, each with an event of its own.
    pub object: Option<ResourceView>,
}

/// An event of `GET /consumers?watch=true` (`text/event-stream`): `MODIFIED` when the labels,
/// the connection or the health changed. A new stream starts with an `ADDED` event per
/// consumer (the current state), so a reconnect needs no resume position.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConsumerWatchEvent {
    #[serde(rename = "type")]
    pub kind: ChangeKind,
    /// This hub's count of consumer changes (the event id).
    pub position: i64,
    pub object: ConsumerView,
}

/// `GET /resources/{id}/history`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct HistoryView {
    /// Always `ConditionHistory`.
    pub kind: String,
    /// Newest first, the last 100 transitions.
    pub items: Vec<TransitionView>,
}

/// A change of a top-level condition's status or reason, as the agent reported it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TransitionView {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    pub reason: String,
    pub message: String,
    /// The work generation (resource version) the condition was computed for; 0 if unset.
    pub observed_generation: i64,
    /// When the hub stored the report.
    pub time: DateTime<Utc>,
}

impl From<ConditionTransition> for TransitionView {
    fn from(t: ConditionTransition) -> Self {
        Self {
            type_: t.type_,
            status: t.status,
            reason: t.reason,
            message: t.message,
            observed_generation: t.observed_generation,
            time: t.at,
        }
    }
}

/// Filters of `GET /resources`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ResourceFilterParams {
    /// Only this consumer's resources.
    #[param(
        min_length = 1,
        max_length = 63,
        pattern = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
    )]
    pub consumer_name: Option<String>,
    /// Only the resource with this name.
    #[param(
        min_length = 1,
        max_length = 253,
        pattern = "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
    )]
    pub name: Option<String>,
    /// Label selector: comma-separated `key=value` pairs, all must match.
    #[param(pattern = "^(\\s*|[^,\\u0000]*=[^,\\u0000]*)(,(\\s*|[^,\\u0000]*=[^,\\u0000]*))*$")]
    pub labels: Option<String>,
}
