//! `baton serve`: its command-line arguments, the checked configuration they become, and the
//! function that binds the listeners, starts the hub over the chosen transport and runs until
//! SIGTERM / Ctrl-C (then drains: HTTP first, then the publisher and the source client, then
//! the broker).

use std::collections::HashSet;
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

use super::connections::{BrokerConnections, MqttConnections};
use super::metrics::HubMetrics;
use super::publisher::PublisherConfig;
use super::service::{HubOptions, HubService};
use super::state::Connections;
use crate::broker::Broker;
use crate::broker::config::{BrokerConfig, ServerTls, TokenTable};
use crate::cloudevents::transport::mqtt::{MqttConfig, MqttTransport};
use crate::cloudevents::{Transport, TransportRole};
use crate::store::{self, Store};

/// Which transport the hub publishes over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TransportKind {
    /// The built-in gRPC broker on --grpc-addr: agents connect to the hub directly.
    Grpc,
    /// An external MQTT v5 broker described by --mqtt-config.
    Mqtt,
}

/// Arguments of `baton serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// REST API listen address.
    #[arg(long, env = "BATON_HTTP_ADDR", default_value = "127.0.0.1:8000")]
    pub http_addr: SocketAddr,

    /// Built-in gRPC broker listen address (with --transport grpc); agents connect here.
    #[arg(long, env = "BATON_GRPC_ADDR", default_value = "127.0.0.1:8090")]
    pub grpc_addr: SocketAddr,

    /// Database URL: postgres://user:pass@host/db (production) or sqlite://path/file.db.
    /// Without it the hub keeps an embedded SQLite database in --data-dir. Never logged.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<SecretString>,

    /// Where the embedded SQLite database lives when no --database-url is given (created on
    /// first start; one hub process at a time).
    #[arg(long, env = "BATON_DATA_DIR", default_value = store::DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,

    /// Largest number of database connections.
    #[arg(long, env = "BATON_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,

    /// How specs reach agents.
    #[arg(long, value_enum, env = "BATON_TRANSPORT", default_value = "grpc")]
    pub transport: TransportKind,

    /// MQTT config file (sdk-go / Maestro format, see docs/mqtt.md); needed with --transport mqtt.
    #[arg(long, env = "BATON_MQTT_CONFIG")]
    pub mqtt_config: Option<PathBuf>,

    /// The CloudEvent source id of the hub; agents address status to it.
    #[arg(long, env = "BATON_SOURCE_ID", default_value = "baton")]
    pub source_id: String,

    /// File of bearer tokens for the REST API, one per line; without it the API is open.
    #[arg(long, env = "BATON_API_TOKEN_FILE")]
    pub api_token_file: Option<PathBuf>,

    /// HTTPS certificate chain (PEM) for the REST API; with --http-tls-key.
    #[arg(long, env = "BATON_HTTP_TLS_CERT", requires = "http_tls_key")]
    pub http_tls_cert: Option<PathBuf>,

    /// HTTPS private key (PEM) for the REST API.
    #[arg(long, env = "BATON_HTTP_TLS_KEY", requires = "http_tls_cert")]
    pub http_tls_key: Option<PathBuf>,

    /// TLS certificate (PEM) of the built-in broker; with --grpc-tls-key.
    #[arg(long, env = "BATON_GRPC_TLS_CERT", requires = "grpc_tls_key")]
    pub grpc_tls_cert: Option<PathBuf>,

    /// TLS private key (PEM) of the built-in broker.
    #[arg(long, env = "BATON_GRPC_TLS_KEY", requires = "grpc_tls_cert")]
    pub grpc_tls_key: Option<PathBuf>,

    /// CA (PEM) of agents' client certificates: turns on mTLS authentication at the broker.
    #[arg(long, env = "BATON_GRPC_CLIENT_CA", requires = "grpc_tls_cert")]
    pub grpc_client_ca: Option<PathBuf>,

    /// Broker token file (tokens: [{token, user, groups}], see docs/broker.md).
    #[arg(long, env = "BATON_GRPC_TOKEN_FILE")]
    pub grpc_token_file: Option<PathBuf>,

    /// Agent statuses written to the database at once (each resource's in arrival order).
    #[arg(long, env = "BATON_STATUS_WRITERS", default_value_t = 8)]
    pub status_writers: usize,

    /// Give the heap's free pages back to the OS after a burst (a fleet connecting or
    /// resyncing at once), so the resident size does not stay at the burst's peak.
    #[arg(long, env = "BATON_HEAP_TRIM", default_value_t = true, action = clap::ArgAction::Set)]
    pub heap_trim: bool,

    /// How often the hub asks every agent for status it may have missed, Go syntax (5m, 30s);
    /// 0 turns the safety net off (resyncs on every reconnection still happen).
    #[arg(long, env = "BATON_STATUS_RESYNC_INTERVAL", default_value = "5m", value_parser = go_duration)]
    pub status_resync_interval: Duration,

    /// Publish a spec again when no agent has reported on it this long after its last change,
    /// Go syntax (30s, 2m); 0 turns it off. Covers specs lost on their way to an agent.
    #[arg(long, env = "BATON_REDELIVER_AFTER", default_value = "30s", value_parser = go_duration)]
    pub redeliver_after: Duration,

    /// Optional publish throttle in events/s (burst: twice that). Off by default.
    #[arg(long, env = "BATON_PUBLISH_RATE_LIMIT")]
    pub publish_rate_limit: Option<f64>,

    /// How long the change feed keeps changes, Go syntax (30m, 24h): a watch can resume from a
    /// position this old; older ones get 410 Gone.
    #[arg(long, env = "BATON_CHANGE_RETENTION", default_value = "1h", value_parser = go_duration)]
    pub change_retention: Duration,
}

