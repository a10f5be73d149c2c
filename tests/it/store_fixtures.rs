//! Helpers of the store conformance tests (`store_records`, `store_publish`): a migrated store
//! on either backend and short constructors for what the tests put in it.

#![allow(dead_code)]

use std::sync::Arc;

use baton::store::{
    ConsumerName, Direction, Labels, NewConsumer, NewResource, OrderBy, PageRequest, RawJson,
    ReportedState, Resource, ResourceSpec, StatusOutcome, StatusReport, Store, StoreError,
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::harness::{Backend, TestDb, configmap};

/// A fresh, migrated store; keep the [`TestDb`] alive as long as the store.
pub async fn fresh(backend: Backend) -> (TestDb, Arc<dyn Store>) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    (db, store)
}

pub fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

pub fn new_consumer(name: &str) -> NewConsumer {
    NewConsumer {
        name: name.parse::<ConsumerName>().unwrap(),
        labels: Labels::new(),
    }
}

/// A spec with one ConfigMap carrying `value`.
pub fn spec(value: &str) -> ResourceSpec {
    ResourceSpec::from_values(&[configmap(value)], None, None).unwrap()
}

/// A JSON document as the store takes it.
pub fn raw(text: &str) -> RawJson {
    serde_json::value::RawValue::from_string(text.to_owned()).unwrap()
}

pub fn new_resource(consumer: &str, name: Option<&str>, spec: ResourceSpec) -> NewResource {
    NewResource {
        id: None,
        consumer_name: consumer.to_owned(),
        name: name.map(str::to_owned),
        source: None,
        spec,
    }
}

/// Creates one resource, as a batch of one.
pub async fn create(store: &dyn Store, new: NewResource) -> Result<Resource, StoreError> {
    let mut results = store.create_resources(vec![new]).await;
    assert_eq!(results.len(), 1, "one result per create");
    results.remove(0)
}

/// Creates a resource named `name` on `consumer` with a one-ConfigMap spec.
pub async fn resource(store: &dyn Store, consumer: &str, name: Option<&str>) -> Resource {
    create(store, new_resource(consumer, name, spec("v1")))
        .await
        .unwrap()
}

pub fn page(page: u32, size: u32, order_by: OrderBy, direction: Direction) -> PageRequest {
    PageRequest {
        page,
        size,
        order_by,
        direction,
    }
}

/// The first page of 100 in creation order.
pub fn first_page() -> PageRequest {
    page(1, 100, OrderBy::CreatedAt, Direction::Asc)
}

/// The names on a page of resources, `-` for unnamed ones.
pub fn names(items: &[Resource]) -> Vec<String> {
    items
        .iter()
        .map(|r| r.name.clone().unwrap_or_else(|| "-".into()))
        .collect()
}

/// The consumer the status fixtures report as: the tests' resources belong to it.
pub const REPORTER: &str = "c1";

/// An agent of [`REPORTER`]'s status on version `version` whose condition's reason is `reason`,
/// with sequence id `seq` (small ids compare as numbers); its hash names the reason, so equal
/// reasons are unchanged statuses.
pub fn report_on(id: Uuid, version: i64, seq: u64, reason: &str) -> StatusReport {
    let status = json!({"conditions": [{"type": "Applied", "status": "True", "reason": reason}]});
    StatusReport {
        id,
        cluster: REPORTER.to_owned(),
        version,
        sequence_id: seq.to_string(),
        state: ReportedState::Status {
            document: serde_json::value::to_raw_value(&status).unwrap(),
            hash: format!("{reason:0>64}"),
        },
    }
}

/// [`report_on`] version 1.
pub fn report(id: Uuid, seq: u64, reason: &str) -> StatusReport {
    report_on(id, 1, seq, reason)
}

/// [`REPORTER`]'s `Deleted=True` report.
pub fn deleted(id: Uuid, seq: u64) -> StatusReport {
    StatusReport {
        id,
        cluster: REPORTER.to_owned(),
        version: 1,
        sequence_id: seq.to_string(),
        state: ReportedState::Deleted,
    }
}

/// A batch of one.
pub async fn apply(store: &dyn Store, report: StatusReport) -> StatusOutcome {
    store.apply_statuses(&[report]).await.unwrap()[0]
}

/// The stored status of `id`, parsed, and its sequence id.
pub async fn stored_status(store: &dyn Store, id: Uuid) -> (Value, String) {
    let status = store
        .get_resource(id)
        .await
        .unwrap()
        .status
        .expect("a status");
    (
        serde_json::from_str(status.status.get()).unwrap(),
        status.sequence_id,
    )
}
