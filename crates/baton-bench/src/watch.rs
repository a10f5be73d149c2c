//! Scenario `watch`: N watchers (default 1,000, over HTTP/1.1, one connection each, filtered by
//! consumer round robin) on one hub while creates flow at a fixed rate (default 500/s) through
//! REST; the delay from the creating transaction to each watcher's `ADDED` event (p50/p99),
//! and whether every watcher got every matching event. Then the store is filled to M resources
//! (default 100,000; 1 % of them `Applied=False`) and `GET /resources?condition=Applied=False`
//! is timed (p50/p99 of repeated first pages).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use baton::store::postgres::PgStore;
use baton::store::{ReportedState, StatusReport, Statuses, Store};
use chrono::{DateTime, Utc};
use serde_json::json;
use tokio::sync::Mutex;

use crate::common::{Common, parse_duration};
use crate::env::{self, BenchDb, HubProcess};
use crate::payload::{self, Size};
use crate::report::Report;
use crate::rest::Rest;
use crate::stats::{Latencies, ms, round};

#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub common: Common,
    /// Concurrent watchers.
    #[arg(long, default_value_t = 1000)]
    pub watchers: usize,
    /// Consumers the creates and the watchers' filters spread over.
    #[arg(long, default_value_t = 10)]
    pub consumers: usize,
    /// Creates per second while the watchers listen.
    #[arg(long, default_value_t = 500)]
    pub rate: usize,
    /// How long the creates flow.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Resources in the store when the status filter is timed.
    #[arg(long, default_value_t = 100_000)]
    pub resources: usize,
    /// Timed `condition=Applied=False` pages.
    #[arg(long, default_value_t = 50)]
    pub repeat: usize,
}

pub async fn run(args: WatchArgs) -> anyhow::Result<()> {
    ensure!(
        matches!(args.common.store, crate::common::StoreKind::Postgres),
        "the watch scenario fills the store through PostgreSQL (--store postgres)"
    );
    let services = env::services(&args.common).await?;
    let db = BenchDb::create(&services.database_url).await?;
    let hub = HubProcess::spawn(&args.common, &db, &services).await?;
    let outcome = measure(&args, &hub, &db).await;
    hub.stop().await;
    db.drop_db().await;
    Report {
        scenario: "watch",
        params: json!({
            "watchers": args.watchers,
            "consumers": args.consumers,
            "rate": args.rate,
            "duration_s": args.duration.as_secs_f64(),
            "resources": args.resources,
            "store": args.common.store,
        }),
        results: outcome?,
    }
    .print();
    Ok(())
}

async fn measure(
    args: &WatchArgs,
    hub: &HubProcess,
    db: &BenchDb,
) -> anyhow::Result<serde_json::Value> {
    let rest = Rest::new(&hub.base);
    let consumers = env::cluster_names("watch", args.consumers.max(1));
    rest.create_consumers(&consumers).await?;
    let mut results = delays(args, hub, &rest, &consumers).await?;
    results["condition_applied_false"] = status_filter(args, hub, db, &consumers).await?;
    Ok(results)
}

/// Part one: watchers, creates at `rate`, delays.
async fn delays(
    args: &WatchArgs,
    hub: &HubProcess,
    rest: &Rest,
    consumers: &[String],
) -> anyhow::Result<serde_json::Value> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .context("http client")?;
    let total = (args.rate as f64 * args.duration.as_secs_f64()) as usize;
    let per_consumer = |c: usize| (0..total).filter(|i| i % consumers.len() == c).count();
    let opened = futures::future::join_all((0..args.watchers).map(|w| {
        let url = format!(
            "{}/api/v1/resources?watch=true&consumer_name={}",
            hub.base,
            consumers[w % consumers.len()]
        );
        let http = http.clone();
        async move { http.get(url).send().await }
    }))
    .await;
    let samples = Arc::new(Mutex::new(Latencies::with_capacity(
        total * args.watchers / consumers.len(),
    )));
    let mut readers = Vec::with_capacity(args.watchers);
    for (w, response) in opened.into_iter().enumerate() {
        let response = response.context("opening a watch")?;
        ensure!(
            response.status() == 200,
            "a watch answered {}",
            response.status()
        );
        let want = per_consumer(w % consumers.len());
        readers.push(tokio::spawn(read_watch(response, want, samples.clone())));
    }
    // The creates, paced in 10 ms slots.
    let started = Instant::now();
    let slot = Duration::from_millis(10);
    let mut tick = tokio::time::interval(slot);
    let mut sent = 0usize;
    let mut inflight = Vec::new();
    while sent < total {
        tick.tick().await;
        let due = ((started.elapsed().as_secs_f64() * args.rate as f64) as usize).min(total);
        while sent < due {
            let consumer = &consumers[sent % consumers.len()];
            let body: bytes::Bytes =
                payload::create_bytes(Size::Small, consumer, sent as u64).into();
            let rest = rest.clone();
            inflight.push(tokio::spawn(async move { rest.create(body).await }));
            sent += 1;
        }
    }
    for create in inflight {
        create.await??;
    }
    let flowed = started.elapsed();
    let mut received = 0usize;
    let mut short = 0usize;
    for (w, reader) in readers.into_iter().enumerate() {
        let got = tokio::time::timeout(Duration::from_secs(120), reader)
            .await
            .context("a watcher did not get its events within 2 minutes")???;
        received += got;
        if got < per_consumer(w % consumers.len()) {
            short += 1;
        }
    }
    let samples = samples.lock().await;
    Ok(json!({
        "creates": total,
        "creates_per_s": round(total as f64 / flowed.as_secs_f64()),
        "events_received": received,
        "watchers_missing_events": short,
        "commit_to_event_ms": samples.summary(),
    }))
}

