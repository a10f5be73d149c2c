//! [`GrpcTransport`]: the SDK [`Transport`] over gRPC (docs/protocol.md §8.3, C23, C24).
//!
//! One owner task keeps the subscription alive: it opens one `Subscribe` stream per data type
//! (agent `{cluster_name, data_type}`, source `{source, data_type}`), yields
//! [`Inbound::Subscribed`] each time all are open, skips heartbeats, and on any stream end,
//! error or heartbeat timeout (`serverHealthinessTimeout`, §8.7) drops them all, backs off and
//! starts over. Publish is a unary call on the same (lazily reconnecting) channel and fails
//! fast with [`TransportError::NotConnected`] while the broker is unreachable.
//! With failover URLs ([`GrpcOptions::failover_urls`]) there is one channel per broker; the
//! owner task moves to the next broker each time a subscription fails or ends, and publishes
//! follow it (status goes to the broker the specs come from).
//! Must not decide routing (the broker does) or decode payloads (codecs do).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use async_trait::async_trait;
use futures::StreamExt as _;
use futures::stream::{self, BoxStream};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tonic::metadata::{AsciiMetadataValue, MetadataMap};
use tonic::transport::Channel;
use tonic::{Code, Request, Status};
use tracing::{debug, info, warn};

use super::binding;
use super::config::{ConfigError, GrpcOptions};
use super::proto::cloud_event_service_client::CloudEventServiceClient;
use super::proto::{CloudEvent, PublishRequest, SubscriptionRequest};
use crate::Event;
use crate::backoff::Backoff;
use crate::event_type::DataType;
use crate::stats::{Stats, StatsSnapshot};
use crate::transport::{Inbound, Transport, TransportError, TransportRole, claim_subscription};

/// The response header a broker sends on every Subscribe (§8.3, §8.7).
pub const SUBSCRIPTION_ID_HEADER: &str = "subscription-id";
const INBOX: usize = 1024;

/// A gRPC connection to a broker for one role.
pub struct GrpcTransport {
    shared: Arc<Shared>,
    subscribed: AtomicBool,
    stop: CancellationToken,
    tasks: TaskTracker,
}

struct Shared {
    role: TransportRole,
    options: GrpcOptions,
    /// One per broker, in [`GrpcOptions::endpoints`] order.
    channels: Vec<Channel>,
    /// Index into `channels` of the broker in use.
    current: AtomicUsize,
    authorization: Option<AsciiMetadataValue>,
    stats: Stats,
}

impl GrpcTransport {
    /// A transport for `role`; the connection is made lazily (first call) and re-made after
    /// failures. Must be called inside a Tokio runtime.
    ///
    /// ```no_run
    /// # fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use baton_cloudevents::TransportRole;
    /// use baton_cloudevents::transport::grpc::{GrpcOptions, GrpcTransport};
    ///
    /// // Or `GrpcOptions::load(path)`: sdk-go's gRPC config file (url, TLS, token, keepalive).
    /// let options = GrpcOptions::plaintext("http://127.0.0.1:8090");
    /// let transport = GrpcTransport::new(TransportRole::source("my-source"), options)?;
    /// # Ok(()) }
    /// ```
    pub fn new(role: TransportRole, options: GrpcOptions) -> Result<Self, ConfigError> {
        let channels: Vec<Channel> = options
            .endpoints()?
            .into_iter()
            .map(|endpoint| endpoint.connect_lazy())
            .collect();
        // Agents built together (`--simulate`) spread over the brokers.
        let current = rand::random_range(0..channels.len());
        let authorization = options
            .bearer()
            .map(|value| AsciiMetadataValue::try_from(value).map_err(|_| ConfigError::InvalidToken))
            .transpose()?;
        Ok(Self {
            shared: Arc::new(Shared {
                role,
                options,
                channels,
                current: AtomicUsize::new(current),
                authorization,
                stats: Stats::default(),
            }),
            subscribed: AtomicBool::new(false),
            stop: CancellationToken::new(),
            tasks: TaskTracker::new(),
        })
    }

