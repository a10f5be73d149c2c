//! Scenario `grpc-source`: N works over M simulated clusters, from create to the agents'
//! Applied, three ways on one hub: through REST (`POST /api/v1/resources`, 16 at a time, until
//! every resource has a status), and through the gRPC source API (`--source-grpc-addr`) by
//! sdk-go's source client (the Go program's `sourcebench` mode: Maestro's grpcsource client,
//! 16 publishing goroutines) with sdk-go's default publish limiter (50 events/s, burst 100) and
//! with it raised. Maestro publishes its figures for its gRPC clients with that limiter.
//!
//! A Go failure is reported as `{"error": ...}` beside the other figures.

use std::time::{Duration, Instant};

use futures::StreamExt as _;
use serde_json::{Value, json};

use crate::applied::wait_connected;
use crate::common::{Common, parse_duration};
use crate::env::{self, BenchDb, HubProcess};
use crate::payload::{self, Size};
use crate::report::Report;
use crate::rest::Rest;
use crate::stats::round;

#[derive(Debug, clap::Args)]
pub struct GrpcSourceArgs {
    #[command(flatten)]
    pub common: Common,
    /// Works per run.
    #[arg(long, default_value_t = 1000)]
    pub works: usize,
    /// Simulated clusters the works are spread over.
    #[arg(long, default_value_t = 10)]
    pub clusters: usize,
    /// The raised limiter's events/s (sdk-go's default: 50).
    #[arg(long, default_value_t = 10_000.0)]
    pub raised_qps: f64,
    /// The raised limiter's burst (sdk-go's default: 100).
    #[arg(long, default_value_t = 10_000)]
    pub raised_burst: u32,
    /// Bound of each run.
    #[arg(long, default_value = "300s", value_parser = parse_duration)]
    pub timeout: Duration,
}

/// Creates in flight at once over REST (as many as the Go side's publishers).
const CONCURRENCY: usize = 16;

pub async fn run(args: GrpcSourceArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.works > 0 && args.clusters > 0,
        "--works and --clusters must be positive"
    );
    let services = env::services(&args.common).await?;
    let db = BenchDb::create(&services.database_url).await?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let addr = format!("127.0.0.1:{port}");
    let hub = HubProcess::spawn_with(
        &args.common,
        &db,
        &services,
        &[format!("--source-grpc-addr={addr}")],
    )
    .await?;
    let outcome = measure(&args, &hub, &addr).await;
    hub.stop().await;
    db.drop_db().await;
    Report {
        scenario: "grpc-source",
        params: json!({
            "works": args.works,
            "clusters": args.clusters,
            "transport": args.common.transport,
            "store": args.common.store,
            "raised_limiter": {"qps": args.raised_qps, "burst": args.raised_burst},
        }),
        results: outcome?,
    }
    .print();
    Ok(())
}

async fn measure(args: &GrpcSourceArgs, hub: &HubProcess, addr: &str) -> anyhow::Result<Value> {
    let rest = Rest::new(&hub.base);
    let clusters = env::cluster_names("gsrc", args.clusters);
    rest.create_consumers(&clusters).await?;
    let agents = env::start_agents(hub, &clusters).await?;
    wait_connected(hub, clusters.len()).await;

    let over_rest = through_rest(args, &rest, &clusters).await?;
    let config = hub.dir.join("go-source-api.yaml");
    std::fs::write(&config, format!("url: {addr}\n"))?;
    let default = through_grpc(args, &config, &clusters, 0.0, 0, "default").await;
    let raised = through_grpc(
        args,
        &config,
        &clusters,
        args.raised_qps,
        args.raised_burst,
        "raised",
    )
    .await;
    env::stop_agents(agents).await;
    Ok(json!({
        "rest": over_rest,
        "grpc_default_limiter": default,
        "grpc_raised_limiter": raised,
    }))
}

async fn through_rest(
    args: &GrpcSourceArgs,
    rest: &Rest,
    clusters: &[String],
) -> anyhow::Result<Value> {
    let started = Instant::now();
    let created: Vec<anyhow::Result<Duration>> = futures::stream::iter(0..args.works)
        .map(|i| {
            let body = payload::create_bytes(Size::Small, &clusters[i % clusters.len()], i as u64);
            rest.create(body.into())
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    for result in created {
        result?;
    }
    let published = started.elapsed();
    let deadline = started + args.timeout;
    loop {
        let listed = rest.timestamps(None).await?;
        if listed.iter().all(|r| r.status_updated_at.is_some()) {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "REST works not applied within {:?}",
            args.timeout
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let applied = started.elapsed().as_secs_f64();
    Ok(json!({
        "publish_s": round(published.as_secs_f64()),
        "applied_s": round(applied),
        "works_per_s": round(args.works as f64 / applied),
    }))
}

async fn through_grpc(
    args: &GrpcSourceArgs,
    config: &std::path::Path,
    clusters: &[String],
    qps: f64,
    burst: u32,
    name: &str,
) -> Value {
    let source = format!(
        "bench-{name}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let go_args = [
        "sourcebench".to_owned(),
        config.display().to_string(),
        source,
        clusters.join(","),
        args.works.to_string(),
        qps.to_string(),
        burst.to_string(),
        format!("{}s", args.timeout.as_secs().max(1)),
    ];
    match crate::go::run_for_line(
        &go_args,
        args.timeout + Duration::from_secs(60),
        "sourcebench",
    )
    .await
    {
        Ok(line) => json!({
            "publish_s": line["publish_s"].as_f64().map(round),
            "applied_s": line["applied_s"].as_f64().map(round),
            "works_per_s": line["works_per_s"].as_f64().map(round),
            "limiter": line["limiter"],
        }),
        Err(error) => json!({ "error": error }),
    }
}
