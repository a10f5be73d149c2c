//! Watches over the change feed (issue 21): one pump per hub follows the store's feed, reads
//! each changed resource once and fans the event out to every watcher of this hub; each
//! watcher filters (name and labels on the feed entry, `state` and `condition` on the resource
//! as read for the event; a `DELETED` event passes the status filters), resumes from a
//! position (`Last-Event-ID`, `?since=`) by reading the feed itself, and is cut off with a final
//! `ERROR` event when it falls [`BUFFER`] events behind, so a slow client never holds the hub.
//!
//! Owns the pump task, the fan-out channel and the SSE framing of events (axum's `sse`). Must not
//! write the feed (the database does, in each change's transaction: `store` module docs) nor
//! decide HTTP statuses (`hub::error`).

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures::{Stream, StreamExt};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::{CancellationToken, DropGuard};
use tracing::warn;
use uuid::Uuid;

use super::api::views::{ResourceView, ResourceWatchEvent};
use crate::store::{
    Change, ChangeKind, ConsumerKey, Resource, ResourceFilter, ResourceState, Store, StoreError,
    labels_match,
};

/// Idle streams get a comment this often, so proxies keep them open.
pub const HEARTBEAT: Duration = Duration::from_secs(15);
/// At most this many events go out as one message of the fan-out: a watcher wakes once per
/// message, not once per event (at 1,000 watchers and 1,000 changes/s, a million wake-ups a
/// second otherwise).
const BATCH: usize = 32;
/// Messages of up to [`BATCH`] events the fan-out keeps for slow readers.
const BATCHES: usize = 128;
/// At most how far (in events) a watcher may fall behind before it is cut off: 128 messages
/// of up to 32 events, which hold fewer events when changes come one at a time.
pub const BUFFER: usize = BATCH * BATCHES;
/// The pump reads the feed this often even without a wake-up: a lost one costs this delay.
const POLL: Duration = Duration::from_millis(250);
/// At least this long between two rounds of the pump; commits meanwhile go in the next. Each
/// round is a sequencer transaction (a commit and its WAL flush) and a read: run after every
/// commit of a create flood, they were a quarter of the database's transactions.
const ROUND_GAP: Duration = Duration::from_millis(10);
/// Feed rows read per query.
const PAGE: i64 = 500;
/// How often the pump trims the feed to the retention.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// What the watches and the consumers' health depend on.
#[derive(Debug, Clone, Copy)]
pub struct WatchConfig {
    /// How long the feed keeps changes, and so how old a resume position may be.
    pub retention: Duration,
    /// A consumer with a resource pending longer than this is unhealthy.
    pub unhealthy_pending_after: Duration,
}

impl Default for WatchConfig {
    fn default() -> Self {
        Self {
            retention: Duration::from_secs(3600),
            unhealthy_pending_after: super::health::UNHEALTHY_PENDING_AFTER,
        }
    }
}

/// Consecutive events of the feed, in position order: one message of the fan-out.
pub type FeedBatch = Arc<[Arc<FeedEvent>]>;

/// One change as watchers receive it: the feed entry, what the status filters match on, and
/// its SSE data, serialised once.
#[derive(Debug)]
pub struct FeedEvent {
    pub change: Change,
    /// The resource's state and top-level conditions as read for the event; `None` when its
    /// row is gone (a `DELETED` event, which status filters let through).
    status: Option<StatusSummary>,
    data: String,
}

/// What `state=` and `condition=` match on.
#[derive(Debug, Default)]
struct StatusSummary {
    state: Option<ResourceState>,
    conditions: Vec<(String, String)>,
}

