//! The reference agent's controller: consumes one cluster's work watch stream and plays the
//! cluster. Added / modified works are "applied" into the [`SimulatedCluster`] and their
//! status reported; deleted works have their objects removed as the delete option says
//! (Foreground removes, Orphan keeps, SelectivelyOrphan keeps the listed ones), then deletion
//! is reported (§4.7).
//!
//! Fault injection, per manifest, for tests and demos: the annotation
//! `baton.io/simulate-apply-error: <reason>` makes that manifest fail to apply (Applied=False
//! with the reason), `baton.io/simulate-apply-delay-ms: <ms>` delays its apply.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::cluster::{ObjectKey, SimulatedCluster};
use super::report::{ManifestOutcome, work_status};
use crate::work::client::{WatchEvent, WorkClient, WorkWatch};
use crate::work::model::{ManifestWork, ResourceIdentifier};

/// Makes a manifest fail to apply, with the annotation's value as the reason.
pub const FAIL_ANNOTATION: &str = "baton.io/simulate-apply-error";
/// Delays a manifest's apply by this many milliseconds.
pub const DELAY_ANNOTATION: &str = "baton.io/simulate-apply-delay-ms";

pub struct Controller {
    client: Arc<WorkClient>,
    cluster: Mutex<SimulatedCluster>,
    /// Reports that could not be sent (broker down, no acknowledgement): retried every
    /// [`RETRY_EVERY`] until they go through, so a lost report does not wait for a resync.
    unsent: std::sync::Mutex<BTreeMap<String, Unsent>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unsent {
    Status,
    Deletion,
}

/// How often unsent reports are retried.
pub const RETRY_EVERY: Duration = Duration::from_secs(2);

fn annotation<'m>(manifest: &'m Value, name: &str) -> Option<&'m str> {
    manifest
        .get("metadata")?
        .get("annotations")?
        .get(name)?
        .as_str()
}

fn orphaned(rules: &[ResourceIdentifier], key: &ObjectKey) -> bool {
    rules.iter().any(|r| {
        r.group == key.group
            && r.resource == key.resource
            && r.name == key.name
            && r.namespace == key.namespace
    })
}

impl Controller {
    pub fn new(client: Arc<WorkClient>, cluster: SimulatedCluster) -> Self {
        Self {
            client,
            cluster: Mutex::new(cluster),
            unsent: std::sync::Mutex::default(),
        }
    }

    pub fn client(&self) -> &Arc<WorkClient> {
        &self.client
    }

    /// How many objects the simulated cluster holds.
    pub async fn object_count(&self) -> usize {
        self.cluster.lock().await.len()
    }

    /// The applied object at `key`, if any.
    pub async fn object(&self, key: &ObjectKey) -> Option<Value> {
        self.cluster.lock().await.get(key).cloned()
    }

