//! Scenario `create`: REST creates at concurrency C for D seconds, per bundle size (§payload):
//! creates/s and latency percentiles. Agents are connected (one per cluster, in a process of
//! their own unless `--agents-in-process`) so the publisher and the status writer run as in
//! production; `--with-limit` also measures scenario `limit` at the same concurrency (by
//! default on the rows of one applied create with agents, the issue's rows without) and
//! prints the ratio. With agents on PostgreSQL, each phase also reports how many of its
//! creates had their status stored when the creating stopped and how long the rest took
//! (`drain`): a create rate the publisher and agents cannot keep up with shows there, not as
//! a better figure. Each phase reports the CPU time the hub, the database's backends, the
//! agents and the load generator spent from its first create to the end of its drain, in
//! seconds and per create (`cpu`).

use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use crate::agents_process::Agents;
use crate::common::{Common, StoreKind, parse_duration};
use crate::env::{self, BenchDb, HubProcess};
use crate::limit::Rows;
use crate::payload::{self, Size};
use crate::procstat::Parties;
use crate::report::Report;
use crate::rest::Rest;
use crate::stats::{Latencies, round};

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    #[command(flatten)]
    pub common: Common,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// How long to create, per size.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Bundle sizes to run, one phase each.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "small,large")]
    pub size: Vec<Size>,
    /// Clusters (consumers) the creates are spread over, each with a simulated agent.
    #[arg(long, default_value_t = 10)]
    pub clusters: usize,
    /// Do not start agents (creates only: nothing is applied or reported).
    #[arg(long)]
    pub no_agents: bool,
    /// Run the agents in this process instead of a child process of their own (their CPU
    /// time is then the bench's).
    #[arg(long, conflicts_with = "no_agents")]
    pub agents_in_process: bool,
    /// Also run scenario `limit` at the same concurrency and report create/s as its ratio.
    #[arg(long)]
    pub with_limit: bool,
    /// The rows of that limit (default: e2e with agents, issue with --no-agents).
    #[arg(long, value_enum, requires = "with_limit")]
    pub limit_rows: Option<Rows>,
}

impl CreateArgs {
    /// The rows `--with-limit` measures.
    fn limit_rows(&self) -> Rows {
        self.limit_rows.unwrap_or(if self.no_agents {
            Rows::Issue
        } else {
            Rows::E2e
        })
    }
}

/// Creates as fast as `concurrency` workers can for `duration`: (count, latencies, elapsed).
pub async fn drive(
    rest: &Rest,
    bodies: &[bytes::Bytes],
    concurrency: usize,
    duration: Duration,
) -> anyhow::Result<(Latencies, Duration)> {
    let started = Instant::now();
    let deadline = started + duration;
    let workers = (0..concurrency).map(|w| async move {
        let mut lat = Latencies::with_capacity(4096);
        let mut i = w;
        while Instant::now() < deadline {
            lat.record(rest.create(bodies[i % bodies.len()].clone()).await?);
            i += concurrency;
        }
        anyhow::Ok(lat)
    });
    let mut all = Latencies::default();
    for lat in futures::future::try_join_all(workers).await? {
        all.extend(lat);
    }
    Ok((all, started.elapsed()))
}

