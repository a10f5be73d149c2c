//! Status to the sources subscribed to this hub: who is subscribed ([`Subscribers`]), and the
//! follower of the change feed that turns each stored status of a resource into an event for
//! the source that owns it ([`StatusFanout::follow`]), including `Deleted=True` once the agent's
//! confirmation removed the row. The feed is the database's, so a status written by another
//! replica reaches a source subscribed here (PostgreSQL `NOTIFY` wakes the hub's feed pump).
//! Also answers a source's status resync request from the database (docs/protocol.md §6.6).
//!
//! Owns the subscribers' bounded queues and the owner of each resource seen. Must not decode
//! events (`spec`) nor encode them (`status`). A subscriber too slow for its queue is dropped:
//! its stream ends with an error, the client reconnects and resyncs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};
use uuid::Uuid;

use super::status::{deleted_event, status_event};
use crate::cloudevents::log_limit::LogLimit;
use crate::cloudevents::payload::StatusHashList;
use crate::cloudevents::transport::grpc::proto::CloudEvent;
use crate::hub::watch::{FeedBatch, FeedEvent};
use crate::store::{
    ChangeKind, OrderBy, Resource, ResourceFilter, SourceFilter, Store, StoreError, every_page,
};
use crate::work::sequence::is_newer;

/// Events queued per subscriber before it counts as too slow.
pub const QUEUE: usize = 4096;
/// How long a resync answer waits for room in a subscriber's queue.
const RESYNC_SEND_WAIT: Duration = Duration::from_secs(30);
/// Resources read per query when answering a resync.
const RESYNC_PAGE: u32 = 1000;

/// One subscribed stream.
struct Subscriber {
    id: u64,
    queue: mpsc::Sender<CloudEvent>,
    overflow: Arc<AtomicBool>,
}

/// What a new subscription gets: its queue's receiving end, and the flag raised when it
/// overflowed.
pub struct Subscription {
    pub id: u64,
    pub events: mpsc::Receiver<CloudEvent>,
    pub overflow: Arc<AtomicBool>,
}

/// The sources subscribed to this hub, by source id.
#[derive(Default)]
pub struct Subscribers {
    by_source: Mutex<HashMap<String, Vec<Subscriber>>>,
    next: AtomicU64,
}

impl Subscribers {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<Subscriber>>> {
        // A panic while holding it leaves only plain data: keep using it.
        self.by_source
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn add(&self, source: &str) -> Subscription {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (queue, events) = mpsc::channel(QUEUE);
        let overflow = Arc::new(AtomicBool::new(false));
        self.lock()
            .entry(source.to_owned())
            .or_default()
            .push(Subscriber {
                id,
                queue,
                overflow: overflow.clone(),
            });
        Subscription {
            id,
            events,
            overflow,
        }
    }

