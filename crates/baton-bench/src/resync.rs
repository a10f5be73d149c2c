//! Scenario `resync`: N clusters × M resources applied and reported; then every agent stops
//! and starts again at once WITHOUT state, so every spec must come back by the spec resync
//! (§6.2) and every status be reported again. Measured from the restart: the time until every
//! agent holds its M works ("converged"), and until every row has a status stored after the
//! restart ("statuses back", counted in the hub's database).

use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use serde_json::json;
use sqlx::postgres::PgPoolOptions;

use crate::common::{Common, parse_duration};
use crate::env::{self, BenchDb, HubProcess};
use crate::payload::{self, Size};
use crate::procstat::{Proc, postgres_backends_cpu_seconds};
use crate::report::Report;
use crate::rest::Rest;
use crate::scrape;
use crate::stats::round;
use baton::agent::run::SimulatedAgent;

/// The hub's counter of agents' status events, by outcome (stored, ignored, unchanged, ...).
const STATUS_COUNTER: &str = "baton_status_updates_total";

#[derive(Debug, clap::Args)]
pub struct ResyncArgs {
    #[command(flatten)]
    pub common: Common,
    /// Clusters, each with a simulated agent.
    #[arg(long, default_value_t = 100)]
    pub clusters: usize,
    /// Resources per cluster.
    #[arg(long, default_value_t = 10)]
    pub resources: usize,
    /// Give up after this long (setup and the restart each).
    #[arg(long, default_value = "600s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Agents connecting at a time: a wave starts when the hub counts the one before it.
    #[arg(long, default_value_t = 500)]
    pub wave: usize,
}

pub async fn run(args: ResyncArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.common.store == crate::common::StoreKind::Postgres,
        "--store sqlite: scenario resync counts statuses in PostgreSQL only"
    );
    // This process holds a socket per agent, the hub (its child, same limit) one per agent too.
    let needed = args.clusters as u64 + 1024;
    if let Some(limit) = env::open_files_limit().filter(|l| *l < needed) {
        anyhow::bail!(
            "{} agents need about {needed} open files per process, `ulimit -n` is {limit}: raise it (e.g. `ulimit -n 20000`)",
            args.clusters
        );
    }
    let services = env::services(&args.common).await?;
    let db = BenchDb::create(&services.database_url).await?;
    let hub = HubProcess::spawn(&args.common, &db, &services).await?;
    let outcome = measure(&args, &hub, &db).await;
    hub.stop().await;
    db.drop_db().await;
    Report {
        scenario: "resync",
        params: json!({
            "clusters": args.clusters,
            "resources_per_cluster": args.resources,
            "transport": args.common.transport,
            "wave": args.wave,
            "hub_status_writers": args.common.hub_status_writers,
        }),
        results: outcome?,
    }
    .print();
    Ok(())
}

