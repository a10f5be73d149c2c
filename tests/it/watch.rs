//! `GET /api/v1/resources?watch=true` over a real socket on both backends: a filtered watcher
//! sees exactly its resources' ADDED/MODIFIED/DELETED events in order; a watcher resuming with
//! `Last-Event-ID` after a hub restart gets every later event once; a position older than the
//! retained feed answers 410.

use std::sync::Arc;
use std::time::Duration;

use baton::hub::api;
use baton::hub::metrics::HubMetrics;
use baton::hub::state::{AppState, NoConnections};
use serde_json::{Value, json};

use crate::harness::{Backend, TestApi, backend_tests, resource_body};
use crate::store_fixtures::{apply, deleted, report, report_on};

/// One server-sent event.
#[derive(Debug)]
pub(crate) struct SseEvent {
    pub(crate) id: Option<i64>,
    pub(crate) event: String,
    pub(crate) data: Value,
}

/// Reads server-sent events off a streaming response.
pub(crate) struct SseReader {
    response: reqwest::Response,
    buffer: String,
}

impl SseReader {
    async fn open(api: &TestApi, query: &str, last_event_id: Option<i64>) -> reqwest::Response {
        Self::open_path(
            api,
            &format!("/api/v1/resources?watch=true{query}"),
            last_event_id,
        )
        .await
    }

