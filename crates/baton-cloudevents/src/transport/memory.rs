//! An in-process broker for unit tests of client logic: routes like the real brokers (spec
//! events to the agents of their cluster, status to the source named by `originalsource`,
//! resync requests to one or all parties, §7.4, §8.5), and lets a test take the broker down or
//! simulate a reconnect. Not for production: no persistence, no backpressure limits.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ::cloudevents::AttributesReader;
use async_trait::async_trait;
use tokio::sync::mpsc;

use super::{Inbound, Transport, TransportError, TransportRole};
use crate::Event;
use crate::event_type::{Action, DataType, EventType, SubResource};
use crate::extensions::{self as ext};

const QUEUE: usize = 4096;

/// The shared in-memory broker. Clone it to hand it around.
#[derive(Debug, Clone, Default)]
pub struct MemoryBroker {
    state: Arc<Mutex<BrokerState>>,
}

#[derive(Debug, Default)]
struct BrokerState {
    subscribers: Vec<Subscriber>,
    /// Id of the next transport; a subscription is removed by its own transport's id only.
    next_transport: u64,
    history: Vec<Event>,
    down: bool,
}

#[derive(Debug)]
struct Subscriber {
    transport: u64,
    role: TransportRole,
    data_types: Vec<DataType>,
    inbox: mpsc::Sender<Inbound>,
}

impl MemoryBroker {
    /// A broker with no party connected yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A transport for `role` attached to this broker.
    pub fn transport(&self, role: TransportRole) -> MemoryTransport {
        let id = {
            let mut state = self.lock();
            state.next_transport += 1;
            state.next_transport
        };
        MemoryTransport {
            broker: self.clone(),
            id,
            role,
            subscribed: Mutex::new(false),
        }
    }

    /// Every event published so far, in order.
    pub fn history(&self) -> Vec<Event> {
        self.lock().history.clone()
    }

    /// While down, publishes fail with [`TransportError::NotConnected`].
    pub fn set_down(&self, down: bool) {
        self.lock().down = down;
    }

    /// Simulates every client reconnecting: each subscription yields [`Inbound::Subscribed`].
    pub async fn reconnect_all(&self) {
        let inboxes: Vec<_> = self
            .lock()
            .subscribers
            .iter()
            .map(|s| s.inbox.clone())
            .collect();
        for inbox in inboxes {
            let _closed = inbox.send(Inbound::Subscribed).await;
        }
    }

    /// Hands `event` straight to the subscriber playing `to`, bypassing routing: lets a test
    /// show a client an event a real broker would have filtered out. False if nobody plays it.
    pub async fn deliver(&self, to: &TransportRole, event: Event) -> bool {
        let inbox = self
            .lock()
            .subscribers
            .iter()
            .find(|s| &s.role == to)
            .map(|s| s.inbox.clone());
        match inbox {
            Some(inbox) => inbox.send(Inbound::Event(event)).await.is_ok(),
            None => false,
        }
    }

    fn lock(&self) -> MutexGuard<'_, BrokerState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn route(
        &self,
        from: &TransportRole,
        event: &Event,
    ) -> Result<Vec<mpsc::Sender<Inbound>>, TransportError> {
        let event_type: EventType = event
            .ty()
            .parse()
            .map_err(|e| TransportError::Rejected(format!("{e}")))?;
        let cluster = ext::string(event, ext::CLUSTER_NAME)
            .ok()
            .flatten()
            .unwrap_or("");
        let original_source = ext::string(event, ext::ORIGINAL_SOURCE)
            .ok()
            .flatten()
            .unwrap_or("");
        let wants = |s: &Subscriber| s.data_types.contains(&event_type.data_type);
        let state = self.lock();
        let targets = state.subscribers.iter().filter(|s| wants(s)).filter(|s| {
            match (from, &s.role, event_type.sub_resource) {
                // Source → agents: specs to the named cluster; status resyncs to one or all.
                (
                    TransportRole::Source { .. },
                    TransportRole::Agent { cluster_name, .. },
                    SubResource::Spec,
                ) => cluster_name == cluster,
                (
                    TransportRole::Source { .. },
                    TransportRole::Agent { cluster_name, .. },
                    SubResource::Status,
                ) => {
                    event_type.action == Action::ResyncRequest
                        && (cluster.is_empty() || cluster_name == cluster)
                }
                // Agent → sources: status to its owner; spec resyncs to one or all.
                (
                    TransportRole::Agent { .. },
                    TransportRole::Source { source_id },
                    SubResource::Status,
                ) => source_id == original_source,
                (
                    TransportRole::Agent { .. },
                    TransportRole::Source { source_id },
                    SubResource::Spec,
                ) => {
                    event_type.action == Action::ResyncRequest
                        && (original_source.is_empty() || source_id == original_source)
                }
                _ => false,
            }
        });
        Ok(targets.map(|s| s.inbox.clone()).collect())
    }
}

/// One party's connection to a [`MemoryBroker`].
#[derive(Debug)]
pub struct MemoryTransport {
    broker: MemoryBroker,
    /// Unique within its broker: several transports may share a role (shared subscriptions).
    id: u64,
    role: TransportRole,
    subscribed: Mutex<bool>,
}

#[async_trait]
impl Transport for MemoryTransport {
    fn role(&self) -> &TransportRole {
        &self.role
    }

    async fn subscribe(
        &self,
        data_types: &[DataType],
    ) -> Result<mpsc::Receiver<Inbound>, TransportError> {
        {
            let mut subscribed = self
                .subscribed
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if *subscribed {
                return Err(TransportError::AlreadySubscribed);
            }
            *subscribed = true;
        }
        let (inbox, rx) = mpsc::channel(QUEUE);
        inbox
            .send(Inbound::Subscribed)
            .await
            .map_err(|_| TransportError::Closed)?;
        self.broker.lock().subscribers.push(Subscriber {
            transport: self.id,
            role: self.role.clone(),
            data_types: data_types.to_vec(),
            inbox,
        });
        Ok(rx)
    }

    async fn publish(&self, event: &Event) -> Result<(), TransportError> {
        if self.broker.lock().down {
            return Err(TransportError::NotConnected);
        }
        let targets = self.broker.route(&self.role, event)?;
        self.broker.lock().history.push(event.clone());
        for inbox in targets {
            let _closed = inbox.send(Inbound::Event(event.clone())).await;
        }
        Ok(())
    }

    /// Removes this transport's own subscription; others with the same role stay.
    async fn close(&self) {
        let id = self.id;
        self.broker.lock().subscribers.retain(|s| s.transport != id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EventBuilder;

    #[tokio::test]
    async fn close_removes_only_its_own_subscription() {
        let broker = MemoryBroker::new();
        let data_type: DataType = "io.baton.test.v1.widgets".parse().unwrap();
        let role = TransportRole::agent("c1");
        let (first, second) = (broker.transport(role.clone()), broker.transport(role));
        let _first_inbox = first
            .subscribe(std::slice::from_ref(&data_type))
            .await
            .unwrap();
        let mut second_inbox = second
            .subscribe(std::slice::from_ref(&data_type))
            .await
            .unwrap();
        assert!(matches!(
            second_inbox.recv().await,
            Some(Inbound::Subscribed)
        ));
        first.close().await;

        let source = broker.transport(TransportRole::source("hub"));
        let ty = EventType::new(data_type, SubResource::Spec, Action::CreateRequest);
        let event = EventBuilder::new("hub", &ty)
            .cluster_name("c1")
            .build()
            .unwrap();
        source.publish(&event).await.unwrap();
        assert!(matches!(second_inbox.recv().await, Some(Inbound::Event(_))));
    }
}
