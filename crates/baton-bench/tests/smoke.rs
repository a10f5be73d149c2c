//! `baton bench`: every scenario runs once at a tiny size through the real binary and prints a
//! JSON line with its result keys. Speed is not asserted: this only keeps the harness working.
//! Needs PostgreSQL and Mosquitto (`eval "$(scripts/services)"`).

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::time::Duration;

use serde_json::Value;
use tokio::process::Command;

/// The PostgreSQL server `scripts/services` starts (it exports DATABASE_URL).
fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/baton".to_owned())
}

/// Runs `baton bench <args>`; returns the JSON line's `results` after checking `scenario`.
async fn bench(args: &[&str]) -> Value {
    let mqtt = std::env::var("MQTT_BROKER_HOST").unwrap_or_else(|_| "127.0.0.1:1883".into());
    let run = Command::new(env!("CARGO_BIN_EXE_baton-bench"))
        .args(args)
        .env("DATABASE_URL", database_url())
        .env("MQTT_BROKER_HOST", mqtt)
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .output();
    // Generous: `sdk` may have to build the Go interop program first (a cold Go cache).
    let out = tokio::time::timeout(Duration::from_secs(600), run)
        .await
        .expect("bench finished within 600 s")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "bench {args:?} failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(line["scenario"], args[0], "{line}");
    assert!(line["params"].is_object(), "{line}");
    line["results"].clone()
}

fn number(v: &Value, path: &str) -> f64 {
    path.split('.')
        .fold(v, |v, k| &v[k])
        .as_f64()
        .unwrap_or_else(|| panic!("no number at {path} in {v}"))
}

#[tokio::test]
async fn bench_create_reports_throughput_latency_and_the_limit_ratio() {
    let r = bench(&[
        "create",
        "--duration=1s",
        "--concurrency=2",
        "--clusters=2",
        "--with-limit",
    ])
    .await;
    for size in ["small", "large"] {
        assert!(number(&r, &format!("{size}.count")) > 0.0, "{r}");
        number(&r, &format!("{size}.creates_per_s"));
        number(&r, &format!("{size}.p99_ms"));
        assert_eq!(
            number(&r, &format!("{size}.drain.unreported_after_timeout")),
            0.0,
            "{r}"
        );
        // The agents run in their own process: each party's CPU is its own.
        for party in ["hub", "postgres", "agents", "bench"] {
            number(&r, &format!("{size}.cpu.{party}_ms_per_create"));
            number(&r, &format!("{size}.cpu.{party}_s"));
        }
    }
    assert!(number(&r, "small.cpu.hub_s") > 0.0, "{r}");
    assert!(number(&r, "limit.tx_per_s") > 0.0, "{r}");
    assert_eq!(
        r["limit"]["rows"], "e2e",
        "with agents, the applied create's rows: {r}"
    );
    number(&r, "small.ratio_to_limit");
}

#[tokio::test]
async fn bench_create_without_agents_compares_with_the_issues_rows() {
    let r = bench(&[
        "create",
        "--duration=1s",
        "--concurrency=2",
        "--clusters=2",
        "--size=small",
        "--no-agents",
        "--with-limit",
    ])
    .await;
    assert!(number(&r, "small.count") > 0.0, "{r}");
    assert!(r["small"]["cpu"]["agents_ms_per_create"].is_null(), "{r}");
    number(&r, "small.cpu.hub_ms_per_create");
    assert_eq!(r["limit"]["rows"], "issue", "{r}");
    number(&r, "small.ratio_to_limit");
}

#[tokio::test]
async fn bench_create_keeps_the_agents_in_its_own_process_on_request() {
    let r = bench(&[
        "create",
        "--duration=1s",
        "--concurrency=2",
        "--clusters=2",
        "--size=small",
        "--agents-in-process",
    ])
    .await;
    assert!(number(&r, "small.count") > 0.0, "{r}");
    assert_eq!(
        number(&r, "small.drain.unreported_after_timeout"),
        0.0,
        "{r}"
    );
    assert!(r["small"]["cpu"]["agents_ms_per_create"].is_null(), "{r}");
    number(&r, "small.cpu.bench_ms_per_create");
}

#[tokio::test]
async fn bench_applied_reports_latency_from_create_to_status() {
    let r = bench(&["applied", "--rate=20", "--duration=1s", "--clusters=2"]).await;
    assert_eq!(number(&r, "missing"), 0.0, "{r}");
    assert!(number(&r, "applied_latency.count") > 0.0, "{r}");
    number(&r, "applied_latency.p95_ms");
    for party in ["hub", "postgres", "agents", "bench"] {
        number(&r, &format!("cpu.{party}_ms_per_create"));
    }
}

