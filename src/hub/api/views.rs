//! The JSON shapes of the REST API (requests and responses), with their OpenAPI schemas.
//! Conversions from the store's records live here too, so handlers stay thin.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::store::fleet::Connection;
use crate::store::{Consumer, Direction, Labels, OrderBy, RawJson, Resource, ResourceDoc};

pub const CONSUMERS_PATH: &str = "/api/v1/consumers";
pub const RESOURCES_PATH: &str = "/api/v1/resources";

/// `POST /consumers`.
#[derive(Debug, Deserialize, ToSchema)]
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
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsumerPatch {
    #[schema(value_type = super::schema::Labels)]
    pub labels: Labels,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
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
    /// When a replica last saw the agent connected (kept after it leaves).
    pub last_seen: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ConsumerView {
    pub fn new(consumer: Consumer, connected: Option<bool>, at: Option<Connection>) -> Self {
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
            last_seen: at.map(|c| c.last_seen),
            created_at: consumer.created_at,
            updated_at: consumer.updated_at,
        }
    }
}

/// `POST /resources`.
#[derive(Debug, Deserialize, ToSchema)]
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
#[derive(Debug, Deserialize, ToSchema)]
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
    pub manifests: Vec<Value>,
    #[schema(value_type = Option<Object>)]
    pub delete_option: Option<Value>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub manifest_configs: Option<Value>,
    #[schema(value_type = super::schema::Labels)]
    pub labels: Labels,
    #[schema(value_type = super::schema::Labels)]
    pub annotations: Labels,
    /// The agent's ManifestWork status exactly as reported (`conditions`, `resourceStatus`),
    /// null before the first report.
    #[schema(value_type = Option<Object>)]
    pub status: Option<Value>,
    pub status_hash: Option<String>,
    pub status_updated_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Set while deletion waits for the agent's confirmation.
    pub deleted_at: Option<DateTime<Utc>>,
}

/// The typed view of a resource (clients reading a response, tests). The hub itself answers
/// with [`ResourceDocView`], which writes the same JSON without parsing the documents.
impl From<Resource> for ResourceView {
    fn from(r: Resource) -> Self {
        let value = |raw: &RawJson| serde_json::from_str(raw.get()).unwrap_or(Value::Null);
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
            manifests: serde_json::from_str(r.spec.manifests.get()).unwrap_or_default(),
            delete_option: r.spec.delete_option.as_ref().map(value),
            manifest_configs: r.spec.manifest_configs.as_ref().map(value),
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

/// A list item: the same JSON object as [`ResourceView`] (same fields, same order, same
/// schema), serialised straight from a [`ResourceDoc`] so the stored documents are copied into
/// the response instead of being parsed and re-serialised.
#[derive(Debug, Serialize)]
pub struct ResourceDocView {
    pub kind: &'static str,
    pub id: Uuid,
    pub href: String,
    pub consumer_name: String,
    pub name: Option<String>,
    pub version: i64,
    pub manifests: RawJson,
    pub delete_option: Option<RawJson>,
    pub manifest_configs: Option<RawJson>,
    pub labels: Labels,
    pub annotations: Labels,
    pub status: Option<RawJson>,
    pub status_hash: Option<String>,
    pub status_updated_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

/// A single resource as the API answers it (create, get, update, delete): the spec's
/// documents are written as they are (the request's or the stored text); only a reported
/// status, which the store hands out parsed, is written from its value.
impl From<Resource> for ResourceDocView {
    fn from(r: Resource) -> Self {
        ResourceDoc::from(r).into()
    }
}

impl From<ResourceDoc> for ResourceDocView {
    fn from(r: ResourceDoc) -> Self {
        let (status, status_hash, status_updated_at) = match r.status {
            Some((status, hash, at)) => (Some(status), Some(hash), Some(at)),
            None => (None, None, None),
        };
        Self {
            kind: "Resource",
            href: format!("{RESOURCES_PATH}/{}", r.id),
            id: r.id,
            consumer_name: r.consumer_name,
            name: r.name,
            version: r.version,
            manifests: r.manifests,
            delete_option: r.delete_option,
            manifest_configs: r.manifest_configs,
            labels: r.labels,
            annotations: r.annotations,
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

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;
    use crate::store::{ReportedStatus, ResourceSpec};

    /// A listed item is byte for byte what `GET /resources/{id}` writes: same fields, same order.
    #[test]
    fn doc_view_writes_the_same_json_as_resource_view() {
        let at = |s: i64| {
            Utc.timestamp_opt(1_700_000_000 + s, 0)
                .single()
                .expect("time")
        };
        let (manifests, option, configs, status) = (
            json!([{"kind": "ConfigMap", "data": {"v": "é \"q\""}}]),
            json!({"propagationPolicy": "Orphan"}),
            json!([{"resourceIdentifier": {"name": "x"}}]),
            json!({"conditions": [{"type": "Applied"}]}),
        );
        let raw = |v: &Value| serde_json::value::to_raw_value(v).expect("raw");
        let labels = Labels::from([("env".to_owned(), "prod".to_owned())]);
        let resource = Resource {
            id: Uuid::from_u128(7),
            consumer_id: Uuid::from_u128(1),
            consumer_name: "c1".into(),
            name: Some("web".into()),
            version: 3,
            spec: ResourceSpec {
                labels: labels.clone(),
                ..ResourceSpec::from_values(
                    manifests.as_array().map(Vec::as_slice).unwrap_or_default(),
                    Some(&option),
                    Some(&configs),
                )
                .expect("spec")
            },
            status: Some(ReportedStatus {
                status: status.clone(),
                hash: "h".into(),
                sequence_id: "s".into(),
                updated_at: at(2),
            }),
            created_at: at(0),
            updated_at: at(1),
            deleted_at: Some(at(3)),
        };
        let doc = ResourceDoc {
            id: resource.id,
            consumer_name: "c1".into(),
            name: Some("web".into()),
            version: 3,
            manifests: raw(&manifests),
            delete_option: Some(raw(&option)),
            manifest_configs: Some(raw(&configs)),
            labels,
            annotations: Labels::new(),
            status: Some((raw(&status), "h".into(), at(2))),
            created_at: at(0),
            updated_at: at(1),
            deleted_at: Some(at(3)),
        };
        let view = serde_json::to_string(&ResourceView::from(resource.clone())).expect("view");
        let doc_view = serde_json::to_string(&ResourceDocView::from(doc)).expect("doc view");
        assert_eq!(doc_view, view);
        let answered = serde_json::to_string(&ResourceDocView::from(resource)).expect("answer");
        assert_eq!(
            answered, view,
            "a single resource is answered with the same JSON"
        );
    }
}