    /// Handles watch events until the stream ends or `stop` fires.
    pub async fn run(self: Arc<Self>, mut watch: WorkWatch, stop: CancellationToken) {
        let mut retry = tokio::time::interval(RETRY_EVERY);
        retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let event = tokio::select! {
                () = stop.cancelled() => break,
                _ = retry.tick() => {
                    self.retry_unsent().await;
                    continue;
                }
                event = watch.recv() => match event { Some(e) => e, None => break },
            };
            match event {
                WatchEvent::Added(work) | WatchEvent::Modified(work) => self.apply(work).await,
                WatchEvent::Deleted(work) => self.delete(work).await,
            }
        }
    }

    async fn apply(&self, work: ManifestWork) {
        let cluster_name = self.client.cluster_name().to_owned();
        let mut outcomes = Vec::with_capacity(work.spec.workload.manifests.len());
        for manifest in &work.spec.workload.manifests {
            let Ok(value) = manifest.to_value() else {
                continue;
            };
            let Some(key) = ObjectKey::of(&value) else {
                continue;
            };
            if let Some(ms) =
                annotation(&value, DELAY_ANNOTATION).and_then(|d| d.parse::<u64>().ok())
            {
                tokio::time::sleep(Duration::from_millis(ms)).await; // simulated apply time
            }
            let error = annotation(&value, FAIL_ANNOTATION).map(str::to_owned);
            outcomes.push(ManifestOutcome {
                key,
                manifest: value,
                error,
            });
        }
        let applied: Vec<(ObjectKey, Value)> = outcomes
            .iter()
            .filter(|o| o.error.is_none())
            .map(|o| (o.key.clone(), o.manifest.clone()))
            .collect();
        let failed = outcomes.len() - applied.len();
        if let Err(err) = self
            .cluster
            .lock()
            .await
            .apply(&work.metadata.uid, applied)
            .await
        {
            warn!(cluster = %cluster_name, resource_id = %work.metadata.uid, %err, "cannot record applied objects");
        }
        let status = work_status(&work, &outcomes);
        info!(
            cluster = %cluster_name, work = %work.metadata.name, resource_id = %work.metadata.uid,
            generation = work.metadata.generation, manifests = outcomes.len(), failed, "applied work"
        );
        match self.client.update_status(&work.metadata.uid, status).await {
            Ok(_) => self.sent(&work.metadata.uid),
            Err(err) => {
                warn!(cluster = %cluster_name, resource_id = %work.metadata.uid, %err, "status not sent; retrying");
                self.remember(&work.metadata.uid, Unsent::Status);
            }
        }
    }

    fn remember(&self, id: &str, what: Unsent) {
        self.unsent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id.to_owned(), what);
    }

    fn sent(&self, id: &str) {
        self.unsent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(id);
    }

    /// Sends again what could not be sent: the work's current status, or its deletion.
    async fn retry_unsent(&self) {
        let pending: Vec<(String, Unsent)> = self
            .unsent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(id, what)| (id.clone(), *what))
            .collect();
        for (id, what) in pending {
            let Some(work) = self.client.get(&id).await else {
                self.sent(&id); // gone meanwhile: nothing left to report
                continue;
            };
            let outcome = match what {
                Unsent::Status => self.client.update_status(&id, work.status).await.map(drop),
                Unsent::Deletion => self.client.complete_deletion(&id).await,
            };
            match outcome {
                Ok(()) => {
                    self.sent(&id);
                    info!(cluster = %self.client.cluster_name(), resource_id = %id, ?what, "report sent on retry");
                }
                Err(err) => debug!(resource_id = %id, %err, "report still not sent"),
            }
        }
    }

    async fn delete(&self, work: ManifestWork) {
        let cluster_name = self.client.cluster_name().to_owned();
        let option = work.spec.delete_option.clone().unwrap_or_default();
        let rules = option
            .selectively_orphan
            .map(|s| s.orphaning_rules)
            .unwrap_or_default();
        let policy = option.propagation_policy;
        let orphan = |key: &ObjectKey| match policy.as_str() {
            "Orphan" => true,
            "SelectivelyOrphan" => orphaned(&rules, key),
            _ => false,
        };
        if let Err(err) = self
            .cluster
            .lock()
            .await
            .remove(&work.metadata.uid, orphan)
            .await
        {
            warn!(cluster = %cluster_name, resource_id = %work.metadata.uid, %err, "cannot record removed objects");
        }
        match self.client.complete_deletion(&work.metadata.uid).await {
            Ok(()) => {
                self.sent(&work.metadata.uid);
                info!(cluster = %cluster_name, work = %work.metadata.name, resource_id = %work.metadata.uid, policy = %if policy.is_empty() { "Foreground" } else { policy.as_str() }, "deleted work")
            }
            Err(err) => {
                warn!(cluster = %cluster_name, resource_id = %work.metadata.uid, %err, "deletion not reported; retrying");
                self.remember(&work.metadata.uid, Unsent::Deletion);
            }
        }
    }
}
