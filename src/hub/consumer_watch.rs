//! `GET /api/v1/consumers?watch=true` (issue 21): one poller per hub rebuilds every consumer's
//! view every [`POLL`] while someone watches, compares it with the last one and fans out
//! `ADDED`, `MODIFIED` (labels, connection or health changed; `last_seen_at` alone is no
//! change) and `DELETED` events. A consumer's health is derived (connections, pending
//! resources, time), not a row change, so there is no feed to resume from: a new stream starts
//! with an `ADDED` event per consumer, the current state. A watcher [`BUFFER`] events behind
//! is cut off with a final `ERROR` event.
//!
//! Owns the poller task and the consumer events. Must not write anything nor build views
//! itself (`hub::health` does).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures::{Stream, StreamExt};
use tokio::sync::{Mutex, broadcast};
use tokio_util::sync::{CancellationToken, DropGuard};
use tracing::warn;
use uuid::Uuid;

use super::api::views::{ConsumerView, ConsumerWatchEvent};
use super::health::FleetHealth;
use super::watch::{HEARTBEAT, final_event};
use crate::store::{ChangeKind, Labels, StoreError, labels_match};

/// How often the views are rebuilt while someone watches.
pub const POLL: Duration = Duration::from_secs(1);
/// How far (in events) a watcher may fall behind before it is cut off.
pub const BUFFER: usize = 4096;

/// One event, serialised once for every watcher.
struct Framed {
    position: i64,
    kind: ChangeKind,
    healthy: bool,
    /// The consumer's labels, for scoped watchers.
    labels: Labels,
    data: String,
}

impl Framed {
    fn new(position: i64, kind: ChangeKind, object: ConsumerView) -> Result<Self, StoreError> {
        let healthy = object.healthy;
        let labels = object.labels.clone();
        let data = serde_json::to_string(&ConsumerWatchEvent {
            kind,
            position,
            object,
        })
        .map_err(|err| StoreError::Corrupt(err.to_string()))?;
        Ok(Self {
            position,
            kind,
            healthy,
            labels,
            data,
        })
    }

    fn sse(&self) -> Event {
        Event::default()
            .id(self.position.to_string())
            .event(self.kind.as_str())
            .data(&self.data)
    }
}

/// The views last sent, and the position of the last event.
#[derive(Default)]
struct Snapshot {
    position: i64,
    /// `None` while nobody watches (nothing is kept up to date then).
    views: Option<HashMap<Uuid, ConsumerView>>,
}

/// What a watcher compares: the view without `last_seen_at`, which moves with every report.
fn same(a: &ConsumerView, b: &ConsumerView) -> bool {
    ConsumerView {
        last_seen_at: None,
        ..a.clone()
    } == ConsumerView {
        last_seen_at: None,
        ..b.clone()
    }
}

struct Inner {
    fleet: FleetHealth,
    events: broadcast::Sender<Arc<Framed>>,
    snapshot: Mutex<Snapshot>,
}

impl Inner {
    /// Rebuilds the views and sends what changed since the snapshot (nothing the first time).
    async fn refresh(&self, snapshot: &mut Snapshot) -> Result<(), StoreError> {
        let now: HashMap<Uuid, ConsumerView> = self
            .fleet
            .all()
            .await?
            .into_iter()
            .map(|v| (v.id, v))
            .collect();
        if let Some(before) = &snapshot.views {
            let mut events = Vec::new();
            for (id, view) in &now {
                match before.get(id) {
                    None => events.push((ChangeKind::Added, view.clone())),
                    Some(old) if !same(old, view) => {
                        events.push((ChangeKind::Modified, view.clone()))
                    }
                    Some(_) => {}
                }
            }
            for (id, view) in before {
                if !now.contains_key(id) {
                    events.push((ChangeKind::Deleted, view.clone()));
                }
            }
            for (kind, view) in events {
                snapshot.position += 1;
                // No receivers is not an error: the last watcher just left.
                let _ = self
                    .events
                    .send(Arc::new(Framed::new(snapshot.position, kind, view)?));
            }
        }
        snapshot.views = Some(now);
        Ok(())
    }
}

/// This hub's consumer watches; clones share them, and the poller stops with the last.
#[derive(Clone)]
pub struct ConsumerHub {
    inner: Arc<Inner>,
    /// Cancelled when the hub stops serving: open watches end instead of holding the drain.
    closing: CancellationToken,
    _stop: Arc<DropGuard>,
}

impl ConsumerHub {
    /// Starts the poller: call inside the runtime.
    pub fn start(fleet: FleetHealth) -> Self {
        let (events, _) = broadcast::channel(BUFFER);
        let inner = Arc::new(Inner {
            fleet,
            events,
            snapshot: Mutex::new(Snapshot::default()),
        });
        let stop = CancellationToken::new();
        tokio::spawn(poll(inner.clone(), stop.clone()));
        Self {
            inner,
            closing: CancellationToken::new(),
            _stop: Arc::new(stop.drop_guard()),
        }
    }

    /// Ends every open watch (the hub stops serving).
    pub fn close_watches(&self) {
        self.closing.cancel();
    }

    /// A watch of every consumer: the current views as `ADDED`, then the changes.
    pub async fn watch(
        &self,
        healthy: Option<bool>,
        scope: Labels,
    ) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>> + use<>>, StoreError> {
        let mut snapshot = self.inner.snapshot.lock().await;
        if snapshot.views.is_none() {
            self.inner.refresh(&mut snapshot).await?;
        }
        // Subscribed under the lock: every later event follows the views copied here.
        let live = self.inner.events.subscribe();
        let position = snapshot.position;
        let mut initial = Vec::new();
        for view in snapshot.views.iter().flat_map(HashMap::values) {
            if healthy.is_none_or(|h| view.healthy == h) && labels_match(&scope, &view.labels) {
                initial.push(Framed::new(position, ChangeKind::Added, view.clone())?.sse());
            }
        }
        drop(snapshot);
        let scope = Arc::new(scope);
        let changes = futures::stream::unfold(Some(live), move |live| {
            let scope = scope.clone();
            async move {
                let mut live = live?;
                loop {
                    match live.recv().await {
                        // The health filter is on the view as sent: a consumer turning healthy
                        // again is a MODIFIED event that a `healthy=false` watcher does not get.
                        Ok(event) if healthy.is_some_and(|h| event.healthy != h) => {}
                        // A scoped watcher sees only the consumers its selector reaches.
                        Ok(event) if !labels_match(&scope, &event.labels) => {}
                        Ok(event) => return Some((event.sse(), Some(live))),
                        Err(broadcast::error::RecvError::Lagged(missed)) => {
                            let reason = format!(
                                "this watch fell {missed} events behind and was closed; watch again"
                            );
                            return Some((final_event(&reason), None));
                        }
                        Err(broadcast::error::RecvError::Closed) => return None,
                    }
                }
            }
        });
        let stream = futures::stream::iter(initial)
            .chain(changes)
            .map(Ok::<_, Infallible>)
            .take_until(self.closing.clone().cancelled_owned());
        Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(HEARTBEAT).text("heartbeat")))
    }
}

/// Rebuilds the views every [`POLL`] while someone watches; forgets them when nobody does.
async fn poll(inner: Arc<Inner>, stop: CancellationToken) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(POLL) => {}
        }
        let mut snapshot = inner.snapshot.lock().await;
        if inner.events.receiver_count() == 0 {
            snapshot.views = None;
            continue;
        }
        if let Err(err) = inner.refresh(&mut snapshot).await {
            warn!(%err, "rebuilding the consumer views for watchers failed; retrying");
        }
    }
}
