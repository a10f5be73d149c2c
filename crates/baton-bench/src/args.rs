//! The command line of `baton bench`: one subcommand per scenario and the dispatch. Each
//! scenario owns its arguments; the options they share are in [`crate::common`].

use crate::{applied, create, grpc_source, idle, limit, list, resync, sdk, watch};

/// Arguments of `baton bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub scenario: Scenario,
}

/// The scenarios (docs/benchmarks.md describes each and its figures).
#[derive(Debug, clap::Subcommand)]
pub enum Scenario {
    /// REST creates at a concurrency for a duration: creates/s, p50/p99 latency.
    Create(create::CreateArgs),
    /// Creates at a fixed rate across N clusters: REST 201 → first status stored (p50/p95/p99).
    Applied(applied::AppliedArgs),
    /// N bundles (default 600 × 49 KB) in one consumer: time to page through them over REST.
    List(list::ListArgs),
    /// N clusters × M resources applied; all agents restart without state at once: time until
    /// every spec is back by resync and every status re-reported.
    Resync(resync::ResyncArgs),
    /// N connected clusters: hub RSS before and after, RSS per cluster.
    Idle(idle::IdleArgs),
    /// The raw PostgreSQL insert rate for one ~3.3 KB JSONB row + one small row per transaction
    /// (or, with --rows e2e, the rate of applied creates: the hub's create, then its status write).
    Limit(limit::LimitArgs),
    /// The SDK's source + work agent through create → applied → update → applied → delete →
    /// confirmed for N works over MQTT.
    Sdk(sdk::SdkArgs),
    /// N works over M clusters, create → applied: through REST, and through the gRPC source
    /// API by sdk-go's source client with its default publish limiter and raised.
    GrpcSource(grpc_source::GrpcSourceArgs),
    /// N watchers while creates flow at a rate: commit → event delay (p50/p99); then the
    /// `condition=Applied=False` list over M resources (p50/p99).
    Watch(watch::WatchArgs),
}

/// Runs the chosen scenario.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.scenario {
        Scenario::Create(a) => create::run(a).await,
        Scenario::Applied(a) => applied::run(a).await,
        Scenario::List(a) => list::run(a).await,
        Scenario::Resync(a) => resync::run(a).await,
        Scenario::Idle(a) => idle::run(a).await,
        Scenario::Limit(a) => limit::run(a).await,
        Scenario::Sdk(a) => sdk::run(a).await,
        Scenario::GrpcSource(a) => grpc_source::run(a).await,
        Scenario::Watch(a) => watch::run(a).await,
    }
}
