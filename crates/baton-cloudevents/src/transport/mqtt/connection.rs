//! The one task that owns the rumqttc [`EventLoop`] of a transport (§7.1): it polls it, turns
//! received PUBLISHes into events (§7.7), resolves publish acks, (re)subscribes after every
//! CONNACK and reports [`Inbound::Subscribed`] on every SUBACK, reconnects with backoff after a
//! failure, and disconnects cleanly on shutdown.
//!
//! `poll` is only ever cancelled by shutdown, so rumqttc never loses a half-written packet.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ::cloudevents::AttributesReader;
use rumqttc::Outgoing;
use rumqttc::v5::mqttbytes::v5::{
    ConnectReturnCode, Packet, PubAckReason, PubRecReason, Publish, SubscribeReasonCode,
};
use rumqttc::v5::{AsyncClient, ConnectionError, Event, EventLoop};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::binding;
use super::session::{ConnectionState, MisaddressedHook, Shared};
use crate::backoff::Backoff;
use crate::log_limit::LogLimit;

/// Per-event warnings a peer can trigger: at a bounded rate.
static NOT_CLOUDEVENT: LogLimit = LogLimit::per_event();
static UNKNOWN_TYPE: LogLimit = LogLimit::per_event();
static MISADDRESSED: LogLimit = LogLimit::per_event();

use super::topics;
use crate::event_type::{EventType, HEARTBEAT_TYPE};
use crate::extensions as ext;
use crate::stats::Stats;
use crate::transport::{Inbound, TransportError};

/// How long a clean DISCONNECT may take on shutdown.
const DISCONNECT_GRACE: Duration = Duration::from_secs(2);

pub(super) struct Connection {
    pub eventloop: EventLoop,
    pub client: AsyncClient,
    pub shared: Arc<Shared>,
    pub state: watch::Sender<ConnectionState>,
    pub backoff: Backoff,
    pub stop: CancellationToken,
    /// `host:port`, for messages.
    pub broker: String,
    pub client_id: String,
    /// A source checks that an event's `clustername` is the cluster of the topic it came on
    /// (the one the broker's ACLs let that agent publish to), and calls this on each refusal.
    pub check_sender: Option<MisaddressedHook>,
}

/// Why the connection is considered lost.
type Lost = String;

