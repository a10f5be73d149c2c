//! Watches under load, on one in-process hub over real sockets (PostgreSQL): 1,000 concurrent
//! watchers while ~500 changes/s flow each get every matching event, in order; a watcher that
//! stops reading is cut off with a final `ERROR` event once it falls too far behind, while
//! another keeps receiving everything, so what the hub holds for a stalled client is bounded.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use baton::hub::watch::BUFFER;
use baton::store::{NewResource, Store};

use crate::harness::{Backend, TestApi};
use crate::store_fixtures::{new_resource, spec};

/// Creates `count` resources on `consumers` round robin, in batches of `batch` every `every`.
async fn flow(
    store: Arc<dyn Store>,
    consumers: &[String],
    count: usize,
    batch: usize,
    every: Duration,
) {
    let mut tick = tokio::time::interval(every);
    let mut made = 0;
    while made < count {
        tick.tick().await;
        let news: Vec<NewResource> = (made..(made + batch).min(count))
            .map(|i| {
                new_resource(
                    &consumers[i % consumers.len()],
                    Some(&format!("r{i}")),
                    spec("v"),
                )
            })
            .collect();
        made += news.len();
        for created in store.create_resources(news).await {
            created.unwrap();
        }
    }
}

/// Reads a watch stream, counting `ADDED` events, until `want` or the stream ends; returns
/// the names in order and whether the stream ended with an `ERROR` event. Panics if the event
/// ids do not grow.
async fn count_added(mut response: reqwest::Response, want: usize) -> (Vec<String>, bool) {
    let mut buffer = String::new();
    let mut names = Vec::with_capacity(want);
    let mut last_id = 0_i64;
    while names.len() < want {
        let Ok(Some(chunk)) = response.chunk().await else {
            return (names, false);
        };
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            if block.contains("event: ERROR") {
                return (names, true);
            }
            if let Some(id) = block
                .lines()
                .find_map(|l| l.strip_prefix("id: "))
                .and_then(|id| id.trim().parse::<i64>().ok())
            {
                assert!(id > last_id, "event ids grow: {id} after {last_id}");
                last_id = id;
            }
            if block.contains("event: ADDED") {
                // `"name":"r12"` follows `consumer_name` in the event's data.
                let name = block
                    .split("\"name\":\"")
                    .nth(1)
                    .and_then(|rest| rest.split('"').next())
                    .unwrap_or_default();
                names.push(name.to_owned());
            }
        }
    }
    (names, false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_watchers_each_get_every_matching_event_at_500_changes_per_second() {
    const WATCHERS: usize = 1000;
    const CONSUMERS: usize = 10;
    const CHANGES: usize = 1500; // 3 s at 500/s
    let api = TestApi::spawn(Backend::Postgres).await;
    let consumers: Vec<String> = (0..CONSUMERS).map(|i| format!("c{i}")).collect();
    for c in &consumers {
        api.consumer(c).await;
    }
    // One connection per watcher (HTTP/1.1), opened before the flow starts.
    let opening = Instant::now();
    let opened = futures::future::join_all((0..WATCHERS).map(|w| {
        let url = format!(
            "{}/api/v1/resources?watch=true&consumer_name={}",
            api.base,
            consumers[w % CONSUMERS]
        );
        let http = api.http.clone();
        async move { http.get(url).send().await.unwrap() }
    }))
    .await;
    let watchers: Vec<_> = opened
        .into_iter()
        .map(|response| {
            assert_eq!(response.status(), 200);
            tokio::spawn(count_added(response, CHANGES / CONSUMERS))
        })
        .collect();
    eprintln!("{WATCHERS} watchers open in {:?}", opening.elapsed());
    let started = Instant::now();
    flow(
        api.store.clone(),
        &consumers,
        CHANGES,
        50,
        Duration::from_millis(100),
    )
    .await;
    let flowed = started.elapsed();
    let mut expected: HashMap<usize, Vec<String>> = HashMap::new();
    for i in 0..CHANGES {
        expected
            .entry(i % CONSUMERS)
            .or_default()
            .push(format!("r{i}"));
    }
    for names in expected.values_mut() {
        names.sort();
    }
    for (w, watcher) in watchers.into_iter().enumerate() {
        let (mut names, cut) = tokio::time::timeout(Duration::from_secs(60), watcher)
            .await
            .expect("every watcher gets its events within a minute")
            .unwrap();
        assert!(!cut, "watcher {w} was cut off");
        // In feed order (the ids grow); the rows of one batch have no order among them.
        names.sort();
        assert_eq!(
            names,
            expected[&(w % CONSUMERS)],
            "watcher {w}: every matching event once"
        );
    }
    eprintln!(
        "{WATCHERS} watchers, {CHANGES} changes in {flowed:?} ({:.0}/s), all delivered after {:?}",
        CHANGES as f64 / flowed.as_secs_f64(),
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_watcher_is_cut_off_while_another_keeps_receiving() {
    // More than the fan-out buffer plus what the sockets hold: ~4 KB events.
    let changes = BUFFER * 2;
    let api = TestApi::spawn(Backend::Postgres).await;
    api.consumer("c1").await;
    let open = || {
        api.http
            .get(format!("{}/api/v1/resources?watch=true", api.base))
            .send()
    };
    let stalled = open().await.unwrap();
    let reader = tokio::spawn(count_added(open().await.unwrap(), changes));
    let big = "x".repeat(4000);
    let store = api.store.clone();
    let mut made = 0;
    while made < changes {
        let news: Vec<NewResource> = (made..(made + 500).min(changes))
            .map(|i| new_resource("c1", Some(&format!("r{i}")), spec(&big)))
            .collect();
        made += news.len();
        for created in store.create_resources(news).await {
            created.unwrap();
        }
    }
    let (names, cut) = tokio::time::timeout(Duration::from_secs(120), reader)
        .await
        .expect("the reading watcher gets everything")
        .unwrap();
    assert!(!cut);
    assert_eq!(names.len(), changes, "the reading watcher missed nothing");
    // The stalled one, read only now: what the hub and the sockets held for it, then the end.
    let (seen, cut) = tokio::time::timeout(Duration::from_secs(60), count_added(stalled, changes))
        .await
        .expect("the stalled watcher's stream ends");
    assert!(cut, "a final ERROR event after {} events", seen.len());
    assert!(
        seen.len() < changes,
        "the hub did not keep every event for it"
    );
    assert_eq!(
        seen[..],
        names[..seen.len()],
        "what it got is in order, from the start"
    );
}
