//! The watches' newer parts over a real socket: status filters on the resources watch (both
//! backends, through `?watch=true` and the documented `/api/v1/watch/resources`), and the
//! consumers watch (`ADDED` per consumer first, then label, health and removal changes).

use std::time::Duration;

use serde_json::json;
use uuid::Uuid;

use crate::harness::{Backend, TestApi, backend_tests, configmap, resource_body};
use crate::store_fixtures::{apply, report, report_on};
use crate::watch::SseReader;

const LIMIT: Duration = Duration::from_secs(10);

async fn create(api: &TestApi, consumer: &str, name: &str) -> Uuid {
    let (code, body) = api
        .post(
            "/api/v1/resources",
            resource_body(consumer, Some(name), "1"),
        )
        .await;
    assert_eq!(code, 201, "{body}");
    body["id"].as_str().unwrap().parse().unwrap()
}

/// A failed status of version 1 (`Applied=False`).
fn failed(id: Uuid, seq: u64) -> baton::store::StatusReport {
    let mut r = report(id, seq, "Invalid");
    let document =
        json!({"conditions": [{"type": "Applied", "status": "False", "reason": "Invalid"}]});
    r.state = baton::store::ReportedState::Status {
        document: serde_json::value::to_raw_value(&document).unwrap(),
        hash: format!("{:0>64}", "failed"),
    };
    r
}

async fn status_filtered_watches_see_only_matching_resources(backend: Backend) {
    let api = TestApi::spawn(backend).await;
    api.consumer("c1").await;
    let mut failures = SseReader::new(
        SseReader::open_path(
            &api,
            "/api/v1/resources?watch=true&condition=Applied=False",
            None,
        )
        .await,
    );
    let mut deleting = SseReader::new(
        SseReader::open_path(
            &api,
            "/api/v1/watch/resources?state=deleting&consumer_name=c1",
            None,
        )
        .await,
    );
    let mut pending = SseReader::new(
        SseReader::open_path(&api, "/api/v1/watch/resources?state=pending", None).await,
    );
    let good = create(&api, "c1", "good").await;
    let bad = create(&api, "c1", "bad").await;
    // ADDED events of pending resources, in order.
    let added: Vec<_> = pending
        .take(2)
        .await
        .into_iter()
        .map(|e| (e.event, e.data["name"].clone()))
        .collect();
    assert_eq!(
        added,
        [
            ("ADDED".to_owned(), json!("good")),
            ("ADDED".to_owned(), json!("bad"))
        ]
    );
    apply(&*api.store, report(good, 1, "Applied")).await;
    apply(&*api.store, failed(bad, 1)).await;
    let event = failures.next(LIMIT).await;
    assert_eq!(
        (event.event.as_str(), event.data["name"].as_str()),
        ("MODIFIED", Some("bad")),
        "{:?}",
        event.data
    );
    assert_eq!(
        event.data["object"]["status"]["conditions"][0]["status"],
        "False"
    );
    // bad goes to version 2: pending again; its report on version 2 applies it.
    let (code, _) = api
        .put(
            &format!("/api/v1/resources/{bad}"),
            json!({"version": 1, "manifests": [configmap("2")]}),
        )
        .await;
    assert_eq!(code, 200);
    let event = pending.next(LIMIT).await;
    assert_eq!(
        (
            event.data["name"].as_str(),
            event.data["object"]["version"].as_i64()
        ),
        (Some("bad"), Some(2))
    );
    // Still Applied=False (the status of version 1): the failure watch sees the new version.
    assert_eq!(failures.next(LIMIT).await.data["object"]["version"], 2);
    apply(&*api.store, report_on(bad, 2, 2, "AppliedV2")).await;
    api.delete(&format!("/api/v1/resources/{good}")).await;
    let event = deleting.next(LIMIT).await;
    assert_eq!(
        (event.event.as_str(), event.data["name"].as_str()),
        ("MODIFIED", Some("good"))
    );
    assert!(event.data["object"]["deleted_at"].is_string());
    // Neither bad's report on version 2 nor good's deletion is pending: a new resource is
    // the pending watch's next event.
    create(&api, "c1", "third").await;
    let event = pending.next(LIMIT).await;
    assert_eq!(event.data["name"], "third", "{:?}", event.data);
    // Bad filters are a 400 before the stream starts.
    let response =
        SseReader::open_path(&api, "/api/v1/watch/resources?condition=Applied", None).await;
    assert_eq!(response.status(), 400);
}

async fn the_consumer_watch_starts_with_every_consumer_then_follows_changes(backend: Backend) {
    let api = TestApi::spawn(backend).await;
    api.consumer("c1").await;
    api.consumer("c2").await;
    let mut watcher =
        SseReader::new(SseReader::open_path(&api, "/api/v1/consumers?watch=true", None).await);
    let mut initial: Vec<String> = watcher
        .take(2)
        .await
        .into_iter()
        .map(|e| {
            assert_eq!(e.event, "ADDED");
            assert_eq!(e.data["object"]["kind"], "Consumer");
            e.data["object"]["name"].as_str().unwrap().to_owned()
        })
        .collect();
    initial.sort();
    assert_eq!(initial, ["c1", "c2"]);
    api.consumer("c3").await;
    let event = watcher.next(LIMIT).await;
    assert_eq!(
        (event.event.as_str(), event.data["object"]["name"].as_str()),
        ("ADDED", Some("c3"))
    );
    let (code, _) = api
        .patch("/api/v1/consumers/c1", json!({"labels": {"env": "prod"}}))
        .await;
    assert_eq!(code, 200);
    let event = watcher.next(LIMIT).await;
    assert_eq!(
        (
            event.event.as_str(),
            event.data["object"]["labels"]["env"].as_str()
        ),
        ("MODIFIED", Some("prod"))
    );
    // A resource pending on c2 changes its health counts.
    create(&api, "c2", "r").await;
    let event = watcher.next(LIMIT).await;
    assert_eq!(
        (
            event.event.as_str(),
            event.data["object"]["name"].as_str(),
            event.data["object"]["pending"].as_i64()
        ),
        ("MODIFIED", Some("c2"), Some(1))
    );
    assert_eq!(api.delete("/api/v1/consumers/c3").await.0, 204);
    let event = watcher.next(LIMIT).await;
    assert_eq!(
        (event.event.as_str(), event.data["object"]["name"].as_str()),
        ("DELETED", Some("c3"))
    );
    assert!(event.id.unwrap() > 0 && event.data["position"].as_i64() == event.id);
    // The documented path streams the same, with the health filter: nobody is unhealthy.
    let response = SseReader::open_path(&api, "/api/v1/watch/consumers?healthy=true", None).await;
    let mut healthy = SseReader::new(response);
    assert_eq!(healthy.take(2).await.len(), 2);
}

backend_tests!(
    status_filtered_watches_see_only_matching_resources,
    the_consumer_watch_starts_with_every_consumer_then_follows_changes,
);