    /// Transport-level counters: subscriptions made, malformed messages dropped, publishes.
    pub fn stats(&self) -> StatsSnapshot {
        self.shared.stats.snapshot()
    }
}

impl Shared {
    /// The channel of the broker in use.
    fn channel(&self) -> Channel {
        self.channels[self.current.load(Ordering::Relaxed) % self.channels.len()].clone()
    }

    /// Moves to the next broker, if there is more than one.
    fn fail_over(&self) {
        if self.channels.len() > 1 {
            let next = (self.current.load(Ordering::Relaxed) + 1) % self.channels.len();
            self.current.store(next, Ordering::Relaxed);
            info!(role = ?self.role, broker = next, "moving to the next gRPC broker");
        }
    }

    fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        if let Some(value) = &self.authorization {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        request
    }

    fn subscription(&self, data_type: &DataType) -> SubscriptionRequest {
        let (source, cluster_name) = match &self.role {
            TransportRole::Source { source_id } => (source_id.clone(), String::new()),
            TransportRole::Agent { cluster_name, .. } => (String::new(), cluster_name.clone()),
        };
        SubscriptionRequest {
            source,
            cluster_name,
            data_type: data_type.to_string(),
        }
    }

    /// Opens every stream; one item per message, `None` when that stream ends.
    async fn open(
        &self,
        data_types: &[DataType],
    ) -> Result<BoxStream<'static, Option<Result<CloudEvent, Status>>>, Status> {
        let mut streams = Vec::with_capacity(data_types.len());
        for data_type in data_types {
            let mut client = CloudEventServiceClient::new(self.channel());
            let response = client
                .subscribe(self.request(self.subscription(data_type)))
                .await?;
            log_subscription_id(response.metadata(), data_type);
            let messages = response
                .into_inner()
                .map(Some)
                .chain(stream::once(async { None }));
            streams.push(messages.boxed());
        }
        Ok(stream::select_all(streams).boxed())
    }
}

fn log_subscription_id(metadata: &MetadataMap, data_type: &DataType) {
    // v1.2+ Go clients insist on exactly one; we also talk to v1.0 servers that send none.
    let ids: Vec<_> = metadata.get_all(SUBSCRIPTION_ID_HEADER).iter().collect();
    debug!(%data_type, subscription_ids = ?ids, "subscribed");
}

/// Why a subscription session ended.
enum SessionEnd {
    Stopped,
    InboxClosed,
    Lost(String),
}

/// The owner task: (re)subscribe with backoff until stopped.
async fn run(
    shared: Arc<Shared>,
    data_types: Vec<DataType>,
    inbox: mpsc::Sender<Inbound>,
    stop: CancellationToken,
) {
    let mut backoff = Backoff::new(shared.options.backoff);
    loop {
        let started = Instant::now();
        // Bounded: a broker that accepts the connection but never answers must not hang us.
        let opening =
            tokio::time::timeout(shared.options.request_timeout, shared.open(&data_types));
        let opened = tokio::select! {
            () = stop.cancelled() => return,
            opened = opening => opened.unwrap_or_else(|_| Err(Status::deadline_exceeded("subscribe timed out"))),
        };
        match opened {
            Ok(messages) => {
                Stats::bump(&shared.stats.subscriptions);
                info!(role = ?shared.role, "gRPC subscription established");
                if inbox.send(Inbound::Subscribed).await.is_err() {
                    return;
                }
                match session(&shared, messages, &inbox, &stop).await {
                    SessionEnd::Stopped | SessionEnd::InboxClosed => return,
                    SessionEnd::Lost(why) => {
                        warn!(role = ?shared.role, why, "gRPC subscription lost; reconnecting")
                    }
                }
                backoff.connection_ended(started.elapsed());
            }
            Err(status) => {
                warn!(role = ?shared.role, code = ?status.code(), message = status.message(), "gRPC subscribe failed; retrying")
            }
        }
        shared.fail_over();
        let delay = backoff.next_delay();
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(delay) => {}
        }
    }
}

