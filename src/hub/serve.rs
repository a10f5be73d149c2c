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
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use super::api::{MetricsOn, metrics_router, router_with};
use super::config::{DatabaseConfig, HubConfig, TransportConfig};
use super::connections::{BrokerConnections, MqttConnections};
use super::fleet::{FleetConnections, FleetMember, FleetSettings};
use super::lease::{LeaseKeeper, MQTT_PUBLISHER};
use super::metrics::{HubMetrics, StatusRejected};
use super::publisher::ReplicaScope;
use super::service::HubService;
use super::source_api::SourceApi;
use super::state::Connections;
use crate::broker::Broker;
use crate::broker::config::BrokerConfig;
use crate::cloudevents::transport::mqtt::{MisaddressedHook, MqttConfig, MqttTransport};
use crate::cloudevents::{Transport, TransportRole};
use crate::store::fleet::PgFleet;
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
) -> anyhow::Result<(Arc<dyn Transport>, Arc<dyn Connections>, Option<Broker>)> {
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
        broker: broker.clone(),
        source_id: source_id.to_owned(),
    };
    Ok((Arc::new(transport), Arc::new(connections), Some(broker)))
}

fn start_mqtt(
    config: MqttConfig,
    source_id: &str,
    metrics: &Arc<HubMetrics>,
) -> anyhow::Result<(Arc<dyn Transport>, Arc<dyn Connections>)> {
    let metrics = metrics.clone();
    let transport = Arc::new(
        MqttTransport::builder(config, TransportRole::source(source_id))
            .backoff(super::connections::mqtt_reconnect_backoff())
            .on_misaddressed(MisaddressedHook::new(move || {
                metrics.count_status_rejected(StatusRejected::TopicMismatch);
            }))
            .build()?,
    );
    Ok((transport.clone(), Arc::new(MqttConnections(transport))))
}

/// How long a replica on a shared database answers not ready before it stops taking requests
/// (load balancers check readiness every second or two).
const DRAIN_DELAY: Duration = Duration::from_secs(2);

/// The database URL if it names PostgreSQL.
fn postgres_url(url: Option<&SecretString>) -> Option<&str> {
    let url = url?.expose_secret().trim();
    (url.starts_with("postgres://") || url.starts_with("postgresql://")).then_some(url)
}