fn go_duration(text: &str) -> Result<Duration, String> {
    crate::cloudevents::transport::go_duration::parse_go_duration(text).map_err(|e| e.to_string())
}

/// Bearer tokens from a file: one per line, blank lines and `#` comments ignored.
fn load_api_tokens(path: &std::path::Path) -> anyhow::Result<Arc<HashSet<String>>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--api-token-file {}", path.display()))?;
    let tokens: HashSet<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    anyhow::ensure!(
        !tokens.is_empty(),
        "--api-token-file {}: no tokens in the file",
        path.display()
    );
    Ok(Arc::new(tokens))
}

/// The store `--database-url` names, or SQLite in `--data-dir`; migrated.
async fn open_store(
    database_url: Option<&SecretString>,
    data_dir: &std::path::Path,
    max_connections: u32,
) -> anyhow::Result<Arc<dyn Store>> {
    let store = store::open(
        database_url.map(ExposeSecret::expose_secret),
        data_dir,
        max_connections,
    )
    .await
    .with_context(|| match database_url {
        Some(_) => "opening the database given by --database-url (DATABASE_URL)".to_owned(),
        None => format!(
            "opening the embedded database in --data-dir {}",
            data_dir.display()
        ),
    })?;
    store
        .migrate()
        .await
        .context("running database migrations")?;
    Ok(store)
}

/// The built-in broker on `--grpc-addr`; returns the hub's own source client's transport,
/// connected to the broker in memory (`broker::local`), and the broker's view of connections.
async fn start_broker(
    args: &ServeArgs,
    tasks: &TaskTracker,
    stop: &CancellationToken,
) -> anyhow::Result<(Arc<dyn Transport>, Arc<dyn Connections>)> {
    let tls = match (&args.grpc_tls_cert, &args.grpc_tls_key) {
        (Some(cert), Some(key)) => Some(ServerTls::from_files(
            cert,
            key,
            args.grpc_client_ca.as_deref(),
        )?),
        _ => None,
    };
    let config = BrokerConfig {
        tls,
        tokens: args
            .grpc_token_file
            .as_deref()
            .map(TokenTable::load)
            .transpose()?,
        ..BrokerConfig::default()
    };
    let broker = Broker::new(config)?;
    let public = crate::broker::listen::bind(args.grpc_addr)
        .with_context(|| format!("--grpc-addr {}: cannot listen", args.grpc_addr))?;
    {
        let (broker, stop) = (broker.clone(), stop.clone());
        tasks.spawn(async move {
            if let Err(err) = broker.serve(public, stop).await {
                tracing::error!(%err, "the built-in broker stopped with an error");
            }
        });
    }
    let transport = broker.local_source(&args.source_id);
    let connections = BrokerConnections {
        broker,
        source_id: args.source_id.clone(),
    };
    Ok((Arc::new(transport), Arc::new(connections)))
}