pub async fn run(args: CreateArgs) -> anyhow::Result<()> {
    let services = env::services(&args.common).await?;
    let db = BenchDb::create(&services.database_url).await?;
    let hub = HubProcess::spawn(&args.common, &db, &services).await?;
    let outcome = phases(&args, &hub, &db).await;
    hub.stop().await;
    db.drop_db().await;
    let mut results = outcome?;
    if args.with_limit {
        let limit = crate::limit::measure(
            &services.database_url,
            args.concurrency,
            args.duration,
            args.limit_rows(),
        )
        .await?;
        let tps = limit["tx_per_s"].as_f64().unwrap_or(0.0);
        if let Some(small) = results.get_mut("small") {
            let creates = small["creates_per_s"].as_f64().unwrap_or(0.0);
            small["ratio_to_limit"] = json!(round(if tps > 0.0 { creates / tps } else { 0.0 }));
        }
        results["limit"] = limit;
    }
    Report {
        scenario: "create",
        params: json!({
            "concurrency": args.concurrency,
            "duration_s": args.duration.as_secs_f64(),
            "sizes": args.size,
            "clusters": args.clusters,
            "agents": !args.no_agents,
            "agents_process": !args.no_agents && !args.agents_in_process,
            "limit_rows": args.with_limit.then(|| args.limit_rows()),
            "transport": args.common.transport,
            "store": args.common.store,
            "hub_db_connections": args.common.hub_db_connections,
            "replicas": args.common.replicas,
        }),
        results,
    }
    .print();
    Ok(())
}

async fn phases(args: &CreateArgs, hub: &HubProcess, db: &BenchDb) -> anyhow::Result<Value> {
    let rest = Rest::round_robin(&hub.bases);
    let clusters = env::cluster_names("create", args.clusters.max(1));
    rest.create_consumers(&clusters).await?;
    let agents = if args.no_agents {
        Agents::None
    } else {
        Agents::start(hub, "create", clusters.len(), args.agents_in_process).await?
    };
    let parties = Parties {
        hub: hub.procs(),
        database: db.name.clone(),
        agents: agents.proc(),
    };
    let status_counter = match args.common.store {
        StoreKind::Postgres if !args.no_agents => Some(
            PgPoolOptions::new()
                .max_connections(1)
                .connect(&db.url)
                .await
                .context("connecting to the hub's database")?,
        ),
        _ => None,
    };
    let mut results = json!({});
    for &size in &args.size {
        let bodies: Vec<bytes::Bytes> = clusters
            .iter()
            .enumerate()
            .map(|(i, c)| payload::create_bytes(size, c, i as u64).into())
            .collect();
        let cpu_before = parties.read();
        let started = Instant::now();
        let (lat, elapsed) = drive(&rest, &bodies, args.concurrency, args.duration).await?;
        let mut summary = lat.summary();
        summary["creates_per_s"] = json!(round(lat.len() as f64 / elapsed.as_secs_f64()));
        summary["body_bytes"] = json!(bodies[0].len());
        if let Some(pool) = &status_counter {
            summary["drain"] = drain(pool, DRAIN_TIMEOUT).await?;
        }
        let spent = parties.read().since(&cpu_before);
        summary["cpu"] = spent.per_create(lat.len(), started.elapsed());
        results[format!("{size:?}").to_lowercase()] = summary;
    }
    agents.stop().await;
    Ok(results)
}

/// How long the drain waits for the last statuses before giving up (and saying so).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(120);

/// Counts the resources still without a stored status now (and, of those, how many the
/// publisher had not yet sent: which stage is behind), then waits until there are none (or
/// `timeout`): `unreported_at_end`, `unpublished_at_end` and `drained_after_s` (null if the
/// timeout came first).
async fn drain(pool: &PgPool, timeout: Duration) -> anyhow::Result<Value> {
    let started = Instant::now();
    let unpublished_at_end: i64 = sqlx::query_scalar("SELECT count(*) FROM publish_outbox")
        .fetch_one(pool)
        .await
        .context("counting resources not yet published")?;
    let unreported = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM resources WHERE status_updated_at IS NULL",
        )
        .fetch_one(pool)
        .await
        .context("counting resources without a status")
    };
    let at_end = unreported().await?;
    let mut left = at_end;
    while left > 0 && started.elapsed() < timeout {
        tokio::time::sleep(Duration::from_millis(50)).await;
        left = unreported().await?;
    }
    Ok(json!({
        "unreported_at_end": at_end,
        "unpublished_at_end": unpublished_at_end,
        "unreported_after_timeout": left,
        "drained_after_s": (left == 0).then(|| round(started.elapsed().as_secs_f64())),
    }))
}