async fn measure(
    args: &ResyncArgs,
    hub: &HubProcess,
    db: &BenchDb,
) -> anyhow::Result<serde_json::Value> {
    let rest = Rest::new(&hub.base);
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(&db.url)
        .await?;
    let clusters = env::cluster_names("resync", args.clusters.max(1));
    let total = (clusters.len() * args.resources) as i64;
    rest.create_consumers(&clusters).await?;

    let setup = Instant::now();
    let agents =
        env::start_agents_in_waves(hub, &clusters, args.wave, setup + args.timeout).await?;
    let setup_connected_s = setup.elapsed().as_secs_f64();
    let bodies: Vec<bytes::Bytes> = clusters
        .iter()
        .map(|c| payload::create_bytes(Size::Small, c, 0).into())
        .collect();
    let creates: Vec<anyhow::Result<std::time::Duration>> =
        futures::stream::iter((0..total as usize).map(|i| bodies[i % bodies.len()].clone()))
            .map(|body| rest.create(body))
            .buffer_unordered(16)
            .collect()
            .await;
    creates.into_iter().collect::<Result<Vec<_>, _>>()?;
    let epoch = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
    wait_statuses(&pool, epoch, total, args.timeout).await?;
    let setup_s = setup.elapsed().as_secs_f64();
    eprintln!("resync: setup done in {setup_s:.1} s; stopping the agents, then restarting them");
    env::stop_agents(agents).await;
    let http = reqwest::Client::new();
    let gone = Instant::now() + args.timeout;
    if hub.mqtt.is_none() {
        env::wait_connected_count(&http, hub, |n| n == 0, gone).await?;
    }
    // Conditions carry whole-second times: let a second pass so that the re-reported statuses
    // differ from the stored ones and are written, not skipped as unchanged.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // Every replica's share: CPU and status outcomes are summed, memory is per process.
    let hub_procs = hub.procs();
    anyhow::ensure!(
        hub_procs.len() == hub.bases.len(),
        "a hub replica has exited"
    );
    let hub_rss_before: Vec<u64> = hub_procs.iter().map(|p| p.rss_kib().unwrap_or(0)).collect();
    let sampler = RssSampler::start(hub_procs.clone());
    let (hub_cpu, own_cpu) = (cpu_of(&hub_procs), Proc::this().cpu_seconds());
    let pg_cpu = postgres_backends_cpu_seconds(&db.name);
    let statuses_before = status_outcomes(&http, &hub.bases).await;

    // Status timestamps are whole microseconds of the DB clock; the same machine's clock.
    let restart_at = chrono::Utc::now();
    let restarted = Instant::now();
    let agents =
        env::start_agents_in_waves(hub, &clusters, args.wave, restarted + args.timeout).await?;
    let started_s = restarted.elapsed().as_secs_f64();
    let converged = wait_converged(&agents, args.resources, restarted + args.timeout).await?;
    let converged_s = restarted.elapsed().as_secs_f64();
    let statuses = wait_statuses(&pool, restart_at, total, args.timeout).await;
    let statuses_s = restarted.elapsed().as_secs_f64();
    let cpu = |now: Option<f64>, then: Option<f64>| now.zip(then).map(|(n, t)| round(n - t));
    let hub_cpu_s = cpu(cpu_of(&hub_procs), hub_cpu);
    let bench_cpu_s = cpu(Proc::this().cpu_seconds(), own_cpu);
    let pg_cpu_s = cpu(postgres_backends_cpu_seconds(&db.name), pg_cpu);
    let status_events =
        scrape::difference(&statuses_before, &status_outcomes(&http, &hub.bases).await);
    let hub_rss_peak = sampler.stop().await;
    env::stop_agents(agents).await;
    statuses?;
    anyhow::ensure!(converged, "not every agent converged");
    // The largest replica's figures, and what the restart added over all of them.
    let grown: u64 = hub_rss_peak
        .iter()
        .zip(&hub_rss_before)
        .map(|(peak, before)| peak.saturating_sub(*before))
        .sum();
    let (hub_rss_before, hub_rss_peak) = (
        hub_rss_before.iter().copied().max().unwrap_or(0),
        hub_rss_peak.iter().copied().max().unwrap_or(0),
    );
    let per_resource = |s: Option<f64>| s.map(|s| round(s * 1000.0 / total as f64));
    let per_cluster = |kib: u64| round(kib as f64 * 1024.0 / clusters.len() as f64 / 1000.0);
    Ok(json!({
        "resources": total,
        "setup_agents_connected_s": round(setup_connected_s),
        "setup_s": round(setup_s),
        "agents_started_s": round(started_s),
        "agents_converged_s": round(converged_s),
        "statuses_back_s": round(statuses_s),
        "hub_cpu_s": hub_cpu_s,
        "bench_cpu_s": bench_cpu_s,
        "postgres_cpu_s": pg_cpu_s,
        "hub_cpu_ms_per_resource": per_resource(hub_cpu_s),
        "postgres_cpu_ms_per_resource": per_resource(pg_cpu_s),
        "status_events": status_events,
        "hub_rss_before_restart_kib": hub_rss_before,
        "hub_rss_peak_kib": hub_rss_peak,
        "hub_peak_kb_per_cluster": per_cluster(grown),
    }))
}

/// The largest VmRSS of each process, sampled every 100 ms until stopped.
struct RssSampler {
    stop: tokio_util::sync::CancellationToken,
    task: tokio::task::JoinHandle<Vec<u64>>,
}

impl RssSampler {
    fn start(procs: Vec<Proc>) -> Self {
        let stop = tokio_util::sync::CancellationToken::new();
        let until = stop.clone();
        let task = tokio::spawn(async move {
            let mut peak = vec![0; procs.len()];
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            loop {
                for (peak, proc) in peak.iter_mut().zip(&procs) {
                    *peak = (*peak).max(proc.rss_kib().unwrap_or(0));
                }
                tokio::select! {
                    () = until.cancelled() => return peak,
                    _ = tick.tick() => {}
                }
            }
        });
        Self { stop, task }
    }

    async fn stop(self) -> Vec<u64> {
        self.stop.cancel();
        self.task.await.unwrap_or_default()
    }
}

/// The CPU seconds of `procs` together; `None` when one cannot be read.
fn cpu_of(procs: &[Proc]) -> Option<f64> {
    procs.iter().map(Proc::cpu_seconds).sum()
}

/// The hub's status outcomes, summed over the replicas at `bases`.
async fn status_outcomes(
    http: &reqwest::Client,
    bases: &[String],
) -> std::collections::BTreeMap<String, f64> {
    let mut total = std::collections::BTreeMap::new();
    for base in bases {
        for (outcome, n) in scrape::outcomes(http, base, STATUS_COUNTER).await {
            *total.entry(outcome).or_insert(0.0) += n;
        }
    }
    total
}

/// Until every agent holds `m` works; false at the deadline.
async fn wait_converged(
    agents: &[SimulatedAgent],
    m: usize,
    deadline: Instant,
) -> anyhow::Result<bool> {
    let mut pending: Vec<&SimulatedAgent> = agents.iter().collect();
    while Instant::now() < deadline {
        let mut still = Vec::with_capacity(pending.len());
        for agent in pending {
            if agent.controller().client().held().await < m {
                still.push(agent);
            }
        }
        if still.is_empty() {
            return Ok(true);
        }
        pending = still;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(false)
}

/// Until `total` rows have a status stored after `since`.
async fn wait_statuses(
    pool: &sqlx::PgPool,
    since: chrono::DateTime<chrono::Utc>,
    total: i64,
    timeout: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let done: i64 =
            sqlx::query_scalar("SELECT count(*) FROM resources WHERE status_updated_at > $1")
                .bind(since)
                .fetch_one(pool)
                .await
                .context("counting statuses")?;
        if done >= total {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {done} of {total} statuses within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