fn start_mqtt(args: &ServeArgs) -> anyhow::Result<(Arc<dyn Transport>, Arc<dyn Connections>)> {
    let path = args
        .mqtt_config
        .as_ref()
        .context("--mqtt-config (BATON_MQTT_CONFIG) is required with --transport mqtt")?;
    let config =
        MqttConfig::load(path).with_context(|| format!("--mqtt-config {}", path.display()))?;
    let transport =
        Arc::new(MqttTransport::builder(config, TransportRole::source(&args.source_id)).build()?);
    Ok((transport.clone(), Arc::new(MqttConnections(transport))))
}

/// Runs the hub until a shutdown signal.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let api_tokens = args
        .api_token_file
        .as_deref()
        .map(load_api_tokens)
        .transpose()?;
    let http_tls = match (&args.http_tls_cert, &args.http_tls_key) {
        (Some(cert), Some(key)) => Some(super::tls::server_config(cert, key)?),
        _ => None,
    };
    if let Some(rate) = args.publish_rate_limit {
        anyhow::ensure!(
            rate > 0.0,
            "--publish-rate-limit must be positive, got {rate}"
        );
    }
    anyhow::ensure!(
        !args.change_retention.is_zero(),
        "--change-retention (BATON_CHANGE_RETENTION) must be more than 0"
    );
    let store = open_store(
        args.database_url.as_ref(),
        &args.data_dir,
        args.db_max_connections,
    )
    .await?;
    let stop = CancellationToken::new();
    let tasks = TaskTracker::new();
    let (transport, connections) = match args.transport {
        TransportKind::Grpc => start_broker(&args, &tasks, &stop).await?,
        TransportKind::Mqtt => start_mqtt(&args)?,
    };
    let options = HubOptions {
        source_id: args.source_id.clone(),
        rate_limit: args
            .publish_rate_limit
            .map(|qps| (qps, (qps * 2.0).ceil().max(1.0) as u32)),
        publisher: PublisherConfig::default(),
        status_writers: args.status_writers.max(1),
        status_resync_every: (!args.status_resync_interval.is_zero())
            .then_some(args.status_resync_interval),
        redeliver_unreported_after: (!args.redeliver_after.is_zero())
            .then_some(args.redeliver_after),
        watch: super::watch::WatchConfig {
            retention: args.change_retention,
        },
    };
    let service = HubService::start(
        store.clone(),
        transport,
        connections,
        Arc::new(HubMetrics::new()),
        options,
    )
    .await?;
    if args.heap_trim {
        super::heap_trim::HeapTrim::default().spawn(&tasks, &stop);
    }
    let http = TcpListener::bind(args.http_addr)
        .await
        .with_context(|| format!("--http-addr {}: cannot listen", args.http_addr))?;
    if api_tokens.is_none() {
        warn!("no --api-token-file: the REST API accepts every caller");
    }
    let scheme = if http_tls.is_some() { "https" } else { "http" };
    info!(
        api = %format!("{scheme}://{}/api/v1", args.http_addr),
        transport = ?args.transport,
        broker = %if args.transport == TransportKind::Grpc { args.grpc_addr.to_string() } else { "external".into() },
        source_id = %args.source_id,
        "baton hub ready"
    );
    let app = service.router(api_tokens);
    let shutdown = async { crate::cli::shutdown_signal().await };
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
    let store = open_store(args.database_url.as_ref(), &args.data_dir, 1).await?;
    store.close().await;
    info!("migrations applied");
    Ok(())
}
