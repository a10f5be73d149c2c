//! The gRPC source API (`--source-grpc-addr`, off by default): the `CloudEventService` that
//! Maestro's gRPC server serves its sources (docs/protocol.md §8.8, docs/maestro.md), so a
//! ManifestWork source client of sdk-go (Maestro's `grpcsource`) works against baton. A source
//! publishes spec events that become resources it owns ([`spec`]), subscribes to the statuses of
//! its resources ([`fanout`], encoded by [`status`]), and asks for a status resync answered from
//! the database. Authentication and authorization are the built-in broker's (token file, mTLS):
//! a source publishes and subscribes only as itself.
//!
//! Owns the listener, its subscribers and the feed follower. Must not publish to agents: a
//! change reaches them through the publish outbox like a REST change (`hub::publisher`).

pub mod error;
pub mod fanout;
mod service;
pub mod spec;
pub mod status;

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tracing::{info, warn};

use crate::broker::config::MAX_MESSAGE;
use crate::broker::{Authenticator, ServerTls, TokenTable};
use crate::cloudevents::transport::grpc::proto::cloud_event_service_server::CloudEventServiceServer;
use crate::hub::state::AppState;
use fanout::{StatusFanout, Subscribers};
use service::SourceService;
use spec::SpecWriter;

/// Heartbeat period on each status stream (sdk-go's broker default, §8.7).
pub const HEARTBEAT: Duration = Duration::from_secs(10);

/// How the source API listens: TLS, mTLS and tokens as the built-in broker's flags set them.
#[derive(Debug, Clone)]
pub struct SourceApiConfig {
    pub tls: Option<ServerTls>,
    pub tokens: Option<TokenTable>,
    pub heartbeat: Option<Duration>,
}

/// The source API over one hub's state.
pub struct SourceApi {
    config: SourceApiConfig,
    state: AppState,
    hub_source: String,
}

impl SourceApi {
    pub fn new(config: SourceApiConfig, state: AppState, hub_source: impl Into<String>) -> Self {
        Self {
            config,
            state,
            hub_source: hub_source.into(),
        }
    }

    /// Serves on `listener` until `stop`; then every status stream ends with `UNAVAILABLE`.
    pub async fn serve(
        self,
        listener: TcpListener,
        stop: CancellationToken,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let mtls = self
            .config
            .tls
            .as_ref()
            .is_some_and(|t| t.client_ca_pem.is_some());
        let auth = Authenticator::new(self.config.tokens.clone(), mtls);
        if !auth.enabled() {
            warn!("source API: no authentication configured: any client may act as any source");
        }
        let mut server = Server::builder()
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            .http2_keepalive_timeout(Some(Duration::from_secs(10)));
        // The broker's TLS: its lowest version, reloaded certificate and optional client CA.
        let tls = self
            .config
            .tls
            .as_ref()
            .map(crate::broker::tls::server_config)
            .transpose()?;
        let store = self.state.store.clone();
        let subscribers = Arc::new(Subscribers::default());
        let fanout = Arc::new(StatusFanout::new(
            store.clone(),
            subscribers.clone(),
            self.hub_source.clone(),
        ));
        let follower = fanout
            .clone()
            .follow(self.state.changes.subscribe().await, stop.clone());
        let service = SourceService {
            auth,
            spec: SpecWriter {
                store,
                creates: self.state.creates.clone(),
                hub_source: self.hub_source.clone(),
            },
            fanout,
            subscribers,
            metrics: self.state.metrics.clone(),
            heartbeat: self.config.heartbeat,
            stop: stop.clone(),
        };
        info!(addr = ?listener.local_addr().ok(), tls = self.config.tls.is_some(), mtls, "gRPC source API listening");
        let router = server.add_service(
            CloudEventServiceServer::new(service)
                .max_decoding_message_size(MAX_MESSAGE)
                .max_encoding_message_size(usize::MAX),
        );
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        let serving = async {
            match tls {
                None => {
                    router
                        .serve_with_incoming_shutdown(incoming, stop.clone().cancelled_owned())
                        .await
                }
                Some(tls_config) => {
                    let handshakes = TaskTracker::new();
                    if let Some(tls) = &self.config.tls {
                        tls.cert.spawn_watcher(&handshakes, &stop);
                    }
                    let streams =
                        crate::broker::tls::accept(incoming, tls_config, &handshakes, stop.clone());
                    let served = router
                        .serve_with_incoming_shutdown(
                            tokio_stream::wrappers::ReceiverStream::new(streams),
                            stop.clone().cancelled_owned(),
                        )
                        .await;
                    handshakes.close();
                    handshakes.wait().await;
                    served
                }
            }
        };
        // The follower ends with `stop` too.
        let (served, ()) = tokio::join!(serving, follower);
        Ok(served?)
    }
}