impl StatusSummary {
    fn of(resource: &Resource) -> Self {
        /// The top-level conditions of a status document, nothing else of it.
        #[derive(serde::Deserialize)]
        struct Conditions {
            #[serde(default)]
            conditions: Vec<TypeStatus>,
        }
        #[derive(serde::Deserialize)]
        struct TypeStatus {
            #[serde(rename = "type")]
            type_: String,
            #[serde(default)]
            status: String,
        }
        let conditions = resource
            .status
            .as_ref()
            .and_then(|s| serde_json::from_str::<Conditions>(s.status.get()).ok())
            .map(|c| {
                c.conditions
                    .into_iter()
                    .map(|c| (c.type_, c.status))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            state: resource.state(),
            conditions,
        }
    }

    fn matches(&self, filter: &ResourceFilter) -> bool {
        filter.state.is_none_or(|state| self.state == Some(state))
            && filter.conditions.iter().all(|want| {
                self.conditions
                    .iter()
                    .any(|(t, s)| *t == want.type_ && *s == want.status)
            })
    }
}

impl FeedEvent {
    /// The events of `changes`, each with its resource's current state, read in one query.
    async fn read_all(store: &dyn Store, changes: Vec<Change>) -> Result<Vec<Self>, StoreError> {
        let ids: Vec<Uuid> = changes
            .iter()
            .filter(|c| c.kind != ChangeKind::Deleted)
            .map(|c| c.resource_id)
            .collect();
        let resources: HashMap<Uuid, Resource> = store
            .get_resources(&ids)
            .await?
            .into_iter()
            .map(|r| (r.id, r))
            .collect();
        changes
            .into_iter()
            .map(|change| {
                let resource = match change.kind {
                    ChangeKind::Deleted => None,
                    ChangeKind::Added | ChangeKind::Modified => {
                        resources.get(&change.resource_id).cloned()
                    }
                };
                Self::of(change, resource)
            })
            .collect()
    }

    /// The event of `change` with `resource` as read for it (`None` once its row is gone).
    fn of(change: Change, resource: Option<Resource>) -> Result<Self, StoreError> {
        let status = resource.as_ref().map(StatusSummary::of);
        let data = serde_json::to_string(&ResourceWatchEvent {
            kind: change.kind,
            position: change.position,
            resource_id: change.resource_id,
            consumer_name: change.consumer_name.clone(),
            name: change.name.clone(),
            object: resource.map(ResourceView::from),
        })
        .map_err(|err| StoreError::Corrupt(err.to_string()))?;
        Ok(Self {
            change,
            status,
            data,
        })
    }

    /// A change the watcher's name and label filters skip: never read nor sent.
    fn skipped(change: Change) -> Self {
        Self {
            change,
            status: None,
            data: String::new(),
        }
    }

    /// Whether the event passes all of a list's filters.
    fn matches(&self, filter: &ResourceFilter) -> bool {
        matches(filter, &self.change)
            && self
                .status
                .as_ref()
                .is_none_or(|status| status.matches(filter))
    }

    fn sse(&self) -> Event {
        Event::default()
            .id(self.change.position.to_string())
            .event(self.change.kind.as_str())
            .data(&self.data)
    }
}

/// Whether a change passes a list's name and label filters (the feed carries both).
fn matches(filter: &ResourceFilter, change: &Change) -> bool {
    filter
        .consumer_name
        .as_ref()
        .is_none_or(|c| *c == change.consumer_name)
        && filter
            .name
            .as_ref()
            .is_none_or(|n| change.name.as_ref() == Some(n))
        && filter
            .labels
            .iter()
            .all(|(k, v)| change.labels.get(k) == Some(v))
}

/// Whether a change's consumer carries the filter's `consumer_labels` (a scoped caller's
/// reach). Changes carry no consumer labels, so they are read from the store, and remembered
/// for [`REACH_TTL`] so that a relabelled consumer enters or leaves the watch soon after.
#[derive(Default)]
struct ConsumerReach {
    known: HashMap<String, (bool, tokio::time::Instant)>,
}

const REACH_TTL: Duration = Duration::from_secs(5);

impl ConsumerReach {
    async fn reaches(
        &mut self,
        store: &dyn Store,
        filter: &ResourceFilter,
        consumer: &str,
    ) -> bool {
        if filter.consumer_labels.is_empty() {
            return true;
        }
        if let Some((reached, at)) = self.known.get(consumer)
            && at.elapsed() < REACH_TTL
        {
            return *reached;
        }
        let key = ConsumerKey::Name(consumer.to_owned());
        // A consumer that cannot be read (gone, or the database failing) is not shown.
        let reached = store
            .get_consumer(&key)
            .await
            .is_ok_and(|c| labels_match(&filter.consumer_labels, &c.labels));
        // Bounded: a scoped watch sees few consumers, but drop the memory if it grows.
        if self.known.len() > 10_000 {
            self.known.clear();
        }
        self.known
            .insert(consumer.to_owned(), (reached, tokio::time::Instant::now()));
        reached
    }
}

/// This hub's fan-out of the change feed; clones share it, and the pump stops with the last.
#[derive(Clone)]
pub struct ChangeHub {
    store: Arc<dyn Store>,
    events: broadcast::Sender<FeedBatch>,
    /// The position of the last event the pump sent; `None` until it knows where it starts (a
    /// watcher subscribing later cannot fall into the gap between the feed's head and the
    /// pump's first read).
    head: tokio::sync::watch::Receiver<Option<i64>>,
    /// Cancelled when the hub stops serving: open watches end (their clients resume on another
    /// replica with `Last-Event-ID`) instead of holding the HTTP drain.
    closing: CancellationToken,
    _stop: Arc<DropGuard>,
}

impl ChangeHub {
    /// Starts the pump: call inside the runtime.
    pub fn start(store: Arc<dyn Store>, config: WatchConfig) -> Self {
        let (events, _) = broadcast::channel(BATCHES);
        let stop = CancellationToken::new();
        let (started, head) = tokio::sync::watch::channel(None);
        tokio::spawn(pump(
            store.clone(),
            events.clone(),
            config,
            started,
            stop.clone(),
        ));
        Self {
            store,
            events,
            head,
            closing: CancellationToken::new(),
            _stop: Arc::new(stop.drop_guard()),
        }
    }

