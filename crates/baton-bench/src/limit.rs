//! Scenario `limit`: the machine's raw PostgreSQL insert rate for what a create writes, as the
//! ceiling `create` is compared with. A tight loop of transactions, each inserting one ~3.3 KB
//! JSONB row (the small bundle's request body) and one small row, at a concurrency of C
//! connections, in a throwaway database.
//!
//! `--rows resources` inserts instead one row per transaction into the hub's own `resources`
//! table (created by the store's migrations: `json` documents, its indexes and foreign key),
//! the row a create writes, to check that the issue's rows are a fair ceiling.
//!
//! `--rows e2e` runs instead, per iteration, what one applied create costs the database
//! ([`crate::e2e_rows`]), through the hub's store: its create of one resource, then its status
//! writer's read and compare-and-set of the same row; `tx_per_s` counts those pairs. It is the
//! ceiling of `create` with agents.
//!
//! The other rows deliberately bypass the hub's store: they measure PostgreSQL on this
//! machine, with nothing of baton between the loop and the server.

use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::common::{Common, parse_duration};
use crate::e2e_rows::AppliedCreate;
use crate::env::{self, BenchDb};
use crate::payload::{self, Size};
use crate::report::Report;
use crate::stats::{Latencies, round};

#[derive(Debug, clap::Args)]
pub struct LimitArgs {
    #[command(flatten)]
    pub common: Common,
    /// Connections inserting at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// How long to insert.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Which rows each transaction inserts.
    #[arg(long, value_enum, default_value = "issue")]
    pub rows: Rows,
}

/// The rows of the loop's transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Rows {
    /// The issue's definition: one 3.3 KB `jsonb` row and one small row, in bare tables.
    Issue,
    /// One row of the hub's own `resources` table, as a create writes it: its migrations'
    /// schema (`json` documents, six indexes, the consumer foreign key), the small bundle's
    /// manifests.
    Resources,
    /// One applied create through the hub's store, on its migrated schema: its create (the
    /// resources row and its publish_outbox row), then its status writer's compare and set of
    /// that row with a simulated agent's status; every trigger fires. Counted in pairs.
    E2e,
}

const SCHEMA: [&str; 2] = [
    "CREATE TABLE big (id UUID PRIMARY KEY, consumer TEXT NOT NULL, body JSONB NOT NULL, \
     created_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    "CREATE TABLE small (id UUID PRIMARY KEY, big_id UUID NOT NULL, \
     created_at TIMESTAMPTZ NOT NULL DEFAULT now())",
];

/// Measures on a fresh database of the server at `admin_url`: `{tx_per_s, row_bytes, ...}`.
pub async fn measure(
    admin_url: &str,
    concurrency: usize,
    duration: Duration,
    rows: Rows,
) -> anyhow::Result<Value> {
    let db = BenchDb::create(admin_url).await?;
    let outcome = insert_loop(&db.url, concurrency, duration, rows).await;
    db.drop_db().await;
    outcome
}

/// What one iteration writes, ready to bind.
enum Payload {
    Issue(String),
    Resources { text: String, consumer: uuid::Uuid },
    E2e(Box<AppliedCreate>),
}

impl Payload {
    async fn prepare(pool: &sqlx::PgPool, rows: Rows) -> anyhow::Result<Self> {
        let body = payload::create_body(Size::Small, "limit-1", 1);
        if rows == Rows::Issue {
            for ddl in SCHEMA {
                sqlx::query(ddl).execute(pool).await?;
            }
            return Ok(Self::Issue(body.to_string()));
        }
        use baton::store::Store;
        let store = baton::store::postgres::PgStore::from_pool(pool.clone());
        store.migrate().await?;
        if rows == Rows::E2e {
            return Ok(Self::E2e(Box::new(
                AppliedCreate::prepare(store, &body).await?,
            )));
        }
        let consumer = uuid::Uuid::new_v4();
        sqlx::query("INSERT INTO consumers (id, name) VALUES ($1, 'limit-1')")
            .bind(consumer)
            .execute(pool)
            .await?;
        Ok(Self::Resources {
            text: body["manifests"].to_string(),
            consumer,
        })
    }