/// Runs the hub until `shutdown` resolves (the CLI owns the signals), then drains: HTTP
/// first, then the publisher and the source client, then the broker.
pub async fn run(
    config: HubConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let HubConfig {
        http_addr,
        metrics_addr,
        http_tls,
        api_tokens,
        database,
        transport,
        source_api,
        heap_trim,
        mut hub,
        instance,
    } = config;
    let store = open_store(&database).await?;
    let metrics = Arc::new(HubMetrics::new());
    let stop = CancellationToken::new();
    let tasks = TaskTracker::new();
    let (transport_kind, broker_addr) = match &transport {
        TransportConfig::Grpc { addr, .. } => ("grpc", addr.to_string()),
        TransportConfig::Mqtt(_) => ("mqtt", "external".to_owned()),
    };
    let (transport, mut connections, broker) = match transport {
        TransportConfig::Grpc { addr, broker } => {
            start_broker(addr, broker, &hub.source_id, &tasks, &stop).await?
        }
        TransportConfig::Mqtt(mqtt) => {
            info!(client_id = ?mqtt.client_id, "MQTT client id of this replica");
            let (transport, connections) = start_mqtt(mqtt, &hub.source_id, &metrics)?;
            (transport, connections, None)
        }
    };
    // On PostgreSQL, replicas may share the database (docs/ha.md). Over the built-in broker
    // each one publishes to the agents connected to it (the connection registry); over MQTT,
    // where the broker routes, one replica at a time publishes (a lease).
    let fleet = match postgres_url(database.url.as_ref()) {
        Some(url) => {
            Some(Arc::new(PgFleet::connect(url).await.context(
                "connecting the replica registry (--database-url)",
            )?))
        }
        None => None,
    };
    let registry = match (&broker, &fleet) {
        (Some(broker), Some(fleet)) => {
            let view = Arc::new(FleetConnections::new(broker.clone(), hub.source_id.clone()));
            connections = view.clone();
            Some((fleet.clone(), view, broker.clone()))
        }
        _ => None,
    };
    let lease = match (transport_kind, &fleet) {
        ("mqtt", Some(fleet)) => Some((fleet.clone(), watch::channel(false))),
        _ => None,
    };
    let (claims, claims_seen) = watch::channel(0);
    hub.replica = registry.as_ref().map(|(_, _, broker)| ReplicaScope {
        instance: instance.to_string(),
        broker: broker.clone(),
        claims: claims_seen,
    });
    hub.lease = lease.as_ref().map(|(_, (_, held))| held.clone());
    let source_id = hub.source_id.clone();
    let service = HubService::start(store.clone(), transport, connections, metrics, hub).await?;
    if let Some((fleet, view, broker)) = &registry {
        let member = FleetMember {
            fleet: fleet.clone(),
            broker: broker.clone(),
            instance: instance.clone(),
            settings: FleetSettings::default(),
            view: view.clone(),
            store: store.clone(),
            claims,
        };
        tasks.spawn(member.run(stop.clone()));
    }
    if let Some((fleet, (gate, _))) = lease {
        let keeper = LeaseKeeper {
            fleet,
            name: MQTT_PUBLISHER,
            instance: instance.clone(),
            renew: FleetSettings::default().heartbeat,
            lease: FleetSettings::default().lease,
            gate,
            store: store.clone(),
        };
        tasks.spawn(keeper.run(stop.clone()));
    }
    if let Some((addr, config)) = source_api {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("--source-grpc-addr {addr}: cannot listen"))?;
        let api = SourceApi::new(config, service.state().clone(), source_id.clone());
        let stop = stop.clone();
        tasks.spawn(async move {
            if let Err(err) = api.serve(listener, stop).await {
                tracing::error!(%err, "the gRPC source API stopped with an error");
            }
        });
    }
    if heap_trim {
        super::heap_trim::HeapTrim::default().spawn(&tasks, &stop);
    }
    let http = TcpListener::bind(http_addr)
        .await
        .with_context(|| format!("--http-addr {http_addr}: cannot listen"))?;
    if api_tokens.is_none() {
        warn!("no --api-token-file or --api-jwks-file: the REST API accepts every caller");
    }
    let scheme = if http_tls.is_some() { "https" } else { "http" };
    info!(
        api = %format!("{scheme}://{http_addr}/api/v1"),
        transport = transport_kind,
        broker = %broker_addr,
        source_id = %source_id,
        %instance,
        "baton hub ready"
    );
    let metrics_on = if metrics_addr.is_some() {
        MetricsOn::OwnListener
    } else {
        MetricsOn::Api
    };
    let app = router_with(service.state().clone(), api_tokens, metrics_on);
    let metrics_stop = CancellationToken::new();
    if let Some(addr) = metrics_addr {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("--metrics-addr {addr}: cannot listen"))?;
        info!(metrics = %format!("http://{addr}/metrics"), "metrics listener ready");
        let app = metrics_router(service.state().clone());
        let stopped = metrics_stop.clone().cancelled_owned();
        tasks.spawn(super::http_server::serve(
            listener,
            None,
            app,
            super::http_server::HttpLimits::default(),
            stopped,
        ));
    }
    let draining = registry.as_ref().map(|(_, view, _)| view.clone());
    let watched = service.state().clone();
    let shutdown = async move {
        shutdown.await;
        if let Some(view) = draining {
            // Out of the load balancers' rotation before the listener closes: a connection
            // queued on a closing listener is dropped unanswered (a 502 for its request).
            view.drain();
            tokio::time::sleep(DRAIN_DELAY).await;
        }
        watched.close_watches();
    };
    if let Some(tls) = &http_tls {
        tls.cert.spawn_watcher(&tasks, &stop);
    }
    let tls = http_tls.map(|tls| tokio_rustls::TlsAcceptor::from(tls.config));
    let limits = super::http_server::HttpLimits::default();
    super::http_server::serve(http, tls, app, limits, shutdown).await;
    metrics_stop.cancel();
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
    if let Some(fleet) = &fleet {
        fleet.close().await;
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
