//! What the transport handle and the connection's owner task share: whether the connection is
//! up, the publishes waiting for their acks, the subscription, the counters, and the hook a
//! source's connection calls for each event whose `clustername` is not its topic's cluster.
//! One short `std` mutex guards it; nobody awaits while holding it.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rumqttc::v5::mqttbytes::v5::Filter;
use tokio::sync::{Notify, mpsc};

use super::acks::Acks;
use crate::event_type::DataType;
use crate::stats::Stats;
use crate::transport::Inbound;

/// rumqttc's request channel capacity.
pub(super) const REQUEST_CAPACITY: usize = 256;
/// Publishes that may wait in that channel; the rest of it stays free for SUBSCRIBE and
/// DISCONNECT, which the owner task must never block on.
pub(super) const MAX_QUEUED_PUBLISHES: usize = REQUEST_CAPACITY - 16;

/// The state of the broker connection, as [`super::MqttTransport::connection_state`] shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionState {
    /// The first connection attempt is under way.
    Connecting,
    /// Connected and subscribed.
    Connected,
    /// The connection is down (or never came up); the transport retries with backoff.
    /// `error` says why, without credentials.
    Down {
        /// Why it is down.
        error: String,
    },
    /// The transport was closed.
    Closed,
}

/// The subscription the client asked for.
#[derive(Debug)]
pub(super) struct Subscription {
    pub filters: Vec<Filter>,
    /// Events of other data types are counted as ignored; empty means all.
    pub data_types: Vec<DataType>,
    pub inbox: mpsc::Sender<Inbound>,
}

impl Subscription {
    pub fn wants(&self, data_type: &DataType) -> bool {
        self.data_types.is_empty() || self.data_types.contains(data_type)
    }
}

#[derive(Debug, Default)]
pub(super) struct Session {
    pub connected: bool,
    pub closed: bool,
    /// `subscribe` may be called once.
    pub subscribed: bool,
    pub acks: Acks,
    pub subscription: Option<Subscription>,
}

#[derive(Debug, Default)]
pub(super) struct Shared {
    session: Mutex<Session>,
    /// Signalled whenever a queued publish leaves rumqttc's channel or the connection changes.
    pub room: Notify,
    pub stats: Stats,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, Session> {
        self.session.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Called by a source's transport for each event it drops because its `clustername` is not
/// its topic's cluster (so the caller can count it where it keeps its metrics).
#[derive(Clone)]
pub struct MisaddressedHook(Arc<dyn Fn() + Send + Sync>);

impl MisaddressedHook {
    /// A hook calling `f`.
    pub fn new(f: impl Fn() + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }

    pub(super) fn call(&self) {
        (self.0)();
    }
}

impl std::fmt::Debug for MisaddressedHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MisaddressedHook")
    }
}