    /// Ends every open watch (the hub stops serving).
    pub fn close_watches(&self) {
        self.closing.cancel();
    }

    /// Every change this hub reads from the feed from now on, in order and in batches, each
    /// read once for all readers (the gRPC source API follows it too). A receiver that falls
    /// too far behind (at most [`BUFFER`] changes) gets `Lagged`.
    pub async fn subscribe(&self) -> broadcast::Receiver<FeedBatch> {
        let _ = self.head.clone().wait_for(Option::is_some).await;
        self.events.subscribe()
    }

    /// A watch of the resources matching `filter`, from position `since` (or from now). Fails
    /// before the stream starts when `since` is older than the retained feed.
    pub async fn watch(
        &self,
        filter: ResourceFilter,
        since: Option<i64>,
    ) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>> + use<>>, StoreError> {
        // A pump that stopped has nothing to send: the stream then ends after the backlog.
        let mut head = self.head.clone();
        let _ = head.wait_for(Option::is_some).await;
        // Subscribed before reading the position: every event sent after the read arrives.
        let live = self.events.subscribe();
        // From now: after the pump's last event, without a database read, so that many
        // watchers start at once. Should the pump have sent one more in between, the gap is
        // read from the feed like any other (`Watcher::next`).
        let pumped = *head.borrow();
        let last = match (since, pumped) {
            (Some(position), _) => position,
            (None, Some(position)) => position,
            (None, None) => {
                self.store.sequence_changes().await?;
                self.store.feed_head().await?
            }
        };
        let mut watcher = Watcher {
            store: self.store.clone(),
            reach: ConsumerReach::default(),
            filter,
            last,
            live,
            backlog: VecDeque::new(),
            done: false,
        };
        if since.is_some() || pumped.is_none() {
            watcher.catch_up().await?;
        }
        let stream = futures::stream::unfold(watcher, |mut w| async move {
            w.next().await.map(|event| (Ok(event), w))
        })
        .take_until(self.closing.clone().cancelled_owned());
        Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(HEARTBEAT).text("heartbeat")))
    }
}

/// Follows the feed: on each wake-up (or poll) numbers what committed and sends it out.
async fn pump(
    store: Arc<dyn Store>,
    events: broadcast::Sender<FeedBatch>,
    config: WatchConfig,
    head: tokio::sync::watch::Sender<Option<i64>>,
    stop: CancellationToken,
) {
    let mut last = loop {
        let head = async {
            store.sequence_changes().await?;
            store.feed_head().await
        };
        match head.await {
            Ok(head) => break head,
            Err(err) => warn!(%err, "reading the change feed's head failed; retrying"),
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(POLL) => {}
        }
    };
    head.send_replace(Some(last));
    let mut pruned = tokio::time::Instant::now();
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = store.changes_woken().woken() => {}
            () = tokio::time::sleep(POLL) => {}
        }
        if let Err(err) = pump_round(&*store, &events, &head, &mut last).await {
            warn!(%err, "reading the change feed failed; retrying at the next poll");
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(ROUND_GAP) => {}
        }
        if pruned.elapsed() >= PRUNE_EVERY {
            pruned = tokio::time::Instant::now();
            let before = chrono::Utc::now()
                - chrono::Duration::from_std(config.retention).unwrap_or(chrono::Duration::MAX);
            if let Err(err) = store.prune_changes(before).await {
                warn!(%err, "trimming the change feed failed");
            }
        }
    }
}

