//! `baton serve` and `baton migrate`: the functions that take the checked [`HubConfig`], bind
//! the listeners, start the hub over the chosen transport and run until the shutdown future
//! they are given resolves. The flags and their rules live in `hub::config`; the signals in
//! the CLI.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use super::config::{DatabaseConfig, HubConfig, TransportConfig};
use super::connections::{BrokerConnections, MqttConnections};
use super::metrics::HubMetrics;
use super::service::HubService;
use super::state::Connections;
use crate::broker::Broker;
use crate::broker::config::BrokerConfig;
use crate::cloudevents::transport::mqtt::{MqttConfig, MqttTransport};
use crate::cloudevents::{Transport, TransportRole};
use crate::store::{self, Store};

/// The store the configuration names, migrated.
async fn open_store(database: &DatabaseConfig) -> anyhow::Result<Arc<dyn Store>> {
    let store = store::open(
        database.url.as_ref().map(ExposeSecret::expose_secret),
        &database.data_dir,
        database.max_connections,
    )
    .await
    .with_context(|| match database.url {
        Some(_) => "opening the database given by --database-url (DATABASE_URL)".to_owned(),
        None => format!(
            "opening the embedded database in --data-dir {}",
            database.data_dir.display()
        ),
    })?;
    store
        .migrate()
        .await
        .context("running database migrations")?;
    Ok(store)
}

/// The built-in broker on `addr`; returns the hub's own source client's transport, connected
/// to the broker in memory (`broker::local`), and the broker's view of connections.
async fn start_broker(
    addr: SocketAddr,
    config: BrokerConfig,
    source_id: &str,
    tasks: &TaskTracker,
    stop: &CancellationToken,
) -> anyhow::Result<(Arc<dyn Transport>, Arc<dyn Connections>)> {
    let broker = Broker::new(config)?;
    let public = crate::broker::listen::bind(addr)
        .with_context(|| format!("--grpc-addr {addr}: cannot listen"))?;
    {
        let (broker, stop) = (broker.clone(), stop.clone());
        tasks.spawn(async move {
            if let Err(err) = broker.serve(public, stop).await {
                tracing::error!(%err, "the built-in broker stopped with an error");
            }
        });
    }
    let transport = broker.local_source(source_id);
    let connections = BrokerConnections {
        broker,
        source_id: source_id.to_owned(),
    };
    Ok((Arc::new(transport), Arc::new(connections)))
}

fn start_mqtt(
    config: MqttConfig,
    source_id: &str,
) -> anyhow::Result<(Arc<dyn Transport>, Arc<dyn Connections>)> {
    let transport =
        Arc::new(MqttTransport::builder(config, TransportRole::source(source_id)).build()?);
    Ok((transport.clone(), Arc::new(MqttConnections(transport))))
}

/// Runs the hub until `shutdown` resolves (the CLI owns the signals), then drains: HTTP
/// first, then the publisher and the source client, then the broker.
pub async fn run(
    config: HubConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let HubConfig {
        http_addr,
        http_tls,
        api_tokens,
        database,
        transport,
        heap_trim,
        hub,
    } = config;
    let store = open_store(&database).await?;
    let stop = CancellationToken::new();
    let tasks = TaskTracker::new();
    let (transport_kind, broker_addr) = match &transport {
        TransportConfig::Grpc { addr, .. } => ("grpc", addr.to_string()),
        TransportConfig::Mqtt(_) => ("mqtt", "external".to_owned()),
    };
    let (transport, connections) = match transport {
        TransportConfig::Grpc { addr, broker } => {
            start_broker(addr, broker, &hub.source_id, &tasks, &stop).await?
        }
        TransportConfig::Mqtt(mqtt) => start_mqtt(mqtt, &hub.source_id)?,
    };
    let source_id = hub.source_id.clone();
    let service = HubService::start(
        store.clone(),
        transport,
        connections,
        Arc::new(HubMetrics::new()),
        hub,
    )
    .await?;
    if heap_trim {
        super::heap_trim::HeapTrim::default().spawn(&tasks, &stop);
    }
    let http = TcpListener::bind(http_addr)
        .await
        .with_context(|| format!("--http-addr {http_addr}: cannot listen"))?;
    if api_tokens.is_none() {
        warn!("no --api-token-file: the REST API accepts every caller");
    }
    let scheme = if http_tls.is_some() { "https" } else { "http" };
    info!(
        api = %format!("{scheme}://{http_addr}/api/v1"),
        transport = transport_kind,
        broker = %broker_addr,
        source_id = %source_id,
        "baton hub ready"
    );
    let app = service.router(api_tokens);
    match http_tls {
        Some(config) => {
            axum::serve(super::tls::TlsListener::new(http, config), app)
                .with_graceful_shutdown(shutdown)
                .await?
        }
        None => {
            axum::serve(http, app)
                .with_graceful_shutdown(shutdown)
                .await?
        }
    }
    info!("shutting down: draining the publisher and the transport");
    service.shutdown().await;
    stop.cancel();
    tasks.close();
    if tokio::time::timeout(Duration::from_secs(10), tasks.wait())
        .await
        .is_err()
    {
        warn!("the broker did not stop within 10 s");
    }
    store.close().await;
    info!("stopped");
    Ok(())
}

/// Arguments of `baton migrate`.
#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    /// Database URL (postgres:// or sqlite:); without it, the SQLite database in --data-dir.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<SecretString>,

    /// The embedded SQLite database's directory, when no --database-url is given.
    #[arg(long, env = "BATON_DATA_DIR", default_value = store::DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
}

/// Runs the embedded migrations and exits.
pub async fn migrate(args: MigrateArgs) -> anyhow::Result<()> {
    let database = DatabaseConfig::new(args.database_url, args.data_dir, 1)?;
    let store = open_store(&database).await?;
    store.close().await;
    info!("migrations applied");
    Ok(())
}
