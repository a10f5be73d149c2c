//! The hub's domain records as the store hands them out, and the inputs it takes. Plain data:
//! validation of names happens once, in [`ConsumerName`]; manifests are validated by the hub
//! before they reach the store.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::search::{ConsumerField, ResourceField, Search};

/// Labels or annotations.
pub type Labels = BTreeMap<String, String>;

/// A consumer is a managed cluster: its name is the SDK's wire-level cluster name.
pub use crate::cloudevents::{ClusterName as ConsumerName, InvalidClusterName as InvalidName};

/// How a consumer is named in a request path: its id or its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsumerKey {
    Id(Uuid),
    Name(String),
}

impl ConsumerKey {
    pub fn parse(s: &str) -> Self {
        match Uuid::parse_str(s) {
            Ok(id) => Self::Id(id),
            Err(_) => Self::Name(s.to_owned()),
        }
    }
}

impl fmt::Display for ConsumerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id(id) => write!(f, "{id}"),
            Self::Name(name) => f.write_str(name),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Consumer {
    pub id: Uuid,
    pub name: String,
    pub labels: Labels,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The last event a hub received from the cluster's agent (recorded in batches, so up to
    /// a few seconds late); `None` before the first.
    pub last_seen_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct NewConsumer {
    pub name: ConsumerName,
    pub labels: Labels,
}

/// The desired state of a resource: what the source sends in its spec events. The documents
/// are JSON text, kept as the request wrote it (compact, see the API's `raw` module) and as
/// the store holds it: a create or an update stores, answers and publishes them without
/// building a tree of every object.
#[derive(Debug, Clone)]
pub struct ResourceSpec {
    /// The JSON array of manifests.
    pub manifests: RawJson,
    pub delete_option: Option<RawJson>,
    pub manifest_configs: Option<RawJson>,
    pub labels: Labels,
    pub annotations: Labels,
}

impl ResourceSpec {
    /// A spec from JSON values (tests, tools): rendered compactly.
    pub fn from_values(
        manifests: &[Value],
        delete_option: Option<&Value>,
        manifest_configs: Option<&Value>,
    ) -> Result<Self, serde_json::Error> {
        Ok(Self {
            manifests: serde_json::value::to_raw_value(manifests)?,
            delete_option: delete_option
                .map(serde_json::value::to_raw_value)
                .transpose()?,
            manifest_configs: manifest_configs
                .map(serde_json::value::to_raw_value)
                .transpose()?,
            labels: Labels::new(),
            annotations: Labels::new(),
        })
    }

    /// The same desired state: the same text, or documents that parse to the same JSON (key
    /// order and spacing aside). An update with an identical spec changes nothing.
    pub fn same_as(&self, other: &Self) -> bool {
        self.labels == other.labels
            && self.annotations == other.annotations
            && same_json(Some(&self.manifests), Some(&other.manifests))
            && same_json(self.delete_option.as_ref(), other.delete_option.as_ref())
            && same_json(
                self.manifest_configs.as_ref(),
                other.manifest_configs.as_ref(),
            )
    }
}

/// Text equality, else equality of the parsed values (only parsed when the texts differ).
fn same_json(a: Option<&RawJson>, b: Option<&RawJson>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) if a.get() == b.get() => true,
        (Some(a), Some(b)) => {
            let parse = |raw: &RawJson| serde_json::from_str::<Value>(raw.get()).ok();
            matches!((parse(a), parse(b)), (Some(x), Some(y)) if x == y)
        }
        _ => false,
    }
}

/// Same text, same spec.
impl PartialEq for ResourceSpec {
    fn eq(&self, other: &Self) -> bool {
        fn text(raw: &Option<RawJson>) -> Option<&str> {
            raw.as_ref().map(|r| r.get())
        }
        self.manifests.get() == other.manifests.get()
            && text(&self.delete_option) == text(&other.delete_option)
            && text(&self.manifest_configs) == text(&other.manifest_configs)
            && self.labels == other.labels
            && self.annotations == other.annotations
    }
}

#[derive(Debug, Clone)]
pub struct NewResource {
    /// The id to give it (a gRPC source names its resources, `resourceid`); `None`: a new one.
    pub id: Option<Uuid>,
    pub consumer_name: String,
    pub name: Option<String>,
    /// The source that owns it; `None` for a REST create (owned by the hub's source id).
    pub source: Option<String>,
    pub spec: ResourceSpec,
}

/// What the agent last reported for a resource.
#[derive(Debug, Clone)]
pub struct ReportedStatus {
    /// The ManifestWork status as the agent reported it, JSON text as stored.
    pub status: RawJson,
    pub hash: String,
    pub sequence_id: String,
    pub updated_at: DateTime<Utc>,
    /// The resource version it reports on; `None` for a status stored before the hub kept it.
    pub version: Option<i64>,
}

