//! [`MqttTransport`]: the [`Transport`] of a source or an agent over an MQTT v5 broker (§7).
//! The handle routes and encodes; the connection task ([`super::connection`]) owns the socket.
//!
//! `publish` returns `Ok` only once the broker has acknowledged the message (PUBACK at QoS 1,
//! the default; PUBREC at QoS 2; written to the socket at QoS 0). It fails fast with
//! [`TransportError::NotConnected`] while the connection is down (also for a publish whose ack
//! was still outstanding when the connection dropped: it may or may not have arrived), and
//! gives up after the publish timeout if the broker never answers.

use std::sync::Arc;
use std::time::Duration;

use ::cloudevents::AttributesReader;
use async_trait::async_trait;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Filter;
use rumqttc::v5::{AsyncClient, MqttOptions};
use rumqttc::{TlsConfiguration, Transport as Wire};
use secrecy::ExposeSecret;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::MqttError;
use super::binding;
use super::config::MqttConfig;
use super::connection::Connection;
use super::session::{
    ConnectionState, MAX_QUEUED_PUBLISHES, MisaddressedHook, REQUEST_CAPACITY, Shared, Subscription,
};
use super::topics::Topics;
use crate::Event;
use crate::backoff::{Backoff, BackoffPolicy};
use crate::event_type::{DataType, EventType};
use crate::extensions as ext;
use crate::stats::{Stats, StatsSnapshot};
use crate::transport::{Inbound, Transport, TransportError, TransportRole};

/// Largest packet baton accepts from the broker (rumqttc's default is 10 KiB; a manifest alone
/// may be 500 kB, §4.5).
const MAX_PACKET_SIZE: u32 = 64 * 1024 * 1024;
/// Items the subscriber may have unread before the connection task waits for it.
const INBOX_CAPACITY: usize = 1024;

/// Builds an [`MqttTransport`].
#[derive(Debug)]
pub struct MqttTransportBuilder {
    config: MqttConfig,
    role: TransportRole,
    client_id: Option<String>,
    backoff: BackoffPolicy,
    publish_timeout: Duration,
    on_misaddressed: Option<MisaddressedHook>,
}

impl MqttTransportBuilder {
    /// The MQTT client id of a source; it wins over the config file's `clientId`, and the
    /// default is `<sourceID>-client`. Several hub replicas on a `$share` subscription MUST use
    /// distinct ids: the broker disconnects a client when another connects with the same id.
    /// Agents always use sdk-go's `<agentID>-client`.
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// Reconnect backoff; the default is sdk-go's (§9).
    pub fn backoff(mut self, policy: BackoffPolicy) -> Self {
        self.backoff = policy;
        self
    }

    /// Source role: what to call for each event dropped because its `clustername` is not the
    /// cluster of its topic (the drop itself always happens, is counted in
    /// [`StatsSnapshot::misaddressed`] and logged at a bounded rate).
    pub fn on_misaddressed(mut self, hook: MisaddressedHook) -> Self {
        self.on_misaddressed = Some(hook);
        self
    }

    /// How long `publish` waits for room and for the broker's ack (default 30 s).
    pub fn publish_timeout(mut self, timeout: Duration) -> Self {
        self.publish_timeout = timeout;
        self
    }