#[tokio::test]
async fn bench_list_pages_through_every_bundle() {
    let r = bench(&["list", "--count=20", "--repeat=1"]).await;
    assert_eq!(number(&r, "page_size_100.items"), 20.0, "{r}");
    number(&r, "page_size_1000.median_ms");
}

#[tokio::test]
async fn bench_watch_reports_event_delays_and_the_status_filter_latency() {
    let r = bench(&[
        "watch",
        "--watchers=4",
        "--consumers=2",
        "--rate=20",
        "--duration=1s",
        "--resources=300",
        "--repeat=2",
    ])
    .await;
    assert_eq!(
        number(&r, "events_received"),
        40.0,
        "every watcher, every event: {r}"
    );
    assert_eq!(number(&r, "watchers_missing_events"), 0.0, "{r}");
    number(&r, "commit_to_event_ms.p99_ms");
    let matches = number(&r, "condition_applied_false.matches");
    assert_eq!(
        matches,
        number(&r, "condition_applied_false.expected_matches"),
        "{r}"
    );
    number(&r, "condition_applied_false.list_ms.p99_ms");
}

#[tokio::test]
async fn bench_resync_times_the_return_of_specs_and_statuses() {
    let r = bench(&["resync", "--clusters=2", "--resources=2", "--timeout=60s"]).await;
    assert_eq!(number(&r, "resources"), 4.0, "{r}");
    number(&r, "agents_converged_s");
    number(&r, "statuses_back_s");
}

#[tokio::test]
async fn bench_idle_reports_hub_memory_per_cluster() {
    let r = bench(&["idle", "--clusters=3"]).await;
    assert!(number(&r, "hub_rss_before_kib") > 0.0, "{r}");
    number(&r, "hub_kb_per_cluster");
}

#[tokio::test]
async fn bench_limit_reports_the_raw_insert_rate() {
    let r = bench(&["limit", "--duration=1s", "--concurrency=2"]).await;
    assert!(number(&r, "tx_per_s") > 0.0, "{r}");
    assert!(number(&r, "row_bytes") > 3000.0, "{r}");
    let r = bench(&[
        "limit",
        "--duration=1s",
        "--concurrency=2",
        "--rows=resources",
    ])
    .await;
    assert!(number(&r, "tx_per_s") > 0.0, "{r}");
    assert!(number(&r, "row_bytes") > 3000.0, "{r}");
    assert_eq!(r["rows"], "resources", "{r}");
    let r = bench(&["limit", "--duration=1s", "--concurrency=2", "--rows=e2e"]).await;
    assert!(number(&r, "tx_per_s") > 0.0, "pairs per second: {r}");
    assert!(number(&r, "row_bytes") > 3000.0, "{r}");
    assert!(number(&r, "status_bytes") > 500.0, "{r}");
    // The condition trigger read the agent's status: its two work conditions, per pair.
    assert_eq!(number(&r, "conditions_per_pair"), 2.0, "{r}");
    assert_eq!(r["rows"], "e2e", "{r}");
}

#[tokio::test]
async fn bench_sdk_moves_works_through_the_lifecycle_over_mosquitto() {
    // sdk-go's pair too (the interop tests already need Go in the test command).
    let r = bench(&["sdk", "--works=3", "--timeout=60s"]).await;
    number(&r, "baton.total_s");
    number(&r, "baton.delete_s");
    assert!(r["sdk_go"]["error"].is_null(), "{r}");
    number(&r, "sdk_go.total_s");
    number(&r, "sdk_go.delete_s");
    assert_eq!(r["sdk_go"]["limiter"]["qps"], 50.0, "{r}");
    number(&r, "baton_speedup");
}

#[tokio::test]
async fn bench_grpc_source_drives_the_source_api_with_sdk_go_beside_rest() {
    let r = bench(&["grpc-source", "--works=6", "--clusters=2", "--timeout=60s"]).await;
    number(&r, "rest.applied_s");
    for run in ["grpc_default_limiter", "grpc_raised_limiter"] {
        assert!(r[run]["error"].is_null(), "{r}");
        number(&r, &format!("{run}.applied_s"));
        number(&r, &format!("{run}.works_per_s"));
    }
    assert_eq!(r["grpc_default_limiter"]["limiter"]["qps"], 50.0, "{r}");
    assert_eq!(r["grpc_raised_limiter"]["limiter"]["qps"], 10000.0, "{r}");
}

#[tokio::test]
async fn bench_runs_the_hub_on_the_sqlite_store_too() {
    let r = bench(&["list", "--count=5", "--repeat=1", "--store=sqlite"]).await;
    assert_eq!(number(&r, "page_size_100.items"), 5.0, "{r}");
}