/// Forwards events until a stream ends, fails or misses its heartbeat window.
async fn session(
    shared: &Shared,
    mut messages: BoxStream<'static, Option<Result<CloudEvent, Status>>>,
    inbox: &mpsc::Sender<Inbound>,
    stop: &CancellationToken,
) -> SessionEnd {
    let window = shared.options.server_healthiness_timeout;
    let deadline = tokio::time::sleep(window.unwrap_or_default());
    tokio::pin!(deadline);
    loop {
        let message = tokio::select! {
            () = stop.cancelled() => return SessionEnd::Stopped,
            () = &mut deadline, if window.is_some() => {
                return SessionEnd::Lost("stream timeout: no heartbeat within serverHealthinessTimeout".into());
            }
            next = messages.next() => next,
        };
        let message = match message {
            None | Some(None) => return SessionEnd::Lost("the broker closed the stream".into()),
            Some(Some(Err(status))) => {
                return SessionEnd::Lost(format!("{:?}: {}", status.code(), status.message()));
            }
            Some(Some(Ok(message))) => message,
        };
        if binding::is_heartbeat(&message) {
            if let Some(window) = window {
                deadline.as_mut().reset(Instant::now() + window);
            }
            continue;
        }
        match binding::from_proto(message) {
            Ok(event) => {
                Stats::bump(&shared.stats.received);
                tokio::select! {
                    () = stop.cancelled() => return SessionEnd::Stopped,
                    sent = inbox.send(Inbound::Event(event)) => if sent.is_err() {
                        return SessionEnd::InboxClosed;
                    },
                }
            }
            Err(err) => {
                Stats::bump(&shared.stats.malformed);
                warn!(%err, "dropping a gRPC message that is not a valid CloudEvent");
            }
        }
    }
}

/// Transport-level failures mean "not connected"; the broker's own refusals are rejections.
fn publish_error(status: &Status) -> TransportError {
    match status.code() {
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::Unknown => {
            debug!(code = ?status.code(), message = status.message(), "publish: broker unreachable");
            TransportError::NotConnected
        }
        code => TransportError::Rejected(format!("{code:?}: {}", status.message())),
    }
}

#[async_trait]
impl Transport for GrpcTransport {
    fn role(&self) -> &TransportRole {
        &self.shared.role
    }

    async fn subscribe(
        &self,
        data_types: &[DataType],
    ) -> Result<mpsc::Receiver<Inbound>, TransportError> {
        claim_subscription(self.stop.is_cancelled(), &self.subscribed)?;
        let (inbox, rx) = mpsc::channel(INBOX);
        self.tasks.spawn(run(
            self.shared.clone(),
            data_types.to_vec(),
            inbox,
            self.stop.clone(),
        ));
        Ok(rx)
    }

    async fn publish(&self, event: &Event) -> Result<(), TransportError> {
        if self.stop.is_cancelled() {
            return Err(TransportError::Closed);
        }
        let message =
            binding::to_proto(event).map_err(|e| TransportError::Encode(e.to_string()))?;
        let shared = &self.shared;
        let mut request = shared.request(PublishRequest {
            event: Some(message),
        });
        request.set_timeout(shared.options.request_timeout);
        let mut client = CloudEventServiceClient::new(shared.channel());
        let outcome =
            tokio::time::timeout(shared.options.request_timeout, client.publish(request)).await;
        match outcome {
            Ok(Ok(_)) => {
                Stats::bump(&shared.stats.published);
                Ok(())
            }
            Ok(Err(status)) => {
                Stats::bump(&shared.stats.publish_failures);
                Err(publish_error(&status))
            }
            Err(_elapsed) => {
                Stats::bump(&shared.stats.publish_failures);
                Err(TransportError::NotConnected)
            }
        }
    }

    async fn close(&self) {
        self.stop.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }
}
