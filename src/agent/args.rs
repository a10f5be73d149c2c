//! `baton agent`: its command-line arguments and the function that runs one simulated cluster,
//! or N of them (`--simulate`), until the shutdown future it is given resolves (the CLI owns
//! the signals).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use tracing::info;

use super::run::SimulatedAgent;
use crate::cloudevents::backoff::BackoffPolicy;
use crate::cloudevents::transport::grpc::{GrpcOptions, GrpcTransport};
use crate::cloudevents::transport::mqtt::{MqttConfig, MqttTransport};
use crate::cloudevents::{ClusterName, Transport, TransportRole};
use crate::work::WorkDataType;

/// Arguments of `baton agent`.
#[derive(Debug, clap::Args)]
pub struct AgentArgs {
    /// The managed cluster this agent plays (a DNS-1123 label: the consumer name in the hub).
    #[arg(long, env = "BATON_CLUSTER", required_unless_present = "simulate")]
    pub cluster: Option<String>,

    /// The hub's built-in broker (gRPC); used unless --mqtt-config or --grpc-config is given.
    /// Repeat it (or separate with commas) for hub replicas: the agent starts at one of them at
    /// random and moves to the next whenever its subscription fails. A host name with several
    /// addresses is tried address by address.
    #[arg(
        long = "grpc-url",
        env = "BATON_GRPC_URL",
        value_delimiter = ',',
        default_value = "http://127.0.0.1:8090"
    )]
    pub grpc_urls: Vec<String>,

    /// sdk-go gRPC config file (url, TLS, token, keepalive; docs/broker.md) instead of --grpc-url.
    #[arg(long, env = "BATON_GRPC_CONFIG", conflicts_with = "mqtt_config")]
    pub grpc_config: Option<PathBuf>,

    /// MQTT config file (sdk-go format, docs/mqtt.md): connect through an MQTT broker instead.
    #[arg(long, env = "BATON_MQTT_CONFIG")]
    pub mqtt_config: Option<PathBuf>,

    /// Where the simulated cluster keeps what it holds and applied, so a restart resyncs from
    /// its real state (with --simulate, one sub-directory per cluster). Without it, state is
    /// kept in memory only.
    #[arg(long, env = "BATON_STATE_DIR")]
    pub state_dir: Option<PathBuf>,

    /// Play N clusters in this process (load tests), named CLUSTER_PREFIX followed by i, for i
    /// in 1..=N.
    #[arg(long, env = "BATON_SIMULATE")]
    pub simulate: Option<usize>,

    /// Name prefix of simulated clusters.
    #[arg(long, env = "BATON_CLUSTER_PREFIX", default_value = "sim-")]
    pub cluster_prefix: String,

    /// The work data types to serve, comma-separated: `manifestbundles` (what baton's hub and
    /// Maestro publish) and/or `manifests` (sdk-go up to v0.15). One subscription each.
    #[arg(
        long = "data-type",
        env = "BATON_DATA_TYPES",
        value_delimiter = ',',
        default_value = "manifestbundles"
    )]
    pub data_types: Vec<WorkDataType>,
}

impl AgentArgs {
    /// The clusters to play, each name checked once here.
    fn clusters(&self) -> anyhow::Result<Vec<ClusterName>> {
        let names = match (self.simulate, &self.cluster) {
            (Some(n), _) => (1..=n)
                .map(|i| format!("{}{i}", self.cluster_prefix))
                .collect(),
            (None, Some(cluster)) => vec![cluster.clone()],
            (None, None) => Vec::new(),
        };
        names
            .into_iter()
            .map(|name| {
                name.parse::<ClusterName>()
                    .with_context(|| format!("cluster name {name:?}"))
            })
            .collect()
    }