async fn pump_round(
    store: &dyn Store,
    events: &broadcast::Sender<FeedBatch>,
    head: &tokio::sync::watch::Sender<Option<i64>>,
    last: &mut i64,
) -> Result<(), StoreError> {
    store.sequence_changes().await?;
    let mut after = *last;
    loop {
        let changes = match store.changes_after(after, PAGE).await {
            Ok(changes) => changes,
            // Behind the retention (a hub stalled for longer): watchers catch up themselves.
            Err(StoreError::FeedGone { .. }) => {
                after = store.feed_head().await?;
                head.send_replace(Some(after));
                break;
            }
            Err(err) => return Err(err),
        };
        let full = changes.len() as i64 == PAGE;
        if let Some(newest) = changes.last() {
            after = newest.position;
        }
        // Nobody watches: nothing to read. One who subscribes meanwhile reads these changes
        // from the feed (a gap), or starts after them.
        if events.receiver_count() > 0 {
            let mut read = FeedEvent::read_all(store, changes)
                .await?
                .into_iter()
                .map(Arc::new)
                .peekable();
            while read.peek().is_some() {
                let batch: FeedBatch = read.by_ref().take(BATCH).collect();
                let position = batch.last().map(|e| e.change.position);
                // No receivers left is not an error either.
                let _ = events.send(batch);
                head.send_replace(position);
            }
        }
        head.send_replace(Some(after));
        if !full {
            break;
        }
    }
    *last = after;
    Ok(())
}

/// One client's stream.
struct Watcher {
    store: Arc<dyn Store>,
    filter: ResourceFilter,
    reach: ConsumerReach,
    /// The last position sent (or skipped by the filter).
    last: i64,
    live: broadcast::Receiver<FeedBatch>,
    /// Events read from the store and not sent yet, in order.
    backlog: VecDeque<Arc<FeedEvent>>,
    done: bool,
}

impl Watcher {
    /// Reads the feed after the last position known into the backlog, to its end.
    async fn catch_up(&mut self) -> Result<(), StoreError> {
        loop {
            let from = self.backlog.back().map_or(self.last, |e| e.change.position);
            let changes = self.store.changes_after(from, PAGE).await?;
            let full = changes.len() as i64 == PAGE;
            let (wanted, skipped): (Vec<Change>, Vec<Change>) = changes
                .into_iter()
                .partition(|change| matches(&self.filter, change));
            let mut events: Vec<FeedEvent> = FeedEvent::read_all(&*self.store, wanted).await?;
            events.extend(skipped.into_iter().map(FeedEvent::skipped));
            events.sort_by_key(|e| e.change.position);
            self.backlog.extend(events.into_iter().map(Arc::new));
            if !full {
                return Ok(());
            }
        }
    }

    async fn next(&mut self) -> Option<Event> {
        loop {
            if self.done {
                return None;
            }
            if let Some(event) = self.backlog.pop_front() {
                if event.change.position <= self.last {
                    continue;
                }
                self.last = event.change.position;
                if event.matches(&self.filter)
                    && self
                        .reach
                        .reaches(&*self.store, &self.filter, &event.change.consumer_name)
                        .await
                {
                    return Some(event.sse());
                }
                continue;
            }
            match self.live.recv().await {
                Ok(batch) => {
                    let Some(first) = batch.iter().find(|e| e.change.position > self.last) else {
                        continue;
                    };
                    if first.change.position > self.last + 1 {
                        // The pump got ahead of this watcher's reads: fill the gap from the feed.
                        if let Err(err) = self.catch_up().await {
                            self.done = true;
                            return Some(final_event(&err.to_string()));
                        }
                    }
                    self.backlog.extend(batch.iter().cloned());
                }
                Err(RecvError::Lagged(missed)) => {
                    self.done = true;
                    return Some(final_event(&format!(
                        "this watch fell {missed} events behind and was closed; resume with Last-Event-ID {}",
                        self.last
                    )));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }
}

/// The last event of a stream the hub ends: the client resumes from its last id.
pub(super) fn final_event(reason: &str) -> Event {
    Event::default()
        .event("ERROR")
        .data(serde_json::json!({ "type": "ERROR", "reason": reason }).to_string())
}