impl Connection {
    pub async fn run(mut self) {
        let mut up_since: Option<Instant> = None;
        loop {
            let polled = tokio::select! {
                biased;
                () = self.stop.cancelled() => break,
                polled = self.eventloop.poll() => polled,
            };
            let outcome = match polled {
                Ok(event) => self.on_event(event, &mut up_since).await,
                Err(err) => Err(self.describe(&err)),
            };
            match outcome {
                Ok(true) => {}
                Ok(false) => break,
                Err(reason) => {
                    self.lost(reason, &mut up_since);
                    let delay = self.backoff.next_delay();
                    tokio::select! {
                        () = self.stop.cancelled() => break,
                        () = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
        self.shutdown().await;
    }

    /// Handles one event; `Ok(false)` means shutdown was requested while delivering.
    async fn on_event(
        &mut self,
        event: Event,
        up_since: &mut Option<Instant>,
    ) -> Result<bool, Lost> {
        match event {
            Event::Incoming(Packet::ConnAck(_)) => {
                {
                    let mut session = self.shared.lock();
                    session.connected = true;
                    if let Some(subscription) = &session.subscription {
                        self.client
                            .try_subscribe_many(subscription.filters.clone())
                            .map_err(|err| format!("queueing SUBSCRIBE failed: {err}"))?;
                    }
                }
                *up_since = Some(Instant::now());
                self.state.send_replace(ConnectionState::Connected);
                info!(broker = %self.broker, client_id = %self.client_id, "connected to the MQTT broker");
            }
            Event::Incoming(Packet::SubAck(ack)) => {
                let refused: Vec<&SubscribeReasonCode> = ack
                    .return_codes
                    .iter()
                    .filter(|code| !matches!(code, SubscribeReasonCode::Success(_)))
                    .collect();
                if !refused.is_empty() {
                    return Err(format!("the broker refused the subscription: {refused:?}"));
                }
                Stats::bump(&self.shared.stats.subscriptions);
                let inbox = self
                    .shared
                    .lock()
                    .subscription
                    .as_ref()
                    .map(|s| s.inbox.clone());
                if let Some(inbox) = inbox {
                    debug!(client_id = %self.client_id, "subscribed");
                    return Ok(deliver(&self.stop, &inbox, Inbound::Subscribed).await);
                }
            }
            Event::Incoming(Packet::Publish(publish)) => return Ok(self.on_message(publish).await),
            Event::Incoming(Packet::PubAck(ack)) => {
                let outcome = match ack.reason {
                    PubAckReason::Success | PubAckReason::NoMatchingSubscribers => Ok(()),
                    reason => Err(TransportError::Rejected(format!("{reason:?}"))),
                };
                self.shared.lock().acks.on_ack(ack.pkid, outcome);
            }
            Event::Incoming(Packet::PubRec(rec)) => {
                let outcome = match rec.reason {
                    PubRecReason::Success | PubRecReason::NoMatchingSubscribers => Ok(()),
                    reason => Err(TransportError::Rejected(format!("{reason:?}"))),
                };
                self.shared.lock().acks.on_ack(rec.pkid, outcome);
            }
            Event::Outgoing(Outgoing::Publish(pkid)) => {
                self.shared.lock().acks.on_written(pkid);
                self.shared.room.notify_waiters();
            }
            Event::Outgoing(Outgoing::AwaitAck(pkid)) => {
                self.shared.lock().acks.on_collision(pkid);
                self.shared.room.notify_waiters();
            }
            _ => {}
        }
        Ok(true)
    }

    /// A received PUBLISH: decode, check the type, hand it to the subscriber. Anything that is
    /// not a CloudEvent of a subscribed type is logged and counted; the loop goes on.
    async fn on_message(&mut self, publish: Publish) -> bool {
        let stats = &self.shared.stats;
        let topic = String::from_utf8_lossy(&publish.topic).into_owned();
        let event = match binding::decode(publish.properties.as_ref(), &publish.payload) {
            Ok(event) => event,
            Err(err) => {
                Stats::bump(&stats.malformed);
                if let Some(suppressed) = NOT_CLOUDEVENT.allow() {
                    warn!(%topic, error = %err, suppressed, "dropping MQTT message that is not a CloudEvent");
                }
                return true;
            }
        };
        if let Some(hook) = &self.check_sender
            && let Some(topic_cluster) = topics::sender_cluster(&topic)
        {
            let claimed = ext::string(&event, ext::CLUSTER_NAME).ok().flatten();
            if claimed != Some(topic_cluster) {
                Stats::bump(&stats.misaddressed);
                hook.call();
                if let Some(suppressed) = MISADDRESSED.allow() {
                    warn!(%topic, event_id = event.id(), clustername = claimed.unwrap_or_default(),
                        suppressed, "dropping event whose clustername is not its topic's cluster");
                }
                return true;
            }
        }
        let inbox = {
            let session = self.shared.lock();
            let Some(subscription) = session.subscription.as_ref() else {
                Stats::bump(&stats.ignored);
                return true;
            };
            if event.ty() != HEARTBEAT_TYPE {
                match event.ty().parse::<EventType>() {
                    Err(err) => {
                        Stats::bump(&stats.malformed);
                        if let Some(suppressed) = UNKNOWN_TYPE.allow() {
                            warn!(%topic, event_id = event.id(), event_type = event.ty(), error = %err,
                                suppressed, "dropping CloudEvent of unknown type");
                        }
                        return true;
                    }
                    Ok(ty) if !subscription.wants(&ty.data_type) => {
                        Stats::bump(&stats.ignored);
                        debug!(%topic, event_type = event.ty(), "ignoring event of an unsubscribed data type");
                        return true;
                    }
                    Ok(_) => {}
                }
            }
            subscription.inbox.clone()
        };
        Stats::bump(&stats.received);
        deliver(&self.stop, &inbox, Inbound::Event(event)).await
    }

    /// The connection failed: fail every waiting publish (the session is clean, nothing will be
    /// replayed), drop whatever rumqttc still queued, and report the reason.
    fn lost(&mut self, reason: Lost, up_since: &mut Option<Instant>) {
        {
            let mut session = self.shared.lock();
            session.connected = false;
            // Under the lock no publisher can queue a request, so nothing stale survives.
            self.eventloop.clean();
            self.eventloop.pending.clear();
            session.acks.fail_all(|| TransportError::NotConnected);
        }
        self.shared.room.notify_waiters();
        if let Some(since) = up_since.take() {
            self.backoff.connection_ended(since.elapsed());
        }
        warn!(broker = %self.broker, client_id = %self.client_id, error = %reason,
            "MQTT connection down; reconnecting with backoff");
        self.state
            .send_replace(ConnectionState::Down { error: reason });
    }

    async fn shutdown(mut self) {
        let was_connected = {
            let mut session = self.shared.lock();
            let was = session.connected;
            session.connected = false;
            session.closed = true;
            session.acks.fail_all(|| TransportError::Closed);
            // Dropping the sender ends the subscriber's stream.
            session.subscription = None;
            was
        };
        self.shared.room.notify_waiters();
        if was_connected && self.client.try_disconnect().is_ok() {
            let disconnect = async {
                loop {
                    match self.eventloop.poll().await {
                        Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(_) => break,
                        Ok(_) => {}
                    }
                }
            };
            if tokio::time::timeout(DISCONNECT_GRACE, disconnect)
                .await
                .is_err()
            {
                debug!("no clean DISCONNECT within {DISCONNECT_GRACE:?}");
            }
        }
        info!(client_id = %self.client_id, "MQTT transport closed");
        self.state.send_replace(ConnectionState::Closed);
    }

    /// A clear, credential-free reason for a connection error.
    fn describe(&self, err: &ConnectionError) -> String {
        let broker = &self.broker;
        match err {
            ConnectionError::Tls(tls) => format!(
                "TLS connection to {broker} failed: {tls} (check caFile/caData and the client certificate)"
            ),
            ConnectionError::Io(io) if io.get_ref().is_some_and(|e| e.is::<rustls::Error>()) => {
                format!(
                    "TLS connection to {broker} failed: {io} (check caFile/caData and the client certificate)"
                )
            }
            ConnectionError::ConnectionRefused(
                code @ (ConnectReturnCode::BadUserNamePassword | ConnectReturnCode::NotAuthorized),
            ) => format!("{broker} refused the connection: {code:?} (check username/password)"),
            ConnectionError::ConnectionRefused(code) => {
                format!("{broker} refused the connection: {code:?}")
            }
            ConnectionError::Timeout(_) => {
                format!("connecting to {broker} timed out (dialTimeout)")
            }
            other => format!("connection to {broker}: {other}"),
        }
    }
}

/// Waits for room in the subscriber's queue; `false` when shutdown comes first. A free
/// function: the event loop is not `Sync`, so the future must not borrow the connection.
async fn deliver(stop: &CancellationToken, inbox: &mpsc::Sender<Inbound>, item: Inbound) -> bool {
    tokio::select! {
        biased;
        () = stop.cancelled() => false,
        sent = inbox.send(item) => {
            if sent.is_err() {
                debug!("the subscriber is gone; dropping inbound item");
            }
            true
        }
    }
}