    fn transport(&self, cluster: &str) -> anyhow::Result<Arc<dyn Transport>> {
        let role = TransportRole::agent(cluster);
        if let Some(path) = &self.mqtt_config {
            let config = MqttConfig::load(path)
                .with_context(|| format!("--mqtt-config {}", path.display()))?;
            return Ok(Arc::new(
                MqttTransport::builder(config, role)
                    .backoff(reconnect_backoff())
                    .build()?,
            ));
        }
        let mut options = match (&self.grpc_config, self.grpc_urls.split_first()) {
            (Some(path), _) => GrpcOptions::load(path)
                .with_context(|| format!("--grpc-config {}", path.display()))?,
            (None, Some((first, rest))) => {
                let mut options = GrpcOptions::plaintext(first);
                options.failover_urls = rest.to_vec();
                options
            }
            (None, None) => anyhow::bail!("--grpc-url: give at least one URL"),
        };
        options.backoff = reconnect_backoff();
        Ok(Arc::new(GrpcTransport::new(role, options)?))
    }
}

/// Reconnect quicker than sdk-go's 5 s start: a reference agent is often started beside (or
/// before) its hub, and a newcomer should not wait.
fn reconnect_backoff() -> BackoffPolicy {
    BackoffPolicy {
        initial: std::time::Duration::from_millis(500),
        factor: 2.0,
        max: std::time::Duration::from_secs(30),
        ..BackoffPolicy::default()
    }
}

/// Runs the agent(s) until `shutdown` resolves.
pub async fn run(args: AgentArgs, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let clusters = args.clusters()?;
    anyhow::ensure!(!clusters.is_empty(), "give --cluster NAME or --simulate N");
    let mut agents = Vec::with_capacity(clusters.len());
    for cluster in &clusters {
        let state_dir = args.state_dir.as_ref().map(|d| {
            if args.simulate.is_some() {
                d.join(cluster.as_str())
            } else {
                d.clone()
            }
        });
        let transport = args.transport(cluster.as_str())?;
        let agent =
            SimulatedAgent::start_serving(cluster.as_str(), transport, state_dir, &args.data_types)
                .await
                .with_context(|| format!("starting the agent of cluster {cluster}"))?;
        agents.push(agent);
    }
    let via = match (&args.mqtt_config, &args.grpc_config) {
        (Some(path), _) => format!("mqtt ({})", path.display()),
        (None, Some(path)) => format!("grpc ({})", path.display()),
        (None, None) => format!("grpc {}", args.grpc_urls.join(",")),
    };
    let data_types: Vec<&str> = args.data_types.iter().map(|t| t.name()).collect();
    info!(clusters = agents.len(), first = %clusters[0], via = %via, ?data_types, "agent running");
    shutdown.await;
    info!("shutting down");
    for agent in &agents {
        agent.shutdown().await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        agent: AgentArgs,
    }

    fn parse(args: &[&str]) -> Result<AgentArgs, clap::Error> {
        let argv = ["baton-agent", "--cluster", "c1"].iter().chain(args);
        Cli::try_parse_from(argv).map(|cli| cli.agent)
    }

    #[test]
    fn an_agent_serves_manifestbundles_unless_told_otherwise() {
        assert_eq!(
            parse(&[]).unwrap().data_types,
            [WorkDataType::ManifestBundles]
        );
        assert_eq!(
            parse(&["--data-type", "manifests,manifestbundles"])
                .unwrap()
                .data_types,
            [WorkDataType::Manifests, WorkDataType::ManifestBundles]
        );
        assert_eq!(
            parse(&["--data-type", "manifests"]).unwrap().data_types,
            [WorkDataType::Manifests]
        );
        assert!(parse(&["--data-type", "widgets"]).is_err());
    }

    #[test]
    fn several_grpc_urls_repeated_or_comma_separated() {
        assert_eq!(parse(&[]).unwrap().grpc_urls, ["http://127.0.0.1:8090"]);
        let urls = ["http://a:1", "http://b:2", "http://c:3"];
        assert_eq!(
            parse(&[
                "--grpc-url",
                "http://a:1",
                "--grpc-url",
                "http://b:2,http://c:3"
            ])
            .unwrap()
            .grpc_urls,
            urls
        );
    }
}