    /// Checks the role against the topics and starts connecting in the background. Must be
    /// called inside a tokio runtime.
    pub fn build(self) -> Result<MqttTransport, MqttError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| MqttError::NoRuntime)?;
        let config = self.config;
        let (filters, client_id) = match &self.role {
            TransportRole::Source { source_id } => (
                config.topics.source_subscriptions(source_id)?,
                self.client_id
                    .or_else(|| config.client_id.clone())
                    .unwrap_or_else(|| format!("{source_id}-client")),
            ),
            TransportRole::Agent {
                cluster_name,
                agent_id,
            } => (
                config.topics.agent_subscriptions(cluster_name),
                format!("{agent_id}-client"),
            ),
        };
        let filters = filters
            .into_iter()
            .map(|filter| Filter::new(filter, config.sub_qos.to_rumqttc()))
            .collect();
        let mut options = MqttOptions::new(&client_id, &config.broker.host, config.broker.port);
        options
            .set_clean_start(true)
            .set_keep_alive(config.keep_alive)
            .set_connection_timeout(config.dial_timeout.as_secs_f64().ceil().max(1.0) as u64)
            .set_max_packet_size(Some(MAX_PACKET_SIZE));
        if config.username.is_some() || config.password.is_some() {
            options.set_credentials(
                config.username.clone().unwrap_or_default(),
                config
                    .password
                    .as_ref()
                    .map(|p| p.expose_secret().to_owned())
                    .unwrap_or_default(),
            );
        }
        if let Some(tls) = &config.tls {
            options.set_transport(Wire::tls_with_config(TlsConfiguration::Rustls(
                tls.client_config()?,
            )));
        }
        // TCP_NODELAY: with Nagle on, a publish written while an earlier one awaits its
        // PUBACK waits for the broker's delayed ACK (~40 ms).
        let mut network = options.network_options();
        network.set_tcp_nodelay(true);
        options.set_network_options(network);
        let (client, eventloop) = AsyncClient::new(options, REQUEST_CAPACITY);
        let shared = Arc::new(Shared::default());
        let (state_tx, state) = watch::channel(ConnectionState::Connecting);
        let stop = CancellationToken::new();
        let tasks = TaskTracker::new();
        let connection = Connection {
            eventloop,
            client: client.clone(),
            shared: shared.clone(),
            state: state_tx,
            backoff: Backoff::new(self.backoff),
            stop: stop.clone(),
            broker: config.broker.to_string(),
            client_id: client_id.clone(),
            check_sender: match &self.role {
                TransportRole::Source { .. } => Some(
                    self.on_misaddressed
                        .unwrap_or_else(|| MisaddressedHook::new(|| {})),
                ),
                TransportRole::Agent { .. } => None,
            },
        };
        tasks.spawn_on(connection.run(), &runtime);
        tasks.close();
        Ok(MqttTransport {
            role: self.role,
            topics: config.topics,
            pub_qos: config.pub_qos.to_rumqttc(),
            broker: config.broker.to_string(),
            client_id,
            filters,
            client,
            shared,
            state,
            stop,
            tasks,
            publish_timeout: self.publish_timeout,
        })
    }
}

/// A source's or an agent's connection to an MQTT v5 broker.
#[derive(Debug)]
pub struct MqttTransport {
    role: TransportRole,
    topics: Topics,
    pub_qos: QoS,
    broker: String,
    client_id: String,
    filters: Vec<Filter>,
    client: AsyncClient,
    shared: Arc<Shared>,
    state: watch::Receiver<ConnectionState>,
    stop: CancellationToken,
    tasks: TaskTracker,
    publish_timeout: Duration,
}

impl MqttTransport {
    /// Starts building the transport of `role` from `config`.
    ///
    /// ```no_run
    /// # fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use baton_cloudevents::TransportRole;
    /// use baton_cloudevents::transport::mqtt::{MqttConfig, MqttTransport};
    ///
    /// // sdk-go's and Maestro's config file; `MqttConfig::load(path)` reads one.
    /// let config = MqttConfig::from_yaml(
    ///     "brokerHost: 127.0.0.1:1883\n\
    ///      topics:\n  \
    ///        sourceEvents: sources/my-source/consumers/+/sourceevents\n  \
    ///        agentEvents: sources/my-source/consumers/+/agentevents\n",
    /// )?;
    /// let transport = MqttTransport::builder(config, TransportRole::agent("cluster1")).build()?;
    /// # Ok(()) }
    /// ```
    pub fn builder(config: MqttConfig, role: TransportRole) -> MqttTransportBuilder {
        MqttTransportBuilder {
            config,
            role,
            client_id: None,
            backoff: BackoffPolicy::default(),
            publish_timeout: Duration::from_secs(30),
            on_misaddressed: None,
        }
    }

    /// The MQTT client id (default: derived from the role, as sdk-go's).
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The subscription filters of this role (§7.5), in SUBSCRIBE order.
    pub fn subscription_filters(&self) -> Vec<&str> {
        self.filters.iter().map(|f| f.path.as_str()).collect()
    }

    /// The state of the broker connection now.
    pub fn connection_state(&self) -> ConnectionState {
        self.state.borrow().clone()
    }

    /// Transport-level counters: messages received and handed on, non-CloudEvents and unknown
    /// types (`malformed`), unsubscribed data types (`ignored`), publishes and their failures,
    /// subscriptions established.
    pub fn stats(&self) -> StatsSnapshot {
        self.shared.stats.snapshot()
    }

    /// Waits until the broker accepted the connection; on timeout the error carries the last
    /// connection failure (e.g. a TLS or authentication error).
    pub async fn wait_connected(&self, limit: Duration) -> Result<(), MqttError> {
        let mut state = self.state.clone();
        let reached = tokio::time::timeout(
            limit,
            state.wait_for(|s| matches!(s, ConnectionState::Connected | ConnectionState::Closed)),
        )
        .await;
        match reached {
            Ok(Ok(s)) if *s == ConnectionState::Connected => Ok(()),
            Ok(_) => Err(MqttError::Closed),
            Err(_) => Err(MqttError::NotConnected {
                broker: self.broker.clone(),
                last_error: match self.connection_state() {
                    ConnectionState::Down { error } => error,
                    _ => "no answer yet".to_owned(),
                },
            }),
        }
    }

