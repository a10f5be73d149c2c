//! Scenario `limit`: the machine's raw PostgreSQL insert rate for what a create writes, as the
//! ceiling `create` is compared with. A tight loop of transactions, each inserting one ~3.3 KB
//! JSONB row (the small bundle's request body) and one small row, at a concurrency of C
//! connections, in a throwaway database.
//!
//! Deliberately not the hub's store (its SQL lives in `store/`): this measures PostgreSQL on
//! this machine, with nothing of baton between the loop and the server.

use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};
use sqlx::postgres::PgPoolOptions;

use super::args::{Common, parse_duration};
use super::env::{self, BenchDb};
use super::payload::{self, Size};
use super::report::Report;
use super::stats::{Latencies, round};

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
) -> anyhow::Result<Value> {
    let db = BenchDb::create(admin_url).await?;
    let outcome = insert_loop(&db.url, concurrency, duration).await;
    db.drop_db().await;
    outcome
}

async fn insert_loop(url: &str, concurrency: usize, duration: Duration) -> anyhow::Result<Value> {
    let pool = PgPoolOptions::new()
        .max_connections(concurrency as u32)
        .min_connections(concurrency as u32)
        .connect(url)
        .await
        .context("connecting to the limit database")?;
    for ddl in SCHEMA {
        sqlx::query(ddl).execute(&pool).await?;
    }
    let body = String::from_utf8(payload::create_bytes(Size::Small, "limit-1", 1))?;
    let started = Instant::now();
    let deadline = started + duration;
    let workers = (0..concurrency).map(|_| {
        let (pool, body) = (pool.clone(), body.clone());
        async move {
            let mut lat = Latencies::with_capacity(8192);
            while Instant::now() < deadline {
                let t = Instant::now();
                let id = uuid::Uuid::new_v4();
                let mut tx = pool.begin().await?;
                sqlx::query("INSERT INTO big (id, consumer, body) VALUES ($1, $2, $3::jsonb)")
                    .bind(id)
                    .bind("limit-1")
                    .bind(&body)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("INSERT INTO small (id, big_id) VALUES ($1, $2)")
                    .bind(uuid::Uuid::new_v4())
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
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
    summary["row_bytes"] = json!(body.len());
    summary["concurrency"] = json!(concurrency);
    Ok(summary)
}

pub async fn run(args: LimitArgs) -> anyhow::Result<()> {
    let services = env::services(&args.common).await?;
    let results = measure(&services.database_url, args.concurrency, args.duration).await?;
    Report {
        scenario: "limit",
        params: json!({
            "concurrency": args.concurrency,
            "duration_s": args.duration.as_secs_f64(),
        }),
        results,
    }
    .print();
    Ok(())
}