/// Same text, same status.
impl PartialEq for ReportedStatus {
    fn eq(&self, other: &Self) -> bool {
        self.status.get() == other.status.get()
            && self.hash == other.hash
            && self.sequence_id == other.sequence_id
            && self.updated_at == other.updated_at
            && self.version == other.version
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    pub id: Uuid,
    pub consumer_id: Uuid,
    pub consumer_name: String,
    pub name: Option<String>,
    /// The CloudEvent source id of the client that created it through the gRPC source API;
    /// `None` when it was created through the REST API, so owned by the hub's `--source-id`.
    pub source: Option<String>,
    /// +1 on every spec change; the `resourceversion` on the wire.
    pub version: i64,
    pub spec: ResourceSpec,
    pub status: Option<ReportedStatus>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Set once deletion was requested; the row goes when the agent confirms.
    pub deleted_at: Option<DateTime<Utc>>,
}

/// A JSON document exactly as the store holds it, never parsed into a tree: the read path
/// splices it into the API's response as is.
pub type RawJson = Box<serde_json::value::RawValue>;

impl Resource {
    /// Where the resource is in its life: deleting, pending (live, and no status reports on
    /// its current version), or neither.
    pub fn state(&self) -> Option<ResourceState> {
        if self.deleted_at.is_some() {
            return Some(ResourceState::Deleting);
        }
        let reported = self
            .status
            .as_ref()
            .and_then(|s| s.version)
            .is_some_and(|v| v >= self.version);
        (!reported).then_some(ResourceState::Pending)
    }
}

/// Which resources to list.
#[derive(Debug, Clone, Default)]
pub struct ResourceFilter {
    pub consumer_name: Option<String>,
    pub name: Option<String>,
    /// All of these labels must match (`key=value`).
    pub labels: Labels,
    /// All of these top-level conditions of the reported status must match.
    pub conditions: Vec<ConditionFilter>,
    pub state: Option<ResourceState>,
    /// Only the resources this source owns.
    pub source: Option<SourceFilter>,
    /// Only the resources this search matches.
    pub search: Option<Search<ResourceField>>,
    /// The resource's consumer must carry all of these labels (a scoped caller's reach).
    pub consumer_labels: Labels,
}

/// Which consumers to list.
#[derive(Debug, Clone, Default)]
pub struct ConsumerFilter {
    /// All of these labels must match (`key=value`; a scoped caller's reach).
    pub labels: Labels,
    /// Only the consumers this search matches.
    pub search: Option<Search<ConsumerField>>,
}

/// Whether `labels` carry every pair of `selector` (the label filters' rule, for code that
/// checks a record already read).
pub fn labels_match(selector: &Labels, labels: &Labels) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// The resources one source owns. The store keeps no source on a resource created through
/// the REST API (`source` is NULL): the hub's own `--source-id` owns those, which only the hub
/// knows, so the caller says whether they belong to the source asked for
/// ([`SourceFilter::owned_by`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFilter {
    /// Resources whose `source` is this id.
    pub source: String,
    /// And the resources created through the REST API (no `source`).
    pub or_unowned: bool,
}

impl SourceFilter {
    /// What `source` owns on a hub whose own source id is `hub_source_id`.
    pub fn owned_by(source: &str, hub_source_id: &str) -> Self {
        Self {
            source: source.to_owned(),
            or_unowned: source == hub_source_id,
        }
    }
}

/// `condition=TYPE=STATUS`: the status's top-level condition `TYPE` has status `STATUS`
/// (e.g. `Applied=False`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionFilter {
    pub type_: String,
    pub status: String,
}

impl FromStr for ConditionFilter {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once('=') {
            Some((type_, status))
                if !type_.is_empty() && !status.is_empty() && !status.contains('=') =>
            {
                Ok(Self {
                    type_: type_.to_owned(),
                    status: status.to_owned(),
                })
            }
            _ => Err(format!("{s:?} is not TYPE=STATUS (e.g. Applied=False)")),
        }
    }
}

/// Where a resource is in its life, beside its conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResourceState {
    /// Live, and the agent has not reported on its current version yet.
    Pending,
    /// Marked for deletion; the agent has not confirmed it yet.
    Deleting,
}

/// A consumer's resources as its health sees them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsumerHealth {
    /// Resources in [`ResourceState::Pending`].
    pub pending: i64,
    /// Resources whose `Applied` condition is `False`.
    pub failed: i64,
    /// Since when the oldest pending resource has waited (its last spec change).
    pub oldest_pending_since: Option<DateTime<Utc>>,
}

/// One change of a top-level condition's status or reason, as the agent reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionTransition {
    pub type_: String,
    pub status: String,
    pub reason: String,
    pub message: String,
    pub observed_generation: i64,
    /// When the hub stored the report.
    pub at: DateTime<Utc>,
}

/// How many condition transitions the store keeps per resource (the migrations trim to it).
pub const HISTORY_KEPT: usize = 100;

