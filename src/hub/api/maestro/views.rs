//! Maestro's JSON shapes (openshift-online/maestro `openapi/openapi.yaml` and its presenters),
//! built from the same store records as baton's own views: `Consumer`, `ResourceBundle`, their
//! lists (`kind`, `page`, `size`, `total`, `items`) and the query and bodies they take.
//! Registered in the OpenAPI document as `maestro.*` schemas.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::hub::api::storable::{self, Storable};
use crate::hub::convert;
use crate::hub::error::ApiError;
use crate::store::{Consumer, Labels, RawJson, Resource};
use crate::work::model::{Condition, ManifestCondition, ObjectMeta};

/// Where Maestro's API lives; every `href` starts here.
pub const BASE_PATH: &str = "/api/maestro/v1";

/// A consumer as Maestro presents it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = maestro::Consumer)]
pub struct MaestroConsumer {
    pub id: Uuid,
    /// Always `Consumer`.
    pub kind: String,
    pub href: String,
    pub name: String,
    /// Left out when there are none, as Maestro does.
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    #[schema(value_type = crate::hub::api::schema::Labels)]
    pub labels: Labels,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Consumer> for MaestroConsumer {
    fn from(c: Consumer) -> Self {
        Self {
            kind: "Consumer".into(),
            href: format!("{BASE_PATH}/consumers/{}", c.id),
            id: c.id,
            name: c.name,
            labels: c.labels,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

// A resource bundle as Maestro presents it: `metadata` is the ManifestWork's metadata, `status`
// the agent's last report in Maestro's layout. (A `//` comment: a doc comment would become
// the schema's description.)
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = maestro::ResourceBundle)]
pub struct ResourceBundle {
    pub id: Uuid,
    /// Always `ResourceBundle`.
    pub kind: String,
    pub href: String,
    /// The ManifestWork name; the id for a resource created without one.
    pub name: String,
    pub consumer_name: String,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Set once deletion was requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<DateTime<Utc>>,
    /// name, namespace (the consumer), uid, resourceVersion, generation, creationTimestamp,
    /// deletionTimestamp, labels, annotations.
    #[schema(value_type = Object)]
    pub metadata: ObjectMeta,
    #[schema(value_type = Vec<Object>)]
    pub manifests: RawJson,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub delete_option: Option<RawJson>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Vec<Object>)]
    pub manifest_configs: Option<RawJson>,
    /// Left out before the agent's first report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub status: Option<BundleStatus>,
}

/// Maestro's layout of a bundle's status (its `ResourceBundleStatus`): the version the
/// agent last applied, the report's sequence id, the work's conditions and one status per
/// manifest.
#[derive(Debug, Serialize, Deserialize)]
pub struct BundleStatus {
    #[serde(rename = "ObservedVersion")]
    pub observed_version: i64,
    #[serde(rename = "SequenceID")]
    pub sequence_id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(
        default,
        rename = "resourceStatus",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub resource_status: Vec<ManifestCondition>,
}

impl TryFrom<Resource> for ResourceBundle {
    type Error = ApiError;

    fn try_from(r: Resource) -> Result<Self, ApiError> {
        let status = match &r.status {
            Some(reported) => {
                let work = convert::status_of(reported).map_err(|err| {
                    ApiError::Internal(format!("resource {}: stored status: {err}", r.id))
                })?;
                // The agent stamps each condition with the generation it applied.
                let observed_version = work
                    .conditions
                    .iter()
                    .map(|c| c.observed_generation)
                    .max()
                    .unwrap_or(0);
                Some(BundleStatus {
                    observed_version,
                    sequence_id: reported.sequence_id.clone(),
                    conditions: work.conditions,
                    resource_status: work.resource_status.manifests,
                })
            }
            None => None,
        };
        let metadata = convert::meta_of(&r);
        Ok(Self {
            kind: "ResourceBundle".into(),
            href: format!("{BASE_PATH}/resource-bundles/{}", r.id),
            id: r.id,
            name: metadata.name.clone(),
            consumer_name: r.consumer_name,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
            deleted_at: r.deleted_at,
            metadata,
            manifests: r.spec.manifests,
            delete_option: r.spec.delete_option,
            manifest_configs: r.spec.manifest_configs,
            status,
        })
    }
}

/// A page of consumers, as Maestro answers it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = maestro::ConsumerList)]
pub struct ConsumerList {
    /// Always `ConsumerList`.
    pub kind: String,
    pub page: u32,
    /// Items on this page.
    pub size: u32,
    /// Matches in all pages.
    pub total: i64,
    pub items: Vec<MaestroConsumer>,
}

/// A page of resource bundles, as Maestro answers it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = maestro::ResourceBundleList)]
pub struct ResourceBundleList {
    /// Always `ResourceBundleList`.
    pub kind: String,
    pub page: u32,
    /// Items on this page.
    pub size: u32,
    /// Matches in all pages.
    pub total: i64,
    pub items: Vec<ResourceBundle>,
}

/// `POST /consumers`: Maestro's `Consumer`, of which a client sets `name` and `labels`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = maestro::ConsumerCreate)]
pub struct ConsumerCreate {
    /// Assigned by the hub: must be left out (or empty).
    #[schema(max_length = 0)]
    pub id: Option<String>,
    /// DNS-1123 label; the cluster name on the wire.
    #[schema(
        min_length = 1,
        max_length = 63,
        pattern = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
    )]
    pub name: String,
    #[serde(default)]
    #[schema(value_type = Option<crate::hub::api::schema::Labels>)]
    pub labels: Option<Labels>,
}

/// `PATCH /consumers/{id}`: Maestro's `ConsumerPatchRequest`; labels, when given, replace the
/// consumer's.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = maestro::ConsumerPatchRequest)]
pub struct ConsumerPatch {
    #[serde(default)]
    #[schema(value_type = Option<crate::hub::api::schema::Labels>)]
    pub labels: Option<Labels>,
}

/// Paging, ordering and search of a list, as Maestro takes them.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Page number, from 1 (default 1).
    #[param(minimum = 1, maximum = 4294967295_u64, format = Int64)]
    pub page: Option<u32>,
    /// Page size, 0..=1000 (default 100; 0 counts the matches and lists none).
    #[param(minimum = 0, maximum = 1000)]
    pub size: Option<u32>,
    /// Maestro's search language, the part its clients use (docs/maestro.md): `=`, `!=`,
    /// `in (...)`, `not in (...)`, `and`, `or`, parentheses, on the list's fields.
    #[param(max_length = 2048)]
    pub search: Option<String>,
    /// `created_at`, `updated_at` or `name`, then `asc` (default) or `desc`.
    #[serde(rename = "orderBy")]
    #[param(rename = "orderBy", max_length = 64)]
    pub order_by: Option<String>,
}

impl Storable for ListParams {
    fn check(&self) -> Result<(), ApiError> {
        storable::optional_text("search", self.search.as_deref())?;
        storable::optional_text("orderBy", self.order_by.as_deref())
    }
}

impl Storable for ConsumerCreate {
    fn check(&self) -> Result<(), ApiError> {
        storable::optional_text("id", self.id.as_deref())?;
        storable::text("name", &self.name)?;
        self.labels
            .as_ref()
            .map_or(Ok(()), |l| storable::labels("labels", l))
    }
}

impl Storable for ConsumerPatch {
    fn check(&self) -> Result<(), ApiError> {
        self.labels
            .as_ref()
            .map_or(Ok(()), |l| storable::labels("labels", l))
    }
}
