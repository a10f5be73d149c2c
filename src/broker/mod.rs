//! The built-in gRPC broker (`io.cloudevents.v1.CloudEventService`, docs/protocol.md §8.5–§8.9):
//! routes events between sources and agents so that agents can reach the hub with no MQTT
//! broker. The hub embeds it ([`Broker::new`] + [`Broker::serve`] on a bound listener, its own
//! source client connected in memory: [`Broker::local_source`]); `baton broker` runs it alone.
//!
//! - [`config`]: [`BrokerConfig`], TLS material and the token file.
//! - [`auth`]: authentication (token, mTLS) and authorization (own cluster / own source).
//! - [`route`]: where an event goes, from its type and extensions.
//! - [`registry`]: subscribers, bounded queues, overflow; `index`: who is subscribed, by name.
//! - `queue`: a subscriber's bounded queue (a small one per agent, a waitable one per source).
//! - [`parked`]: agents' spec resync requests waiting (a bounded time) for a source.
//! - [`listen`]: the listening socket, with a backlog for a fleet reconnecting at once.
//! - [`conns`]: deadlines and a cap for connections that do not subscribe.
//! - [`local`]: the embedding process's own source client, in memory.
//! - [`budget`]: the bytes that client may hold in agents' queues at once.
//! - `stream`: one subscriber's response stream with heartbeats.
//! - [`tls`]: TLS on the listener (lowest version, reloaded certificate, bounded handshakes).
//! - `service`: the tonic service tying them together.
//!
//! The broker keeps no state beyond its live subscriptions: it forwards, it does not store.
//! Resync requests are forwarded to the other party (allowed by §8.5), which answers them;
//! an agent's spec resync request that finds no source waits for one, for a bounded time.

pub mod args;
pub mod auth;
pub mod budget;
pub mod config;
pub mod conns;
pub mod error;
mod index;
pub mod listen;
pub mod local;
pub mod parked;
mod queue;
pub mod registry;
pub mod route;
mod service;
pub mod stats;
mod stream;
pub mod tls;

use std::collections::BTreeSet;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_stream::StreamExt;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tracing::{info, warn};

pub use auth::{Authenticator, Identity as CallerIdentity, Principal, TokenTable};
pub use budget::BudgetSnapshot;
pub use config::{BrokerConfig, ServerTls};
pub use conns::ConnLimits;
pub use error::{BrokerError, RequestError};
pub use parked::ParkLimits;
pub use stats::BrokerStatsSnapshot;

use crate::cloudevents::transport::grpc::proto::cloud_event_service_server::CloudEventServiceServer;
use registry::Registry;
use stats::BrokerStats;

/// State shared by every serving of one broker.
struct Shared {
    config: BrokerConfig,
    auth: Authenticator,
    registry: Arc<Registry>,
    stats: Arc<BrokerStats>,
    connections: Arc<conns::ConnTable>,
    /// What the local source may hold in agents' queues ([`budget`]).
    local_budget: Arc<budget::AgentBudget>,
}

/// The broker. Cheap to clone; clones share subscriptions and counters.
#[derive(Clone)]
pub struct Broker {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl Broker {
    /// Checks `config`; nothing is bound yet.
    pub fn new(config: BrokerConfig) -> Result<Self, BrokerError> {
        config.check()?;
        let stats = Arc::new(BrokerStats::default());
        let mtls = config
            .tls
            .as_ref()
            .is_some_and(|t| t.client_ca_pem.is_some());
        Ok(Self {
            shared: Arc::new(Shared {
                auth: Authenticator::new(config.tokens.clone(), mtls),
                registry: Arc::new(Registry::with_park_limits(
                    config.queue_capacity,
                    config.park,
                    stats.clone(),
                )),
                stats,
                connections: Arc::default(),
                local_budget: budget::AgentBudget::new(config.local_agent_budget),
                config,
            }),
        })
    }