    /// The bytes of the big document each iteration writes.
    fn row_bytes(&self) -> usize {
        match self {
            Self::Issue(text) | Self::Resources { text, .. } => text.len(),
            Self::E2e(applied) => applied.row_bytes(),
        }
    }

    /// One iteration: one transaction, committed (with `E2e`, the pair of them).
    async fn insert(&self, pool: &sqlx::PgPool) -> anyhow::Result<()> {
        let id = uuid::Uuid::new_v4();
        match self {
            Self::E2e(applied) => return applied.run().await,
            Self::Issue(text) => {
                let mut tx = pool.begin().await?;
                sqlx::query("INSERT INTO big (id, consumer, body) VALUES ($1, $2, $3::jsonb)")
                    .bind(id)
                    .bind("limit-1")
                    .bind(text)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("INSERT INTO small (id, big_id) VALUES ($1, $2)")
                    .bind(uuid::Uuid::new_v4())
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
            }
            Self::Resources { text, consumer } => {
                let mut tx = pool.begin().await?;
                sqlx::query(
                    "INSERT INTO resources (id, consumer_id, consumer_name, version, manifests) \
                     VALUES ($1, $2, 'limit-1', 1, $3::json)",
                )
                .bind(id)
                .bind(consumer)
                .bind(text)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
            }
        }
        Ok(())
    }
}

async fn insert_loop(
    url: &str,
    concurrency: usize,
    duration: Duration,
    rows: Rows,
) -> anyhow::Result<Value> {
    // JIT off, as on the hub's connections (`src/store/postgres/mod.rs`): the triggers'
    // statements would otherwise be compiled on estimates made without statistics.
    let options = PgConnectOptions::from_str(url)?.options([("jit", "off")]);
    let pool = PgPoolOptions::new()
        .max_connections(concurrency as u32)
        .min_connections(concurrency as u32)
        .connect_with(options)
        .await
        .context("connecting to the limit database")?;
    let payload = std::sync::Arc::new(Payload::prepare(&pool, rows).await?);
    let started = Instant::now();
    let deadline = started + duration;
    let workers = (0..concurrency).map(|_| {
        let (pool, payload) = (pool.clone(), payload.clone());
        async move {
            let mut lat = Latencies::with_capacity(8192);
            while Instant::now() < deadline {
                let t = Instant::now();
                payload.insert(&pool).await?;
                lat.record(t.elapsed());
            }
            anyhow::Ok(lat)
        }
    });
    let mut all = Latencies::default();
    for lat in futures::future::try_join_all(workers).await? {
        all.extend(lat);
    }
    let elapsed = started.elapsed();
    let mut summary = all.summary();
    summary["tx_per_s"] = json!(round(all.len() as f64 / elapsed.as_secs_f64()));
    summary["row_bytes"] = json!(payload.row_bytes());
    if let Payload::E2e(applied) = payload.as_ref() {
        summary["status_bytes"] = json!(applied.status_bytes());
        // A number like the other figures (2.0), though it is a count.
        summary["conditions_per_pair"] = json!(applied.conditions_recorded().await? as f64);
    }
    pool.close().await;
    summary["rows"] = json!(rows);
    summary["concurrency"] = json!(concurrency);
    Ok(summary)
}

pub async fn run(args: LimitArgs) -> anyhow::Result<()> {
    let services = env::services(&args.common).await?;
    let results = measure(
        &services.database_url,
        args.concurrency,
        args.duration,
        args.rows,
    )
    .await?;
    Report {
        scenario: "limit",
        params: json!({
            "concurrency": args.concurrency,
            "duration_s": args.duration.as_secs_f64(),
            "rows": args.rows,
        }),
        results,
    }
    .print();
    Ok(())
}
