//! Scenario `list`: N bundles (default 600 of the large ~49 KB size) in one consumer, then the
//! time to page through all of them over REST, at the default page size (100) and the maximum
//! (1000); each pass repeated, best and median reported.

use std::time::Instant;

use serde_json::json;

use crate::common::Common;
use crate::env::{self, BenchDb, HubProcess};
use crate::payload::{self, Size};
use crate::report::Report;
use crate::rest::Rest;
use crate::stats::{Latencies, round};
use baton::hub::api::validate::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub common: Common,
    /// Bundles in the consumer.
    #[arg(long, default_value_t = 600)]
    pub count: usize,
    /// Bundle size.
    #[arg(long, value_enum, default_value = "large")]
    pub size: Size,
    /// Passes per page size.
    #[arg(long, default_value_t = 5)]
    pub repeat: usize,
}

pub async fn run(args: ListArgs) -> anyhow::Result<()> {
    let services = env::services(&args.common).await?;
    let db = BenchDb::create(&services.database_url).await?;
    let hub = HubProcess::spawn(&args.common, &db, &services).await?;
    let outcome = measure(&args, &hub).await;
    hub.stop().await;
    db.drop_db().await;
    Report {
        scenario: "list",
        params: json!({
            "count": args.count,
            "size": args.size,
            "repeat": args.repeat,
            "store": args.common.store,
        }),
        results: outcome?,
    }
    .print();
    Ok(())
}

async fn measure(args: &ListArgs, hub: &HubProcess) -> anyhow::Result<serde_json::Value> {
    let rest = Rest::new(&hub.base);
    let consumer = "list-1".to_owned();
    rest.create_consumers(std::slice::from_ref(&consumer))
        .await?;
    let body: bytes::Bytes = payload::create_bytes(args.size, &consumer, 1).into();
    let per_worker = args.count.div_ceil(8);
    let fill = (0..8).map(|w| {
        let (rest, body) = (&rest, body.clone());
        let n = per_worker.min(args.count.saturating_sub(w * per_worker));
        async move {
            for _ in 0..n {
                rest.create(body.clone()).await?;
            }
            anyhow::Ok(())
        }
    });
    futures::future::try_join_all(fill).await?;
    let mut results = json!({ "body_bytes": body.len() });
    for size in [DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE] {
        let mut passes = Latencies::default();
        let (mut items, mut bytes, mut pages) = (0, 0, 0);
        for _ in 0..args.repeat.max(1) {
            let started = Instant::now();
            (items, bytes, pages) = rest.page_through(&consumer, size).await?;
            passes.record(started.elapsed());
        }
        anyhow::ensure!(
            items == args.count,
            "paged {items} items, expected {}",
            args.count
        );
        results[format!("page_size_{size}")] = json!({
            "items": items,
            "pages": pages,
            "response_mb": round(bytes as f64 / 1e6),
            "best_ms": round(passes.percentile_ms(0.0)),
            "median_ms": round(passes.percentile_ms(50.0)),
            "worst_ms": round(passes.percentile_ms(100.0)),
        });
    }
    Ok(results)
}
