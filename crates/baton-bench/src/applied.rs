//! Scenario `applied`: creates at a fixed rate R across N simulated clusters; the latency from
//! the create to the agent's first status stored, read from the hub's own timestamps
//! (`status_updated_at - created_at`, both PostgreSQL `now()` of their transactions), so no
//! polling delay enters the figure. Also the REST create latency seen by the client, and the
//! CPU time the hub, the database's backends, the agents (in a process of their own unless
//! `--agents-in-process`) and the load generator spent while creating (`cpu`, per create).

use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;

use crate::agents_process::Agents;
use crate::common::{Common, parse_duration};
use crate::env::{self, BenchDb, HubProcess};
use crate::payload::{self, Size};
use crate::procstat::Parties;
use crate::report::Report;
use crate::rest::Rest;
use crate::stats::{Latencies, round};

#[derive(Debug, clap::Args)]
pub struct AppliedArgs {
    #[command(flatten)]
    pub common: Common,
    /// Creates per second (Maestro's figures: 20 per 30 s = 0.667, 100 per 30 s = 3.33).
    #[arg(long, default_value_t = 10.0)]
    pub rate: f64,
    /// Simulated clusters the creates are spread over.
    #[arg(long, default_value_t = 10)]
    pub clusters: usize,
    /// How long to create.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Bundle size.
    #[arg(long, value_enum, default_value = "small")]
    pub size: Size,
    /// How long to wait for the last statuses after the last create.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub settle: Duration,
    /// With --replicas 2 or more, after the run: SIGKILL the last replica, create one resource
    /// for each of its clusters through the first one, and time until all are applied (the
    /// agents move to another replica, which publishes what is pending for them).
    #[arg(long)]
    pub failover: bool,
    /// Run the agents in this process instead of a child process of their own (their CPU
    /// time is then the bench's).
    #[arg(long)]
    pub agents_in_process: bool,
}

pub async fn run(args: AppliedArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.rate > 0.0, "--rate must be positive");
    let services = env::services(&args.common).await?;
    let db = BenchDb::create(&services.database_url).await?;
    let mut hub = HubProcess::spawn(&args.common, &db, &services).await?;
    let outcome = measure(&args, &mut hub, &db).await;
    hub.stop().await;
    db.drop_db().await;
    let results = outcome?;
    Report {
        scenario: "applied",
        params: json!({
            "rate_per_s": args.rate,
            "clusters": args.clusters,
            "duration_s": args.duration.as_secs_f64(),
            "size": args.size,
            "transport": args.common.transport,
            "store": args.common.store,
            "hub_status_writers": args.common.hub_status_writers,
            "replicas": args.common.replicas,
            "agents_process": !args.agents_in_process,
        }),
        results,
    }
    .print();
    Ok(())
}

