//! Scenario `limit`: the machine's raw PostgreSQL insert rate for what a create writes, as the
//! ceiling `create` is compared with. A tight loop of transactions, each inserting one ~3.3 KB
//! JSONB row (the small bundle's request body) and one small row, at a concurrency of C
//! connections, in a throwaway database.
//!
//! `--rows resources` inserts instead one row per transaction into the hub's own `resources`
//! table (created by the store's migrations: `json` documents, its indexes and foreign key),
//! the row a create writes, to check that the issue's rows are a fair ceiling.
//!
//! Deliberately not the hub's store (its SQL lives in `store/`): this measures PostgreSQL on
//! this machine, with nothing of baton between the loop and the server.

use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};
use sqlx::postgres::PgPoolOptions;

use crate::common::{Common, parse_duration};
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

/// What one transaction inserts, ready to bind.
struct Payload {
    rows: Rows,
    text: String,
    consumer: uuid::Uuid,
}

impl Payload {
    async fn prepare(pool: &sqlx::PgPool, rows: Rows) -> anyhow::Result<Self> {
        let body = payload::create_bytes(Size::Small, "limit-1", 1);
        let consumer = uuid::Uuid::new_v4();
        let text = match rows {
            Rows::Issue => {
                for ddl in SCHEMA {
                    sqlx::query(ddl).execute(pool).await?;
                }
                String::from_utf8(body)?
            }
            Rows::Resources => {
                use baton::store::Store;
                baton::store::postgres::PgStore::from_pool(pool.clone())
                    .migrate()
                    .await?;
                sqlx::query("INSERT INTO consumers (id, name) VALUES ($1, 'limit-1')")
                    .bind(consumer)
                    .execute(pool)
                    .await?;
                serde_json::from_slice::<Value>(&body)?["manifests"].to_string()
            }
        };
        Ok(Self {
            rows,
            text,
            consumer,
        })
    }

    /// One transaction, committed.
    async fn insert(&self, pool: &sqlx::PgPool) -> anyhow::Result<()> {
        let id = uuid::Uuid::new_v4();
        let mut tx = pool.begin().await?;
        match self.rows {
            Rows::Issue => {
                sqlx::query("INSERT INTO big (id, consumer, body) VALUES ($1, $2, $3::jsonb)")
                    .bind(id)
                    .bind("limit-1")
                    .bind(&self.text)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("INSERT INTO small (id, big_id) VALUES ($1, $2)")
                    .bind(uuid::Uuid::new_v4())
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            Rows::Resources => {
                sqlx::query(
                    "INSERT INTO resources (id, consumer_id, consumer_name, version, manifests) \
                     VALUES ($1, $2, 'limit-1', 1, $3::json)",
                )
                .bind(id)
                .bind(self.consumer)
                .bind(&self.text)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
}

async fn insert_loop(
    url: &str,
    concurrency: usize,
    duration: Duration,
    rows: Rows,
) -> anyhow::Result<Value> {
    let pool = PgPoolOptions::new()
        .max_connections(concurrency as u32)
        .min_connections(concurrency as u32)
        .connect(url)
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
    pool.close().await;
    let mut summary = all.summary();
    summary["tx_per_s"] = json!(round(all.len() as f64 / elapsed.as_secs_f64()));
    summary["row_bytes"] = json!(payload.text.len());
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