/// Sort keys a list may be ordered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderBy {
    #[default]
    CreatedAt,
    UpdatedAt,
    Name,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    #[default]
    Asc,
    Desc,
}

/// One page of a list: `page` counts from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub page: u32,
    pub size: u32,
    pub order_by: OrderBy,
    pub direction: Direction,
}

impl PageRequest {
    pub fn offset(&self) -> i64 {
        i64::from(self.page.saturating_sub(1)) * i64::from(self.size)
    }
}

/// Every item of a paged list: `page_of` is asked for pages of `size` in `order_by` order,
/// ascending, until one comes back short.
pub async fn every_page<T, F, Fut>(
    size: u32,
    order_by: OrderBy,
    mut page_of: F,
) -> Result<Vec<T>, super::StoreError>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: std::future::Future<Output = Result<Page<T>, super::StoreError>>,
{
    let mut all = Vec::new();
    for page in 1.. {
        let found = page_of(PageRequest {
            page,
            size,
            order_by,
            direction: Direction::Asc,
        })
        .await?;
        let last = found.items.len() < size as usize;
        all.extend(found.items);
        if last {
            break;
        }
    }
    Ok(all)
}

/// A page of items and the total count of matches.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
}

/// The outcome of an update that may not change anything.
#[derive(Debug, Clone)]
pub struct Updated<T> {
    pub value: T,
    pub changed: bool,
}

/// What the publisher sends for a queued resource, as its outbox row says (§2.3).
///
/// A resource created and then updated before its first publish stays [`Self::Create`]: the
/// agent does not hold it yet. A change committed while that create was in flight becomes
/// [`Self::Update`] once the create is marked published. sdk-go agents handle `create_request`
/// and `update_request` alike (§2.3; §5.1: a work the agent does not hold is added whatever the
/// action, one it holds is replaced), so the action is for the reader of the event (logs,
/// Maestro-style sources), not a switch on the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishAction {
    Create,
    Update,
    Delete,
}

impl PublishAction {
    /// The outbox column's value (`publish_outbox.action`, a SMALLINT on PostgreSQL).
    pub(crate) const fn code(self) -> i16 {
        match self {
            Self::Create => 1,
            Self::Update => 2,
            Self::Delete => 3,
        }
    }

    /// The action an outbox column holds; `None` for a value no migration writes.
    pub(crate) const fn from_code(code: i16) -> Option<Self> {
        match code {
            1 => Some(Self::Create),
            2 => Some(Self::Update),
            3 => Some(Self::Delete),
            _ => None,
        }
    }
}

/// A resource waiting in the outbox: its current state and what to publish it as.
#[derive(Debug, Clone)]
pub struct Pending {
    pub resource: Resource,
    pub action: PublishAction,
}

/// What one [`crate::store::Outbox::pending_publications_at`] read: the queued resources, and
/// the database's clock when the read began.
#[derive(Debug, Clone)]
pub struct PendingRead {
    /// Oldest first, up to the read's limit.
    pub pending: Vec<Pending>,
    /// When the read's statement started, by the database's clock (the one that stamps queue
    /// times). A row committed after it is not in `pending` even if queued earlier: a row's
    /// queue time is the start of the transaction that queued it.
    pub read_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_actions_round_trip_through_their_codes() {
        for action in [
            PublishAction::Create,
            PublishAction::Update,
            PublishAction::Delete,
        ] {
            assert_eq!(PublishAction::from_code(action.code()), Some(action));
        }
        assert_eq!(PublishAction::from_code(0), None);
        // The migrations and the outbox statements write these values as literals.
        assert_eq!(
            [
                PublishAction::Create,
                PublishAction::Update,
                PublishAction::Delete
            ]
            .map(PublishAction::code),
            [1, 2, 3]
        );
    }
}

/// What happened to a resource, as a watch reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ChangeKind {
    /// Created.
    Added,
    /// Its spec, its deletion mark or its reported status changed.
    Modified,
    /// Its row is gone (the agent confirmed the deletion, or nothing was ever applied).
    Deleted,
}

impl ChangeKind {
    /// As stored and as sent (`ADDED`, `MODIFIED`, `DELETED`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "ADDED",
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
        }
    }
}

impl FromStr for ChangeKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ADDED" => Ok(Self::Added),
            "MODIFIED" => Ok(Self::Modified),
            "DELETED" => Ok(Self::Deleted),
            other => Err(format!("unknown change kind {other:?}")),
        }
    }
}

/// One entry of the change feed: a committed change of one resource at `position`. Positions
/// grow in commit order, so "every change after position p" is a complete answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub position: i64,
    pub resource_id: Uuid,
    pub consumer_name: String,
    /// The name and labels as the change left them (what a watch filters on).
    pub name: Option<String>,
    pub labels: Labels,
    pub kind: ChangeKind,
    pub at: DateTime<Utc>,
}
