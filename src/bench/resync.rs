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

use super::args::{Common, parse_duration};
use super::env::{self, BenchDb, HubProcess};
use super::payload::{self, Size};
use super::report::Report;
use super::rest::Rest;
use super::stats::round;
use crate::agent::run::SimulatedAgent;

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
}

pub async fn run(args: ResyncArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.common.store == super::args::StoreKind::Postgres,
        "--store sqlite: scenario resync counts statuses in PostgreSQL only"
    );
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
    let agents = env::start_agents(hub, &clusters).await?;
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
    env::stop_agents(agents).await;
    // Conditions carry whole-second times: let a second pass so that the re-reported statuses
    // differ from the stored ones and are written, not skipped as unchanged.
    tokio::time::sleep(Duration::from_millis(1100)).await;

    // Status timestamps are whole microseconds of the DB clock; the same machine's clock.
    let restart_at = chrono::Utc::now();
    let restarted = Instant::now();
    let agents = env::start_agents(hub, &clusters).await?;
    let started_s = restarted.elapsed().as_secs_f64();
    let converged = wait_converged(&agents, args.resources, restarted + args.timeout).await?;
    let converged_s = restarted.elapsed().as_secs_f64();
    let statuses = wait_statuses(&pool, restart_at, total, args.timeout).await;
    let statuses_s = restarted.elapsed().as_secs_f64();
    env::stop_agents(agents).await;
    statuses?;
    anyhow::ensure!(converged, "not every agent converged");
    Ok(json!({
        "resources": total,
        "setup_s": round(setup_s),
        "agents_started_s": round(started_s),
        "agents_converged_s": round(converged_s),
        "statuses_back_s": round(statuses_s),
    }))
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
            if agent.controller().client().list().await.len() < m {
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