/// Reads `ADDED` events until `want`, recording each one's delay from its `created_at` (the
/// creating transaction's time); returns how many arrived.
async fn read_watch(
    mut response: reqwest::Response,
    want: usize,
    samples: Arc<Mutex<Latencies>>,
) -> anyhow::Result<usize> {
    #[derive(serde::Deserialize)]
    struct Event {
        object: Option<Object>,
    }
    #[derive(serde::Deserialize)]
    struct Object {
        created_at: DateTime<Utc>,
    }
    let mut buffer = String::new();
    let mut mine = Latencies::with_capacity(want);
    while mine.len() < want {
        let Some(chunk) = response.chunk().await? else {
            break;
        };
        let now = Utc::now();
        buffer.push_str(std::str::from_utf8(&chunk)?);
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            if block.contains("event: ERROR") {
                anyhow::bail!("a watcher was cut off: {block}");
            }
            let Some(data) = block.lines().find_map(|l| l.strip_prefix("data: ")) else {
                continue;
            };
            if !block.contains("event: ADDED") {
                continue;
            }
            if let Some(object) = serde_json::from_str::<Event>(data)?.object {
                mine.record((now - object.created_at).to_std().unwrap_or_default());
            }
        }
    }
    let got = mine.len();
    samples.lock().await.extend(mine);
    Ok(got)
}

/// Part two: fill to `resources` through the store (1 % failed), time the filtered list.
async fn status_filter(
    args: &WatchArgs,
    hub: &HubProcess,
    db: &BenchDb,
    consumers: &[String],
) -> anyhow::Result<serde_json::Value> {
    let store = PgStore::connect(&db.url, 8).await?;
    let filling = Instant::now();
    let existing = store
        .list_resources(&Default::default(), first_page())
        .await?
        .total as usize;
    let mut made = existing;
    let mut failed = 0usize;
    while made < args.resources {
        let batch: Vec<_> = (made..(made + 1000).min(args.resources))
            .map(|i| baton::store::NewResource {
                id: None,
                source: None,
                consumer_name: consumers[i % consumers.len()].clone(),
                name: Some(format!("fill-{i}")),
                spec: baton::store::ResourceSpec::from_values(&[json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("fill-{i}"), "namespace": "default"}})], None, None)
                    .unwrap_or_else(|_| unreachable!("static JSON")),
            })
            .collect();
        let created = store.create_resources(batch).await;
        let mut reports = Vec::with_capacity(created.len());
        for (k, resource) in created.into_iter().enumerate() {
            let resource = resource?;
            let bad = (made + k).is_multiple_of(100);
            failed += usize::from(bad);
            reports.push(report(resource.id, &resource.consumer_name, bad));
        }
        store.apply_statuses(&reports).await?;
        made += reports.len();
    }
    let filled = filling.elapsed();
    let http = reqwest::Client::new();
    let url = format!(
        "{}/api/v1/resources?condition=Applied=False&size=100",
        hub.base
    );
    let mut pages = Latencies::with_capacity(args.repeat);
    let mut total = 0;
    for _ in 0..args.repeat.max(1) {
        let started = Instant::now();
        let page: serde_json::Value = http.get(&url).send().await?.json().await?;
        pages.record(started.elapsed());
        total = page["total"].as_i64().unwrap_or_default();
    }
    store.close().await;
    Ok(json!({
        "resources": made,
        "matches": total,
        "expected_matches": failed,
        "fill_s": round(ms(filled) / 1000.0),
        "list_ms": pages.summary(),
    }))
}

fn first_page() -> baton::store::PageRequest {
    baton::store::PageRequest {
        page: 1,
        size: 1,
        order_by: baton::store::OrderBy::CreatedAt,
        direction: baton::store::Direction::Asc,
    }
}

/// An agent's first status: `Applied=True`, or `Applied=False` when `bad`.
fn report(id: uuid::Uuid, cluster: &str, bad: bool) -> StatusReport {
    let (status, reason) = if bad {
        ("False", "Invalid")
    } else {
        ("True", "Applied")
    };
    let document = json!({"conditions": [{"type": "Applied", "status": status, "reason": reason, "observedGeneration": 1}], "resourceStatus": {}});
    StatusReport {
        id,
        cluster: cluster.to_owned(),
        version: 1,
        sequence_id: "1".into(),
        state: ReportedState::Status {
            hash: format!("{id}{status}"),
            document: serde_json::value::to_raw_value(&document)
                .unwrap_or_else(|_| unreachable!("static JSON")),
        },
    }
}