    /// §7.4: the topic `event` goes to from this role.
    pub fn publish_topic(&self, event: &Event) -> Result<String, TransportError> {
        let no_route = |reason: String| TransportError::NoRoute {
            event_type: event.ty().to_owned(),
            reason,
        };
        let event_type: EventType = event.ty().parse().map_err(|e| no_route(format!("{e}")))?;
        let read = |name| {
            ext::string(event, name)
                .map(Option::unwrap_or_default)
                .map_err(|e| no_route(e.to_string()))
        };
        let topic = match &self.role {
            TransportRole::Source { source_id } => {
                let cluster = read(ext::CLUSTER_NAME)?;
                self.topics
                    .source_publish_topic(source_id, &event_type, cluster)
            }
            TransportRole::Agent { cluster_name, .. } => {
                let original_source = read(ext::ORIGINAL_SOURCE)?;
                self.topics
                    .agent_publish_topic(cluster_name, &event_type, original_source)
            }
        };
        topic.map_err(|e| no_route(e.to_string()))
    }

    async fn send(&self, event: &Event) -> Result<(), TransportError> {
        let topic = self.publish_topic(event)?;
        let (properties, payload) = binding::encode(event);
        let deadline = tokio::time::Instant::now() + self.publish_timeout;
        let timed_out =
            || TransportError::Other(Box::new(MqttError::AckTimeout(self.publish_timeout)));
        let reply = loop {
            let room = self.shared.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            if let Some(reply) = self.try_queue(&topic, &properties, &payload)? {
                break reply;
            }
            tokio::time::timeout_at(deadline, room)
                .await
                .map_err(|_| timed_out())?;
        };
        match tokio::time::timeout_at(deadline, reply).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_dropped)) => Err(TransportError::Closed),
            Err(_) => Err(timed_out()),
        }
    }

    /// Hands the publish to rumqttc and queues its reply slot in one critical section (see
    /// [`super::acks`]); `None` when rumqttc's queue is full.
    fn try_queue(
        &self,
        topic: &str,
        properties: &rumqttc::v5::mqttbytes::v5::PublishProperties,
        payload: &bytes::Bytes,
    ) -> Result<Option<oneshot::Receiver<Result<(), TransportError>>>, TransportError> {
        let mut session = self.shared.lock();
        if session.closed {
            return Err(TransportError::Closed);
        }
        if !session.connected {
            return Err(TransportError::NotConnected);
        }
        if session.acks.queued_len() >= MAX_QUEUED_PUBLISHES {
            return Ok(None);
        }
        self.client
            .try_publish_with_properties(
                topic,
                self.pub_qos,
                false,
                payload.clone(),
                properties.clone(),
            )
            .map_err(|err| TransportError::Other(Box::new(err)))?;
        let (tx, rx) = oneshot::channel();
        session.acks.push(tx);
        Ok(Some(rx))
    }
}

#[async_trait]
impl Transport for MqttTransport {
    fn role(&self) -> &TransportRole {
        &self.role
    }

    async fn subscribe(
        &self,
        data_types: &[DataType],
    ) -> Result<mpsc::Receiver<Inbound>, TransportError> {
        let (inbox, rx) = mpsc::channel(INBOX_CAPACITY);
        let mut session = self.shared.lock();
        if session.closed {
            return Err(TransportError::Closed);
        }
        if session.subscribed {
            return Err(TransportError::AlreadySubscribed);
        }
        session.subscribed = true;
        if session.connected {
            // Otherwise the connection task subscribes on the next CONNACK.
            self.client
                .try_subscribe_many(self.filters.clone())
                .map_err(|err| TransportError::Other(Box::new(err)))?;
        }
        session.subscription = Some(Subscription {
            filters: self.filters.clone(),
            data_types: data_types.to_vec(),
            inbox,
        });
        Ok(rx)
    }

    async fn publish(&self, event: &Event) -> Result<(), TransportError> {
        let outcome = self.send(event).await;
        let counter = match outcome {
            Ok(()) => &self.shared.stats.published,
            Err(_) => &self.shared.stats.publish_failures,
        };
        Stats::bump(counter);
        outcome
    }

    async fn close(&self) {
        self.stop.cancel();
        self.tasks.wait().await;
    }
}

impl Drop for MqttTransport {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