async fn measure(
    args: &AppliedArgs,
    hub: &mut HubProcess,
    db: &BenchDb,
) -> anyhow::Result<serde_json::Value> {
    let rest = Rest::round_robin(&hub.bases);
    let clusters = env::cluster_names("applied", args.clusters.max(1));
    rest.create_consumers(&clusters).await?;
    let agents = Agents::start(hub, "applied", clusters.len(), args.agents_in_process).await?;
    let bodies: Vec<bytes::Bytes> = clusters
        .iter()
        .enumerate()
        .map(|(i, c)| payload::create_bytes(args.size, c, i as u64).into())
        .collect();
    if args.agents_in_process {
        wait_connected(hub, clusters.len()).await;
    }
    let parties = Parties {
        hub: hub.procs(),
        database: db.name.clone(),
        agents: agents.proc(),
    };
    let cpu_before = parties.read();

    // Open loop: a create every 1/R s whatever the latency of the previous ones.
    let total = ((args.duration.as_secs_f64() * args.rate).ceil() as usize).max(1);
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / args.rate));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut in_flight = tokio::task::JoinSet::new();
    let mut create_lat = Latencies::with_capacity(total);
    let started = Instant::now();
    for i in 0..total {
        ticker.tick().await;
        let (rest, body) = (rest.clone(), bodies[i % bodies.len()].clone());
        in_flight.spawn(async move { rest.create(body).await });
        while let Some(done) = in_flight.try_join_next() {
            create_lat.record(done??);
        }
    }
    while let Some(done) = in_flight.join_next().await {
        create_lat.record(done??);
    }
    let offered = started.elapsed();
    // While creating at the fixed rate: the settling below lists every resource, which is the
    // bench's doing, not the cost of a create.
    let cpu = parties.read().since(&cpu_before).per_create(total, offered);

    // Every status back (or the settle time over), then the hub's own timestamps.
    let deadline = Instant::now() + args.settle;
    let listed = loop {
        let listed = rest.timestamps(None).await?;
        let reported = listed
            .iter()
            .filter(|r| r.status_updated_at.is_some())
            .count();
        if reported == listed.len() || Instant::now() > deadline {
            break listed;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let failover = if args.failover {
        Some(failover(args, hub, &clusters).await?)
    } else {
        None
    };
    agents.stop().await;
    let mut applied = Latencies::with_capacity(listed.len());
    for r in &listed {
        if let Some(at) = r.status_updated_at {
            let d = (at - r.created_at)
                .to_std()
                .context("status before create")?;
            applied.record(d);
        }
    }
    Ok(json!({
        "created": listed.len(),
        "applied": applied.len(),
        "missing": listed.len() - applied.len(),
        "offered_per_s": round(total as f64 / offered.as_secs_f64()),
        "applied_latency": applied.summary(),
        "create_latency": create_lat.summary(),
        "cpu": cpu,
        "failover": failover,
    }))
}

/// SIGKILL of the last replica, then one create per cluster its agents were on, through the
/// first replica: the time from the kill until every resource has a status.
async fn failover(
    args: &AppliedArgs,
    hub: &mut HubProcess,
    clusters: &[String],
) -> anyhow::Result<serde_json::Value> {
    let victim = hub.bases.len() - 1;
    anyhow::ensure!(victim > 0, "--failover needs --replicas 2 or more");
    let http = reqwest::Client::new();
    let victim_id = format!("replica-{victim}");
    // The registry's view lags by a heartbeat: ask until it places the agents.
    let mut orphans = Vec::new();
    for _ in 0..50 {
        orphans.clear();
        for cluster in clusters {
            let view: serde_json::Value = http
                .get(format!("{}/api/v1/consumers/{cluster}", hub.bases[0]))
                .send()
                .await?
                .json()
                .await?;
            if view["replica"] == victim_id.as_str() {
                orphans.push(cluster.clone());
            }
        }
        if !orphans.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    anyhow::ensure!(!orphans.is_empty(), "no agent on {victim_id}");
    let first = Rest::new(&hub.bases[0]);
    hub.kill_replica(victim).await?;
    let killed = Instant::now();
    for (i, cluster) in orphans.iter().enumerate() {
        first
            .create(payload::create_bytes(args.size, cluster, 1_000_000 + i as u64).into())
            .await?;
    }
    let deadline = killed + Duration::from_secs(120);
    loop {
        let listed = first.timestamps(None).await?;
        if listed.iter().all(|r| r.status_updated_at.is_some()) {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "not applied within 120 s of the kill"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(json!({
        "killed": victim_id,
        "clusters_moved": orphans.len(),
        "applied_after_kill_s": round(killed.elapsed().as_secs_f64()),
    }))
}

/// Waits (up to 60 s) until the hub's broker counts `n` subscribed clusters (gRPC only: with
/// MQTT the hub cannot see agents, and the agents' resync covers what they missed).
pub async fn wait_connected(hub: &HubProcess, n: usize) {
    if hub.mqtt.is_some() {
        tokio::time::sleep(Duration::from_secs(2)).await;
        return;
    }
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if crate::scrape::connected(&http, &hub.bases)
            .await
            .is_some_and(|c| c >= n)
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tracing::warn!(n, "not every agent connected within 60 s");
}
