//! What one applied create costs PostgreSQL, for `limit --rows e2e`, written by the hub's own
//! store ([`PgStore`]) so that the rows and statements are the hub's: the REST create of one
//! resource when no other request waits to be batched with it ([`Store::create_resources`]
//! with a batch of one: the `resources` row and its `publish_outbox` row in one statement),
//! then the status writer's store call ([`Statuses::apply_statuses`]: the read of the row,
//! then the compare-and-set `UPDATE`) with the report the hub builds
//! ([`baton::hub::status::report_of`]) from a simulated agent's status. Every trigger of the
//! migrated schema fires as in production.
//!
//! Must not time anything (`limit` does), nor hold SQL of its own: the store owns it.

use std::sync::{Mutex, PoisonError};

use anyhow::Context;
use serde_json::Value;
use uuid::Uuid;

use baton::agent::cluster::ObjectKey;
use baton::agent::report::{ManifestOutcome, work_status};
use baton::hub::status::report_of;
use baton::store::postgres::PgStore;
use baton::store::{
    Health, Labels, NewConsumer, NewResource, ReportedState, ResourceSpec, StatusOutcome,
    StatusReport, Statuses, Store,
};
use baton::work::model::ManifestWork;
use baton::work::sequence::SequenceGenerator;

/// One applied create's inputs, ready to hand to the store.
pub struct AppliedCreate {
    store: PgStore,
    /// The REST create's row, as its handler builds it from the request body.
    new: NewResource,
    /// The agent's report, built once: each create's takes the created id and a new sequence
    /// id, the only fields of a report that differ between the creates.
    report: StatusReport,
    sequence: SequenceGenerator,
    /// A resource the loop created, to read back what its status wrote.
    last: Mutex<Option<Uuid>>,
}

impl AppliedCreate {
    /// From a create request body (`consumer_name`, `manifests`, `labels`), on the migrated
    /// database of `store`, where its consumer is created.
    pub async fn prepare(store: PgStore, body: &Value) -> anyhow::Result<Self> {
        let consumer = body["consumer_name"]
            .as_str()
            .context("the body has no consumer_name")?;
        store
            .create_consumer(NewConsumer {
                name: consumer.parse()?,
                labels: Labels::new(),
            })
            .await
            .context("creating the consumer")?;
        let manifests = body["manifests"]
            .as_array()
            .context("the body has no manifests array")?;
        let mut spec = ResourceSpec::from_values(manifests, None, None)?;
        spec.labels = serde_json::from_value(body["labels"].clone())?;
        let new = NewResource {
            id: None,
            consumer_name: consumer.to_owned(),
            name: None,
            source: None,
            spec,
        };
        let report = report_of(Uuid::nil(), &agent_work(consumer, manifests)?)?;
        Ok(Self {
            store,
            new,
            report,
            sequence: SequenceGenerator::new(),
            last: Mutex::new(None),
        })
    }

    /// The manifests' size in bytes, as stored.
    pub fn row_bytes(&self) -> usize {
        self.new.spec.manifests.get().len()
    }

    /// The status document's size in bytes, as stored.
    pub fn status_bytes(&self) -> usize {
        match &self.report.state {
            ReportedState::Status { document, .. } => document.get().len(),
            ReportedState::Deleted => 0,
        }
    }

    /// The condition transitions the status write recorded (`resource_condition_history`,
    /// kept by a trigger) for a resource the loop created: on a first status, one per
    /// condition of the work.
    pub async fn conditions_recorded(&self) -> anyhow::Result<usize> {
        let last = *self.last.lock().unwrap_or_else(PoisonError::into_inner);
        let id = last.context("no applied create ran")?;
        Ok(self.store.condition_history(id).await?.len())
    }

    /// One create, then its status, each committed as the hub commits it.
    pub async fn run(&self) -> anyhow::Result<()> {
        let created = self
            .store
            .create_resources(vec![self.new.clone()])
            .await
            .pop()
            .context("the create got no result")?
            .context("the create")?;
        let report = StatusReport {
            id: created.id,
            sequence_id: self.sequence.next_id().to_string(),
            ..self.report.clone()
        };
        let outcomes = self
            .store
            .apply_statuses(std::slice::from_ref(&report))
            .await
            .context("the status write")?;
        anyhow::ensure!(
            outcomes == [StatusOutcome::Stored],
            "the status was not stored: {outcomes:?}"
        );
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = Some(created.id);
        Ok(())
    }
}

/// The work the hub decodes from the reference agent's status after applying `manifests` at
/// generation 1 on `cluster`: the work conditions Applied and Available, each manifest's own
/// pair.
fn agent_work(cluster: &str, manifests: &[Value]) -> anyhow::Result<ManifestWork> {
    let outcomes = manifests
        .iter()
        .map(|m| {
            Ok(ManifestOutcome {
                key: ObjectKey::of(m).context("a manifest without kind or name")?,
                manifest: m.clone(),
                error: None,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut work = ManifestWork::default();
    work.metadata.namespace = cluster.to_owned();
    work.metadata.generation = 1;
    work.status = work_status(&work, &outcomes);
    Ok(work)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_agent_report_has_the_work_and_manifest_conditions() {
        let body = crate::payload::create_body(crate::payload::Size::Small, "limit-1", 1);
        let manifests = body["manifests"].as_array().unwrap();
        let report = report_of(Uuid::nil(), &agent_work("limit-1", manifests).unwrap()).unwrap();
        assert_eq!(report.cluster, "limit-1");
        assert_eq!(report.version, 1);
        let ReportedState::Status { document, hash } = &report.state else {
            panic!("a status, not Deleted: {report:?}");
        };
        let status: Value = serde_json::from_str(document.get()).unwrap();
        let types = |conditions: &Value| -> Vec<String> {
            conditions
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["type"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(types(&status["conditions"]), ["Applied", "Available"]);
        let manifest = &status["resourceStatus"]["manifests"][0];
        assert_eq!(types(&manifest["conditions"]), ["Applied", "Available"]);
        assert!(!hash.is_empty());
    }
}