    /// Serves on `listener` until `shutdown` fires; then every subscriber stream ends with
    /// `UNAVAILABLE` (clients reconnect) and the server drains. May be called again after.
    pub async fn serve(
        &self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> Result<(), BrokerError> {
        let config = &self.shared.config;
        let addr = listener.local_addr().ok();
        // Keep-alive pings find dead subscribers; `conns` bounds connections that never subscribe.
        let mut server = Server::builder()
            .http2_keepalive_interval(Some(std::time::Duration::from_secs(30)))
            .http2_keepalive_timeout(Some(std::time::Duration::from_secs(10)));
        let tls = config.tls.as_ref().map(tls::server_config).transpose()?;
        self.log_startup(addr);
        let service = service::Service {
            shared: self.shared.clone(),
            shutdown: shutdown.clone(),
        };
        let registry = self.shared.registry.clone();
        let service = CloudEventServiceServer::new(service)
            .max_decoding_message_size(config::MAX_MESSAGE)
            .max_encoding_message_size(usize::MAX);
        let router = server.add_service(service);
        let stopping = shutdown.clone();
        let drained = async move {
            stopping.cancelled().await;
            // Wakes every subscriber stream, which then ends with UNAVAILABLE.
            registry.close_all();
        };
        let (table, limits, stats) = (
            self.shared.connections.clone(),
            config.connections,
            self.shared.stats.clone(),
        );
        // TCP_NODELAY: without it, a response written in several frames waits for the peer's
        // delayed ACK (~40 ms) whenever two calls share the connection. The connection table
        // admits (or closes) each socket before anything else, TLS handshake included.
        let admitted = TcpIncoming::from(listener)
            .with_nodelay(Some(true))
            .filter_map(move |accepted| match accepted {
                Ok(io) => table.admit(io, limits, &stats).map(Ok),
                Err(err) => Some(Err(err)),
            });
        match tls {
            None => {
                router
                    .serve_with_incoming_shutdown(admitted, drained)
                    .await?;
            }
            Some(tls_config) => {
                let handshakes = TaskTracker::new();
                if let Some(tls) = &config.tls {
                    tls.cert.spawn_watcher(&handshakes, &shutdown);
                }
                let streams = tls::accept(admitted, tls_config, &handshakes, shutdown.clone());
                let incoming = tokio_stream::wrappers::ReceiverStream::new(streams);
                router
                    .serve_with_incoming_shutdown(incoming, drained)
                    .await?;
                handshakes.close();
                handshakes.wait().await;
            }
        }
        info!(?addr, stats = ?self.shared.stats.snapshot(), "gRPC broker stopped");
        Ok(())
    }

    fn log_startup(&self, addr: Option<std::net::SocketAddr>) {
        let config = &self.shared.config;
        let tls = config.tls.is_some();
        let mtls = config
            .tls
            .as_ref()
            .is_some_and(|t| t.client_ca_pem.is_some());
        info!(?addr, tls, mtls, tokens = config.tokens.is_some(), heartbeat = ?config.heartbeat_interval, "gRPC broker listening");
        if !config.auth_enabled() {
            warn!(
                "no authentication configured: every client may subscribe and publish for any cluster or source"
            );
        } else if config.tokens.is_some() && !tls {
            warn!("bearer tokens are accepted over plaintext: use TLS outside loopback");
        }
    }

    /// A source client's transport for `source_id` in this process, connected in memory: the
    /// same routing and queues as over gRPC, without authentication (see [`local`]).
    pub fn local_source(&self, source_id: &str) -> local::LocalSource {
        local::LocalSource::new(self.shared.clone(), source_id)
    }

    /// Clusters with at least one agent subscribed now (the hub shows them as connected).
    pub fn connected_clusters(&self) -> BTreeSet<String> {
        self.shared.registry.connected_clusters()
    }

    /// Whether an agent of `cluster` is subscribed now.
    pub fn is_agent_connected(&self, cluster: &str) -> bool {
        self.shared.registry.has(&registry::Party::Agent {
            cluster: cluster.into(),
        })
    }

    /// Whether the source `source` is subscribed now.
    pub fn is_source_connected(&self, source: &str) -> bool {
        self.shared.registry.has(&registry::Party::Source {
            source: source.into(),
        })
    }

    /// Subscriptions open now.
    pub fn subscriber_count(&self) -> usize {
        self.shared.registry.len()
    }

    /// Agents' spec resync requests waiting for a source to subscribe.
    pub fn parked_resyncs(&self) -> usize {
        self.shared.registry.parked()
    }

    pub fn stats(&self) -> BrokerStatsSnapshot {
        self.shared.stats.snapshot()
    }

    /// The local source's budget in agents' queues: held now, its high-water mark, waits.
    pub fn local_budget(&self) -> BudgetSnapshot {
        self.shared.local_budget.snapshot()
    }

    /// Connections open now without a subscription.
    pub fn unsubscribed_connections(&self) -> usize {
        self.shared.connections.unsubscribed()
    }
}
