//! [`WorkStore`]: the agent's works for one cluster, keyed by resource id. It is the
//! [`Lister`] the agent client classifies specs and answers resyncs from, it applies the specs
//! the client hands it (§5.1, v1.2+ table: keep finalizers and status on modify, only mark a
//! delete), and it announces every change on the watch stream a controller consumes.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::{Mutex, mpsc};

use super::persist::{PersistError, StateDir};
use crate::work::model::{ManifestWork, manifest_bundles_data_type};
use crate::{HandlerError, ListError, ListOptions, Lister, ResourceAction, ResourceHandler};

/// A change a controller sees on the watch stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEvent {
    /// A work the agent did not have.
    Added(ManifestWork),
    /// A newer spec of a work it has.
    Modified(ManifestWork),
    /// The source is deleting the work: clean up, then report it done.
    Deleted(ManifestWork),
}

impl WatchEvent {
    /// The work the event is about.
    pub fn work(&self) -> &ManifestWork {
        match self {
            Self::Added(w) | Self::Modified(w) | Self::Deleted(w) => w,
        }
    }
}

/// The works of one cluster, optionally persisted.
pub struct WorkStore {
    works: Mutex<HashMap<String, ManifestWork>>,
    state_dir: Option<StateDir>,
    watch: mpsc::Sender<WatchEvent>,
}

impl WorkStore {
    /// A store holding `initial` (loaded from `state_dir`, usually), announcing on `watch`.
    pub fn new(
        initial: Vec<ManifestWork>,
        state_dir: Option<StateDir>,
        watch: mpsc::Sender<WatchEvent>,
    ) -> Self {
        Self {
            works: Mutex::new(
                initial
                    .into_iter()
                    .map(|w| (w.metadata.uid.clone(), w))
                    .collect(),
            ),
            state_dir,
            watch,
        }
    }

    /// The work with resource id `id`, if held.
    pub async fn get(&self, id: &str) -> Option<ManifestWork> {
        self.works.lock().await.get(id).cloned()
    }

    /// How many works are held (without copying them, unlike [`Self::list`]).
    pub async fn count(&self) -> usize {
        self.works.lock().await.len()
    }

    /// Every work, ordered by resource id.
    pub async fn list(&self) -> Vec<ManifestWork> {
        let mut works: Vec<_> = self.works.lock().await.values().cloned().collect();
        works.sort_by(|a, b| a.metadata.uid.cmp(&b.metadata.uid));
        works
    }

    /// Announces every held work (Added, or Deleted if deleting), as a fresh watch starts.
    pub async fn announce_all(&self) {
        for work in self.list().await {
            self.announce(if work.metadata.deletion_timestamp.is_some() {
                WatchEvent::Deleted(work)
            } else {
                WatchEvent::Added(work)
            })
            .await;
        }
    }

    /// Stores `work` (after `change` edits it) and persists it; returns the stored copy. The
    /// agent-local resourceVersion counts every change.
    pub(crate) async fn update<F>(
        &self,
        id: &str,
        change: F,
    ) -> Result<Option<ManifestWork>, PersistError>
    where
        F: FnOnce(Option<&ManifestWork>) -> Option<ManifestWork>,
    {
        let mut works = self.works.lock().await;
        let held = works.get(id);
        let Some(mut work) = change(held) else {
            return Ok(None);
        };
        let local: u64 = held
            .and_then(|h| h.metadata.resource_version.parse().ok())
            .unwrap_or(0);
        work.metadata.resource_version = (local + 1).to_string();
        if let Some(dir) = &self.state_dir {
            dir.save(&work).await?;
        }
        works.insert(id.to_owned(), work.clone());
        Ok(Some(work))
    }

    /// Forgets a work.
    pub(crate) async fn remove(&self, id: &str) -> Result<(), PersistError> {
        let mut works = self.works.lock().await;
        if let Some(dir) = &self.state_dir {
            dir.remove(id).await?;
        }
        works.remove(id);
        Ok(())
    }

    async fn announce(&self, event: WatchEvent) {
        // A controller that stopped watching is not an error for the receive loop.
        let _closed = self.watch.send(event).await;
    }

    /// Applies a spec the agent client classified (§5.1, v1.2+).
    async fn apply_spec(
        &self,
        action: ResourceAction,
        incoming: ManifestWork,
    ) -> Result<(), PersistError> {
        let id = incoming.metadata.uid.clone();
        let deleting = incoming.metadata.deletion_timestamp.is_some();
        let mut announce: Option<fn(ManifestWork) -> WatchEvent> = None;
        let stored = self
            .update(&id, |held| match (action, held) {
                (ResourceAction::Deleted, Some(held)) => {
                    let mut marked = held.clone();
                    marked.metadata.generation = incoming.metadata.generation;
                    if held.metadata.deletion_timestamp.is_none() {
                        marked.metadata.deletion_timestamp = incoming.metadata.deletion_timestamp;
                        marked
                            .metadata
                            .finalizers
                            .clone_from(&incoming.metadata.finalizers);
                        announce = Some(WatchEvent::Deleted);
                    }
                    Some(marked)
                }
                (ResourceAction::Modified, Some(held)) => {
                    let mut replaced = incoming.clone();
                    replaced
                        .metadata
                        .finalizers
                        .clone_from(&held.metadata.finalizers);
                    replaced.status = held.status.clone();
                    announce = Some(WatchEvent::Modified);
                    Some(replaced)
                }
                // Not held (or an action the store does not know): store as received; a delete
                // for an unknown work is stored as deleting, as sdk-go does.
                _ => {
                    announce = Some(if deleting {
                        WatchEvent::Deleted
                    } else {
                        WatchEvent::Added
                    });
                    Some(incoming.clone())
                }
            })
            .await?;
        if let (Some(work), Some(make)) = (stored, announce) {
            self.announce(make(work)).await;
        }
        Ok(())
    }
}

/// The store lists the works of the requested data type (works without a recorded type are
/// bundles); the agent lists every source's works (§6.6), so `options.source` only narrows a
/// spec resync addressed to one source.
#[async_trait]
impl Lister<ManifestWork> for WorkStore {
    async fn list(&self, options: &ListOptions) -> Result<Vec<ManifestWork>, ListError> {
        let bundles = manifest_bundles_data_type();
        Ok(WorkStore::list(self)
            .await
            .into_iter()
            .filter(|w| w.data_type().unwrap_or_else(|| bundles.clone()) == options.data_type)
            .filter(|w| options.source.is_empty() || w.original_source() == Some(&options.source))
            .collect())
    }

    async fn get(
        &self,
        id: &str,
        _options: &ListOptions,
    ) -> Result<Option<ManifestWork>, ListError> {
        Ok(WorkStore::get(self, id).await)
    }
}

/// Feeds the store from the agent client.
pub(crate) struct StoreHandler(pub Arc<WorkStore>);

#[async_trait]
impl ResourceHandler<ManifestWork> for StoreHandler {
    async fn handle(&self, action: ResourceAction, work: ManifestWork) -> Result<(), HandlerError> {
        self.0
            .apply_spec(action, work)
            .await
            .map_err(HandlerError::new)
    }
}

#[cfg(test)]
mod replay_tests;
