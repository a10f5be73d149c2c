//! A subscriber's bounded queue, of one of two kinds:
//!
//! - an **agent**'s is `futures`' mpsc: an idle one is ~200 bytes of heap, against ~800 for
//!   tokio's (several 128-byte cache-padded fields and a first block of 32 slots), and the
//!   broker keeps one per connected agent. It is only ever tried (`try_send`): a full agent
//!   queue ends that agent's stream (`super::registry`).
//! - a **source**'s is tokio's: a publisher that finds it full waits for room, and tokio's
//!   bounded queue serves waiters in order and bounds what is queued exactly. There are a
//!   handful of sources, so its size does not matter.
//!
//! `futures`' bound is `buffer` plus one slot per sender; an agent queue has exactly one
//! sender (kept in the subscriber table), so it is made with `capacity - 1`.
//!
//! [`Overflow`] tells the stream why its queue closed: the registry raises it, then drops the
//! queue's sender, which wakes the stream.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::channel::mpsc as small;
use futures::{SinkExt as _, StreamExt as _};
use tokio::sync::mpsc;

use super::registry::Queued;

/// The sending half, kept in the subscriber table.
pub enum QueueTx {
    Agent(small::Sender<Queued>),
    Source(mpsc::Sender<Queued>),
}

/// The receiving half, read by the subscriber's stream.
pub enum QueueRx {
    Agent(small::Receiver<Queued>),
    Source(mpsc::Receiver<Queued>),
}

/// How a `try_send` went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrySend {
    Sent,
    Full,
    /// The stream is gone.
    Closed,
}

/// Nothing queued right now (or the queue is closed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Empty;

/// Raised when a subscriber's queue overflowed: its stream ends with an error. A flag, not a
/// `CancellationToken` (~110 bytes each): the stream learns of it when the registry drops
/// the queue's sender.
#[derive(Debug, Clone, Default)]
pub struct Overflow(Arc<AtomicBool>);

impl Overflow {
    pub fn raise(&self) {
        self.0.store(true, Ordering::Release);
    }

    pub fn is_raised(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// An agent subscriber's queue holding `capacity` events.
pub fn agent(capacity: usize) -> (QueueTx, QueueRx) {
    let (tx, rx) = small::channel(capacity.saturating_sub(1));
    (QueueTx::Agent(tx), QueueRx::Agent(rx))
}

/// A source subscriber's queue holding `capacity` events.
pub fn source(capacity: usize) -> (QueueTx, QueueRx) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    (QueueTx::Source(tx), QueueRx::Source(rx))
}

impl QueueTx {
    pub fn try_send(&mut self, event: Queued) -> TrySend {
        match self {
            Self::Agent(tx) => match tx.try_send(event) {
                Ok(()) => TrySend::Sent,
                Err(err) if err.is_full() => TrySend::Full,
                Err(_) => TrySend::Closed,
            },
            Self::Source(tx) => match tx.try_send(event) {
                Ok(()) => TrySend::Sent,
                Err(mpsc::error::TrySendError::Full(_)) => TrySend::Full,
                Err(mpsc::error::TrySendError::Closed(_)) => TrySend::Closed,
            },
        }
    }

    /// A source queue's sender (`None` for an agent's): where parked requests are handed.
    pub fn source_sender(&self) -> Option<&mpsc::Sender<Queued>> {
        match self {
            Self::Agent(_) => None,
            Self::Source(tx) => Some(tx),
        }
    }

    /// A sender to wait on for room when the queue is full. Waiting on an agent's queue is
    /// only for the broker's in-process source (`Registry::deliver_waiting_for_agents`):
    /// `futures` gives each waiting sender clone one slot of its own, so a handful of such
    /// publishers may queue a handful of events beyond the capacity.
    pub fn waitable(&self) -> WaitTx {
        match self {
            Self::Agent(tx) => WaitTx::Agent(tx.clone()),
            Self::Source(tx) => WaitTx::Source(tx.clone()),
        }
    }
}

/// A full queue's sender, waited on for room outside the subscriber table's lock.
pub enum WaitTx {
    Agent(small::Sender<Queued>),
    Source(mpsc::Sender<Queued>),
}

/// Why a wait for room ended without queuing the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitError {
    /// Still full after the whole wait.
    Timeout,
    /// The stream is gone.
    Closed,
}

