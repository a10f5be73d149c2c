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

use futures::StreamExt as _;
use futures::channel::mpsc as small;
use tokio::sync::mpsc;

use super::budget::Held;
use crate::cloudevents::transport::grpc::proto::CloudEvent;

/// A queued event, boxed: a queue's slots (tokio allocates them in blocks of 32) hold a
/// pointer, not a whole `CloudEvent`. A copy queued by the in-process source to an agent
/// carries its share of the [`AgentBudget`](super::budget::AgentBudget), given back when the
/// agent's stream takes it.
#[derive(Debug)]
pub struct Queued {
    event: Box<CloudEvent>,
    held: Option<Held>,
}

impl Queued {
    pub fn new(event: &CloudEvent) -> Self {
        Self::holding(event, None)
    }

    pub fn holding(event: &CloudEvent, held: Option<Held>) -> Self {
        Self {
            event: Box::new(event.clone()),
            held,
        }
    }

    /// The event; its budget share (if any) is given back.
    #[must_use]
    pub fn into_event(self) -> CloudEvent {
        drop(self.held);
        *self.event
    }
}

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

impl std::ops::Deref for Queued {
    type Target = CloudEvent;

    fn deref(&self) -> &CloudEvent {
        &self.event
    }
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

    /// A source queue's sender (`None` for an agent's): where parked requests are handed, and
    /// what a publisher finding it full waits on.
    pub fn source_sender(&self) -> Option<&mpsc::Sender<Queued>> {
        match self {
            Self::Agent(_) => None,
            Self::Source(tx) => Some(tx),
        }
    }

    /// Whether an agent's queue has room again, registering `cx` to be woken when it does
    /// (`futures`' sender parks itself when a send fills the queue, and the receiver unparks
    /// it as it reads). Always ready for a source's queue (it is waited on with
    /// [`QueueTx::source_sender`] instead). `Err` once the stream is gone.
    pub fn poll_room(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Empty>> {
        match self {
            Self::Agent(tx) => tx.poll_ready(cx).map_err(|_| Empty),
            Self::Source(_) => Poll::Ready(Ok(())),
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

    fn event() -> Queued {
        Queued::new(&CloudEvent::default())
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

    #[test]
    fn only_a_source_queue_is_waited_on_by_its_sender() {
        assert!(agent(4).0.source_sender().is_none());
        assert!(source(4).0.source_sender().is_some());
    }

    #[tokio::test]
    async fn a_full_agent_queue_reports_room_once_its_stream_reads() {
        let (mut tx, mut rx) = agent(2);
        while tx.try_send(event()) == TrySend::Sent {}
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(tx.poll_room(&mut cx).is_pending(), "full");
        assert!(rx.recv().await.is_some());
        assert_eq!(
            tx.poll_room(&mut cx),
            Poll::Ready(Ok(())),
            "room after a read"
        );
        assert_eq!(tx.try_send(event()), TrySend::Sent);
        drop(rx);
        assert_eq!(
            tx.poll_room(&mut cx),
            Poll::Ready(Err(Empty)),
            "the stream is gone"
        );
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
