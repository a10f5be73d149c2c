//! Scenario `idle`: N connected simulated clusters with nothing to do; the hub's resident set
//! (VmRSS of its process) before they connect and after, and the difference per cluster. The
//! agents run in this process, so the hub's figure holds only the hub's own per-connection
//! state (broker subscription, HTTP/2 stream, buffers). This process's growth is reported too:
//! what one simulated agent costs.

use std::time::Duration;

use serde_json::json;

use crate::applied::wait_connected;
use crate::common::Common;
use crate::env::{self, BenchDb, HubProcess};
use crate::report::Report;
use crate::stats::round;

#[derive(Debug, clap::Args)]
pub struct IdleArgs {
    #[command(flatten)]
    pub common: Common,
    /// Connected clusters.
    #[arg(long, default_value_t = 1000)]
    pub clusters: usize,
}

fn own_rss_kib() -> u64 {
    crate::procstat::Proc::this().rss_kib().unwrap_or(0)
}

pub async fn run(args: IdleArgs) -> anyhow::Result<()> {
    let services = env::services(&args.common).await?;
    let db = BenchDb::create(&services.database_url).await?;
    let hub = HubProcess::spawn(&args.common, &db, &services).await?;
    let outcome = measure(&args, &hub).await;
    hub.stop().await;
    db.drop_db().await;
    Report {
        scenario: "idle",
        params: json!({ "clusters": args.clusters, "transport": args.common.transport }),
        results: outcome?,
    }
    .print();
    Ok(())
}

async fn measure(args: &IdleArgs, hub: &HubProcess) -> anyhow::Result<serde_json::Value> {
    let n = args.clusters.max(1);
    let clusters = env::cluster_names("idle", n);
    let before = hub.rss_kib()?;
    let own_before = own_rss_kib();
    let agents = env::start_agents(hub, &clusters).await?;
    wait_connected(hub, n).await;
    // Let the resync answers and first heartbeats pass before reading.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = hub.rss_kib()?;
    let own_after = own_rss_kib();
    env::stop_agents(agents).await;
    let per = |a: u64, b: u64| round(a.saturating_sub(b) as f64 * 1024.0 / n as f64 / 1000.0);
    Ok(json!({
        "hub_rss_before_kib": before,
        "hub_rss_after_kib": after,
        "hub_kb_per_cluster": per(after, before),
        "agents_process_kb_per_cluster": per(own_after, own_before),
    }))
}