impl WaitTx {
    /// Queues `event` once there is room, waiting at most `wait`.
    pub async fn send_timeout(self, event: Queued, wait: Duration) -> Result<(), WaitError> {
        match self {
            Self::Source(tx) => tx.send_timeout(event, wait).await.map_err(|err| match err {
                mpsc::error::SendTimeoutError::Timeout(_) => WaitError::Timeout,
                mpsc::error::SendTimeoutError::Closed(_) => WaitError::Closed,
            }),
            Self::Agent(mut tx) => match tokio::time::timeout(wait, tx.send(event)).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(_)) => Err(WaitError::Closed),
                Err(_) => Err(WaitError::Timeout),
            },
        }
    }
}

/// An agent's or a source's queue read as a stream (the in-process source reads its own).
impl futures::Stream for QueueRx {
    type Item = Queued;

    fn poll_next(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Queued>> {
        self.poll_recv(cx)
    }
}

impl QueueRx {
    /// The next event; `None` once every sender is gone.
    pub async fn recv(&mut self) -> Option<Queued> {
        match self {
            Self::Agent(rx) => rx.next().await,
            Self::Source(rx) => rx.recv().await,
        }
    }

    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Queued>> {
        match self {
            Self::Agent(rx) => rx.poll_next_unpin(cx),
            Self::Source(rx) => rx.poll_recv(cx),
        }
    }

    pub fn try_recv(&mut self) -> Result<Queued, Empty> {
        match self {
            Self::Agent(rx) => rx.try_recv().map_err(|_| Empty),
            Self::Source(rx) => rx.try_recv().map_err(|_| Empty),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloudevents::transport::grpc::proto::CloudEvent;

    fn event() -> Queued {
        Box::new(CloudEvent::default())
    }

    #[test]
    fn either_kind_holds_exactly_its_capacity() {
        for (name, (mut tx, mut rx)) in [("agent", agent(8)), ("source", source(8))] {
            for i in 0..8 {
                assert_eq!(tx.try_send(event()), TrySend::Sent, "{name}: event {i}");
            }
            assert_eq!(tx.try_send(event()), TrySend::Full, "{name}: the ninth");
            assert!(rx.try_recv().is_ok());
            assert_eq!(tx.try_send(event()), TrySend::Sent, "{name}: room again");
            for _ in 0..8 {
                assert!(rx.try_recv().is_ok(), "{name}");
            }
            assert_eq!(rx.try_recv().map(|_| ()), Err(Empty));
            drop(rx);
            assert_eq!(tx.try_send(event()), TrySend::Closed, "{name}");
        }
    }

    #[tokio::test]
    async fn a_full_queue_of_either_kind_is_waited_on_for_room() {
        for (name, (mut tx, mut rx)) in [("agent", agent(2)), ("source", source(2))] {
            assert!(tx.source_sender().is_some() == (name == "source"), "{name}");
            while tx.try_send(event()) == TrySend::Sent {}
            let short = Duration::from_millis(10);
            let timed_out = tx.waitable().send_timeout(event(), short).await;
            assert_eq!(timed_out, Err(WaitError::Timeout), "{name}: still full");
            let waiting =
                tokio::spawn(tx.waitable().send_timeout(event(), Duration::from_secs(30)));
            assert!(rx.recv().await.is_some(), "{name}");
            assert_eq!(waiting.await.unwrap(), Ok(()), "{name}: room made");
            drop(rx);
            let closed = tx.waitable().send_timeout(event(), short).await;
            assert_eq!(closed, Err(WaitError::Closed), "{name}: the stream is gone");
        }
    }

    #[tokio::test]
    async fn recv_ends_when_the_sender_is_gone() {
        for (mut tx, mut rx) in [agent(2), source(2)] {
            assert_eq!(tx.try_send(event()), TrySend::Sent);
            drop(tx);
            assert!(rx.recv().await.is_some());
            assert!(rx.recv().await.is_none());
        }
    }
}