    pub fn remove(&self, source: &str, id: u64) {
        let mut map = self.lock();
        if let Some(list) = map.get_mut(source) {
            list.retain(|s| s.id != id);
            if list.is_empty() {
                map.remove(source);
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn has(&self, source: &str) -> bool {
        self.lock().contains_key(source)
    }

    /// Queues `event` for every subscriber of `source`; one whose queue is full is dropped.
    fn send(&self, source: &str, event: &CloudEvent) {
        let mut map = self.lock();
        let Some(list) = map.get_mut(source) else {
            return;
        };
        list.retain(|s| match s.queue.try_send(event.clone()) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                s.overflow.store(true, Ordering::Release);
                warn!(
                    source,
                    "a source subscriber's queue overflowed; dropping it (it resyncs on reconnect)"
                );
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        });
        if list.is_empty() {
            map.remove(source);
        }
    }

    /// Ends every stream (each client reconnects and resyncs).
    fn drop_all(&self) {
        for list in self.lock().drain().map(|(_, list)| list) {
            for s in list {
                s.overflow.store(true, Ordering::Release);
            }
        }
    }

    fn queues(&self, source: &str) -> Vec<(mpsc::Sender<CloudEvent>, Arc<AtomicBool>)> {
        self.lock().get(source).map_or_else(Vec::new, |list| {
            list.iter()
                .map(|s| (s.queue.clone(), s.overflow.clone()))
                .collect()
        })
    }
}

/// What the follower knows of a resource it has seen: enough to address its deletion.
#[derive(Debug, Clone)]
struct Owned {
    owner: String,
    consumer: String,
    version: i64,
    /// The stored status's sequence id last sent, so a spec change alone sends nothing.
    sent: Option<String>,
}

/// Status events from the store to the subscribed sources.
pub struct StatusFanout {
    pub store: Arc<dyn Store>,
    pub subscribers: Arc<Subscribers>,
    /// The hub's `--source-id`: the `source` of the events sent, and the owner of the
    /// resources created over REST.
    pub hub_source: String,
    owners: Mutex<HashMap<Uuid, Owned>>,
}

static ENCODE_FAILED: LogLimit = LogLimit::per_event();

impl StatusFanout {
    pub fn new(store: Arc<dyn Store>, subscribers: Arc<Subscribers>, hub_source: String) -> Self {
        Self {
            store,
            subscribers,
            hub_source,
            owners: Mutex::new(HashMap::new()),
        }
    }

    fn owners(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Owned>> {
        self.owners
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn owner_of<'r>(&'r self, resource: &'r Resource) -> &'r str {
        resource.source.as_deref().unwrap_or(&self.hub_source)
    }

    fn remember(&self, resource: &Resource) {
        let owner = self.owner_of(resource).to_owned();
        let mut owners = self.owners();
        let entry = owners.entry(resource.id).or_insert_with(|| Owned {
            owner: owner.clone(),
            consumer: resource.consumer_name.clone(),
            version: resource.version,
            sent: None,
        });
        entry.owner = owner;
        entry.version = resource.version;
    }

    /// Follows the hub's change feed (the watch pump's fan-out) until `stop`.
    pub async fn follow(
        self: Arc<Self>,
        mut changes: broadcast::Receiver<FeedBatch>,
        stop: CancellationToken,
    ) {
        loop {
            let event = tokio::select! {
                () = stop.cancelled() => return,
                event = changes.recv() => event,
            };
            match event {
                Ok(batch) => {
                    for event in batch.iter() {
                        if let Err(err) = self.on_change(event).await {
                            warn!(%err, resource_id = %event.change.resource_id, "source API: reading a changed resource failed");
                        }
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    // Statuses may be missing: every subscriber reconnects and resyncs.
                    warn!(
                        missed,
                        "source API fell behind the change feed; subscribers reconnect"
                    );
                    self.subscribers.drop_all();
                }
                Err(RecvError::Closed) => return,
            }
        }
    }

    async fn on_change(&self, event: &FeedEvent) -> Result<(), StoreError> {
        if self.subscribers.is_empty() {
            return Ok(());
        }
        let id = event.change.resource_id;
        let resource = match event.change.kind {
            ChangeKind::Deleted => None,
            ChangeKind::Added | ChangeKind::Modified => match self.store.get_resource(id).await {
                Ok(resource) => Some(resource),
                Err(StoreError::ResourceNotFound(_)) => None,
                Err(err) => return Err(err),
            },
        };
        match resource {
            Some(resource) => self.on_resource(&resource),
            None => {
                let Some(gone) = self.owners().remove(&id) else {
                    return Ok(());
                };
                self.send_encoded(&gone.owner, || {
                    deleted_event(
                        &self.hub_source,
                        &gone.owner,
                        &id.to_string(),
                        &gone.consumer,
                        gone.version,
                    )
                });
            }
        }
        Ok(())
    }

    /// Sends the status of `resource` to its owner if it is new.
    fn on_resource(&self, resource: &Resource) {
        self.remember(resource);
        let Some(status) = &resource.status else {
            return;
        };
        {
            let mut owners = self.owners();
            let Some(entry) = owners.get_mut(&resource.id) else {
                return;
            };
            if entry.sent.as_deref() == Some(status.sequence_id.as_str()) {
                return;
            }
            entry.sent = Some(status.sequence_id.clone());
        }
        let owner = self.owner_of(resource);
        if self.subscribers.has(owner) {
            self.send_encoded(owner, || status_event(&self.hub_source, owner, resource));
        }
    }

    fn send_encoded(
        &self,
        owner: &str,
        encode: impl FnOnce() -> Result<CloudEvent, super::status::EncodeError>,
    ) {
        match encode() {
            Ok(event) => self.subscribers.send(owner, &event),
            Err(err) => {
                if let Some(suppressed) = ENCODE_FAILED.allow() {
                    warn!(%err, suppressed, "source API: cannot encode a status event");
                }
            }
        }
    }

    /// Whether a resync sends the status read for `resource`: not when the follower already
    /// sent a newer one (the agent's sequence ids order them, §5.3; each event carries a fresh
    /// id of the hub's, so an older status sent later would replace the newer at the source).
    /// Marks it sent otherwise.
    fn resync_sends(&self, resource: &Resource) -> bool {
        let Some(status) = &resource.status else {
            return false;
        };
        let mut owners = self.owners();
        let Some(entry) = owners.get_mut(&resource.id) else {
            return true;
        };
        if let Some(sent) = &entry.sent
            && is_newer(&status.sequence_id, sent).unwrap_or(false)
        {
            return false;
        }
        entry.sent = Some(status.sequence_id.clone());
        true
    }

    /// Every resource `source` owns, read page by page.
    async fn resources_of(&self, source: &str) -> Result<Vec<Resource>, StoreError> {
        let filter = ResourceFilter {
            source: Some(SourceFilter::owned_by(source, &self.hub_source)),
            ..ResourceFilter::default()
        };
        every_page(RESYNC_PAGE, OrderBy::CreatedAt, |request| {
            self.store.list_resources(&filter, request)
        })
        .await
    }

    /// Answers `source`'s status resync request (§6.6, as Maestro): with no hashes, every
    /// stored status; otherwise the statuses whose hash differs from the listed one, and
    /// `Deleted=True` for a listed resource the hub no longer has (its deletion completed
    /// while the source was away). Returns how many events it sent.
    pub async fn resync(&self, source: &str, hashes: &StatusHashList) -> Result<usize, StoreError> {
        let resources = self.resources_of(source).await?;
        for resource in &resources {
            self.remember(resource);
        }
        let mut events = Vec::new();
        let mut push = |encoded: Result<CloudEvent, super::status::EncodeError>| match encoded {
            Ok(event) => events.push(event),
            Err(err) => warn!(%err, "source API: cannot encode a status event for a resync"),
        };
        if hashes.status_hashes.is_empty() {
            for resource in resources.iter().filter(|r| self.resync_sends(r)) {
                push(status_event(&self.hub_source, source, resource));
            }
        } else {
            let by_id: HashMap<String, &Resource> =
                resources.iter().map(|r| (r.id.to_string(), r)).collect();
            for listed in &hashes.status_hashes {
                match by_id.get(&listed.resource_id) {
                    Some(resource) => {
                        if resource
                            .status
                            .as_ref()
                            .is_some_and(|s| s.hash != listed.status_hash)
                            && self.resync_sends(resource)
                        {
                            push(status_event(&self.hub_source, source, resource));
                        }
                    }
                    None => push(deleted_event(
                        &self.hub_source,
                        source,
                        &listed.resource_id,
                        "",
                        0,
                    )),
                }
            }
        }
        let sent = events.len();
        for (queue, overflow) in self.subscribers.queues(source) {
            for event in &events {
                match tokio::time::timeout(RESYNC_SEND_WAIT, queue.send(event.clone())).await {
                    Ok(Ok(())) => {}
                    Ok(Err(_closed)) => break,
                    Err(_) => {
                        overflow.store(true, Ordering::Release);
                        debug!(
                            source,
                            "a source subscriber took no resync answer for 30 s; dropping it"
                        );
                        break;
                    }
                }
            }
        }
        Ok(sent)
    }
}