    /// A watch at `path` (with its query).
    pub(crate) async fn open_path(
        api: &TestApi,
        path: &str,
        last_event_id: Option<i64>,
    ) -> reqwest::Response {
        let mut request = api.http.get(format!("{}{path}", api.base));
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id.to_string());
        }
        request.send().await.unwrap()
    }

    pub(crate) fn new(response: reqwest::Response) -> Self {
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Self {
            response,
            buffer: String::new(),
        }
    }

    /// The next event (comments skipped), or a panic after `limit`.
    pub(crate) async fn next(&mut self, limit: Duration) -> SseEvent {
        tokio::time::timeout(limit, async {
            loop {
                if let Some(end) = self.buffer.find("\n\n") {
                    let block: String = self.buffer.drain(..end + 2).collect();
                    let (mut id, mut event, mut data) = (None, String::new(), String::new());
                    for line in block.lines() {
                        if let Some(v) = line.strip_prefix("id:") {
                            id = Some(v.trim().parse().unwrap());
                        } else if let Some(v) = line.strip_prefix("event:") {
                            event = v.trim().to_owned();
                        } else if let Some(v) = line.strip_prefix("data:") {
                            data.push_str(v.trim_start());
                        }
                    }
                    if event.is_empty() && data.is_empty() {
                        continue; // a heartbeat comment
                    }
                    return SseEvent {
                        id,
                        event,
                        data: serde_json::from_str(&data).unwrap(),
                    };
                }
                let chunk = self.response.chunk().await.unwrap().expect("stream ended");
                self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no event within {limit:?}"))
    }

    /// `n` events, each within the deadline.
    pub(crate) async fn take(&mut self, n: usize) -> Vec<SseEvent> {
        let mut events = Vec::new();
        for _ in 0..n {
            events.push(self.next(Duration::from_secs(10)).await);
        }
        events
    }
}

fn summary(events: &[SseEvent]) -> Vec<(String, String, Option<i64>)> {
    events
        .iter()
        .map(|e| {
            assert_eq!(
                e.data["type"],
                e.event.as_str(),
                "type matches the event name"
            );
            assert_eq!(
                e.data["position"].as_i64(),
                e.id,
                "position is the event id"
            );
            (
                e.event.clone(),
                e.data["name"].as_str().unwrap_or_default().to_owned(),
                e.data["object"]["version"].as_i64(),
            )
        })
        .collect()
}

fn ev(kind: &str, name: &str, version: Option<i64>) -> (String, String, Option<i64>) {
    (kind.to_owned(), name.to_owned(), version)
}

async fn a_filtered_watcher_sees_its_resources_lifecycle_in_order(backend: Backend) {
    let api = TestApi::spawn(backend).await;
    api.consumer("c1").await;
    api.consumer("c2").await;
    let mut watcher = SseReader::new(SseReader::open(&api, "&consumer_name=c1", None).await);
    let (status, created) = api
        .post("/api/v1/resources", resource_body("c1", Some("web"), "v1"))
        .await;
    assert_eq!(status, 201);
    // Not matching the filter: never seen.
    api.post("/api/v1/resources", resource_body("c2", Some("web"), "v1"))
        .await;
    let id: uuid::Uuid = created["id"].as_str().unwrap().parse().unwrap();
    // Each step awaits its event (as `kubectl wait` would): the event's object is the state
    // the hub read, so a step taken before it could already show.
    let mut events = watcher.take(1).await;
    apply(&*api.store, report(id, 1, "Applied")).await;
    events.extend(watcher.take(1).await);
    let (status, _) = api
        .put(
            &format!("/api/v1/resources/{id}"),
            json!({"version": 1, "manifests": [crate::harness::configmap("v2")]}),
        )
        .await;
    assert_eq!(status, 200);
    events.extend(watcher.take(1).await);
    apply(&*api.store, report_on(id, 2, 2, "AppliedV2")).await;
    events.extend(watcher.take(1).await);
    api.delete(&format!("/api/v1/resources/{id}")).await;
    events.extend(watcher.take(1).await);
    apply(&*api.store, deleted(id, 3)).await;
    events.extend(watcher.take(1).await);
    assert_eq!(
        summary(&events),
        [
            ev("ADDED", "web", Some(1)),
            ev("MODIFIED", "web", Some(1)),
            ev("MODIFIED", "web", Some(2)),
            ev("MODIFIED", "web", Some(2)),
            ev("MODIFIED", "web", Some(2)),
            ev("DELETED", "web", None),
        ]
    );
    assert!(events[1].data["object"]["status"].is_object(), "applied");
    assert!(
        events[4].data["object"]["deleted_at"].is_string(),
        "deleting"
    );
    let ids: Vec<i64> = events.iter().map(|e| e.id.unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids grow: {ids:?}");
    assert!(events.iter().all(|e| e.data["consumer_name"] == "c1"));
}

async fn a_watch_resumed_after_a_hub_restart_misses_and_repeats_nothing(backend: Backend) {
    let api = TestApi::spawn(backend).await;
    api.consumer("c1").await;
    let mut watcher = SseReader::new(SseReader::open(&api, "", None).await);
    api.post("/api/v1/resources", resource_body("c1", Some("a"), "v1"))
        .await;
    let first = watcher.next(Duration::from_secs(10)).await;
    assert_eq!(first.data["name"], "a");
    // Changes the watcher never saw, then the hub goes away.
    api.post("/api/v1/resources", resource_body("c1", Some("b"), "v1"))
        .await;
    api.post("/api/v1/resources", resource_body("c1", Some("c"), "v1"))
        .await;
    drop(watcher);
    let TestApi {
        store, state, db, ..
    } = api;
    drop(state);
    store.close().await;

    let store = db.store().await;
    let state = AppState::new(
        store.clone(),
        Arc::new(NoConnections),
        Arc::new(HubMetrics::new()),
    );
    let api = TestApi::serve(api::router(state.clone(), None), state, store, db).await;
    let mut resumed = SseReader::new(SseReader::open(&api, "", first.id).await);
    api.post("/api/v1/resources", resource_body("c1", Some("d"), "v1"))
        .await;
    let names: Vec<Value> = resumed
        .take(3)
        .await
        .into_iter()
        .map(|e| e.data["name"].clone())
        .collect();
    assert_eq!(names, ["b", "c", "d"]);
    // `?since=` resumes the same way.
    let mut since =
        SseReader::new(SseReader::open(&api, &format!("&since={}", first.id.unwrap()), None).await);
    let names: Vec<Value> = since
        .take(3)
        .await
        .into_iter()
        .map(|e| e.data["name"].clone())
        .collect();
    assert_eq!(names, ["b", "c", "d"]);
}

async fn a_position_older_than_the_feed_is_gone(backend: Backend) {
    let api = TestApi::spawn(backend).await;
    api.consumer("c1").await;
    api.post("/api/v1/resources", resource_body("c1", Some("a"), "v1"))
        .await;
    api.post("/api/v1/resources", resource_body("c1", Some("b"), "v1"))
        .await;
    api.store.sequence_changes().await.unwrap();
    api.store
        .prune_changes(chrono::Utc::now() + chrono::Duration::seconds(1))
        .await
        .unwrap();
    let response = SseReader::open(&api, "", Some(0)).await;
    assert_eq!(response.status(), 410);
    let body: Value = response.json().await.unwrap();
    assert!(
        body.to_string().contains("list again"),
        "the body says what to do: {body}"
    );
    let response = api
        .http
        .get(format!("{}/api/v1/resources?watch=true", api.base))
        .header("Last-Event-ID", "yesterday")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(body.to_string().contains("Last-Event-ID"), "{body}");
}

backend_tests!(
    a_filtered_watcher_sees_its_resources_lifecycle_in_order,
    a_watch_resumed_after_a_hub_restart_misses_and_repeats_nothing,
    a_position_older_than_the_feed_is_gone,
);

/// Two hubs on one PostgreSQL database: a change made through one reaches a watcher of the
/// other (the feed is in the database; each hub's pump follows it), woken by the writer's
/// announcement.
#[tokio::test]
async fn a_change_through_one_replica_reaches_a_watcher_on_another() {
    let writer = TestApi::spawn(Backend::Postgres).await;
    writer.consumer("c1").await;
    // The writing hub announces its commits, as `serve` has it do.
    let announce = tokio_util::sync::CancellationToken::new();
    let _announce_guard = announce.clone().drop_guard();
    {
        let store = writer.store.clone();
        tokio::spawn(async move { store.relay_wakeups(announce).await });
    }
    let store = writer.db.store().await;
    let relay = tokio_util::sync::CancellationToken::new();
    let _relay_guard = relay.clone().drop_guard();
    {
        let store = store.clone();
        tokio::spawn(async move { store.relay_wakeups(relay).await });
    }
    let state = AppState::new(
        store.clone(),
        Arc::new(NoConnections),
        Arc::new(HubMetrics::new()),
    );
    let watched = TestApi::serve(
        api::router(state.clone(), None),
        state,
        store,
        writer.db.clone(),
    )
    .await;
    let mut watcher = SseReader::new(SseReader::open(&watched, "", None).await);
    let mut delays = Vec::new();
    for i in 0..20 {
        let started = std::time::Instant::now();
        let (status, _) = writer
            .post(
                "/api/v1/resources",
                resource_body("c1", Some(&format!("r{i}")), "v1"),
            )
            .await;
        assert_eq!(status, 201);
        let event = watcher.next(Duration::from_secs(10)).await;
        delays.push(started.elapsed());
        assert_eq!(event.event, "ADDED");
        assert_eq!(event.data["name"], format!("r{i}"));
    }
    delays.sort();
    eprintln!(
        "create on one hub -> event on the other: median {:?}, max {:?}",
        delays[delays.len() / 2],
        delays[delays.len() - 1]
    );
}

/// SIGTERM ends open watch streams, so the hub drains and exits promptly instead of waiting for
/// its watchers to leave (their clients resume on another replica with `Last-Event-ID`).
#[tokio::test]
async fn a_hub_with_open_watches_stops_promptly_on_sigterm() {
    use crate::e2e::{Stack, Via};
    let stack = Stack::new(Via::Grpc, Backend::Sqlite).await;
    let hub = stack.start_hub().await;
    let mut streams = Vec::new();
    for path in [
        "/api/v1/resources?watch=true",
        "/api/v1/consumers?watch=true",
    ] {
        let response = stack
            .rest
            .http
            .get(stack.rest.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        streams.push(response);
    }
    let started = std::time::Instant::now();
    // `stop` sends SIGTERM and asserts a clean exit within its own deadline.
    hub.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "the hub took {:?} to stop with two open watches",
        started.elapsed()
    );
    for mut response in streams {
        // Each stream ends (no hang): reading to its end finishes.
        tokio::time::timeout(Duration::from_secs(5), async {
            while let Ok(Some(_)) = response.chunk().await {}
        })
        .await
        .expect("the watch stream ended with the hub");
    }
}
