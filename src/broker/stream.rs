//! One subscriber's response stream: its queued events, a heartbeat every interval (§8.7; made
//! here when polled, so a heartbeat is never queued behind a full buffer), and an error status
//! that ends the stream on overflow or broker shutdown so the client reconnects and resyncs.
//!
//! A plain struct polled by hand rather than an `async` state machine: the broker keeps one
//! per connected agent, and this one is ~100 bytes where a boxed `unfold` with its `select!`
//! was ~420. It waits on nothing but its queue and its heartbeat: overflow and shutdown are
//! flags, and the registry drops the queue's sender after raising them (an overflowing
//! subscriber is removed; `Registry::close_all` on shutdown), which wakes the stream.
//!
//! After each event it says "not ready" once (waking itself at once): tonic encodes every
//! event a stream has ready into one buffer before handing it to h2, and that buffer keeps its
//! largest size for the stream's life. A reconnecting agent's spec resync answer (10 events
//! queued at once) grew it to ~56 KB per agent, most of a fleet restart's memory peak
//! (heaptrack, `bench resync`). One event per frame keeps it near one event's size.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use futures::stream::BoxStream;
use tokio::time::{Interval, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tonic::Status;

use super::queue::{Overflow, QueueRx};
use super::registry::Unregister;
use crate::cloudevents::transport::grpc::binding;
use crate::cloudevents::transport::grpc::proto::CloudEvent;

pub type EventStream = BoxStream<'static, Result<CloudEvent, Status>>;

struct SubscriberStream {
    queue: QueueRx,
    heartbeat: Option<Interval>,
    overflow: Overflow,
    shutdown: CancellationToken,
    ended: bool,
    /// An event was just returned: the next poll yields (see the module doc).
    sent: bool,
    _unregister: Unregister,
}

/// The stream tonic sends for one Subscribe.
pub fn subscriber_stream(
    queue: QueueRx,
    heartbeat: Option<Duration>,
    overflow: Overflow,
    shutdown: CancellationToken,
    unregister: Unregister,
) -> EventStream {
    let heartbeat = heartbeat.map(|period| {
        let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        interval
    });
    Box::pin(SubscriberStream {
        queue,
        heartbeat,
        overflow,
        shutdown,
        ended: false,
        sent: false,
        _unregister: unregister,
    })
}

impl SubscriberStream {
    /// The error that ends the stream, if it must end now.
    fn ending(&self) -> Option<Status> {
        if self.shutdown.is_cancelled() {
            return Some(Status::unavailable(
                "the broker is shutting down; reconnect",
            ));
        }
        self.overflow.is_raised().then(|| {
            Status::resource_exhausted(
                "subscriber too slow: its queue overflowed and events were dropped; reconnect and resync",
            )
        })
    }

    fn end(&mut self, status: Option<Status>) -> Poll<Option<Result<CloudEvent, Status>>> {
        self.ended = true;
        Poll::Ready(status.map(Err))
    }
}

impl Stream for SubscriberStream {
    type Item = Result<CloudEvent, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        // Shutdown and overflow first: what is still queued is not sent.
        if let Some(status) = this.ending() {
            return this.end(Some(status));
        }
        if std::mem::take(&mut this.sent) {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        match this.queue.poll_recv(cx) {
            Poll::Ready(Some(event)) => {
                this.sent = true;
                return Poll::Ready(Some(Ok(event.into_event())));
            }
            // The sender is gone: say why, if there is a why.
            Poll::Ready(None) => {
                let status = this.ending();
                return this.end(status);
            }
            Poll::Pending => {}
        }
        if let Some(interval) = &mut this.heartbeat
            && interval.poll_tick(cx).is_ready()
        {
            return Poll::Ready(Some(Ok(binding::heartbeat())));
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use futures::StreamExt as _;

    use super::*;
    use crate::broker::registry::{Party, Registry};
    use crate::broker::route::{Direction, Route, Target};
    use crate::cloudevents::event_type::{DataType, HEARTBEAT_TYPE};

    fn bundles() -> DataType {
        DataType::new(
            "io.open-cluster-management.works",
            "v1alpha1",
            "manifestbundles",
        )
    }

    fn to_c1() -> Route {
        Route {
            direction: Direction::SourceToAgents,
            data_type: bundles(),
            target: Target::Cluster("c1".into()),
            cluster: "c1".into(),
            is_resync: false,
        }
    }

    fn event(id: &str) -> CloudEvent {
        CloudEvent {
            id: id.into(),
            ..CloudEvent::default()
        }
    }

    /// A registry with queues of 2 and c1's stream on it.
    fn c1_stream(
        heartbeat: Option<Duration>,
        shutdown: &CancellationToken,
    ) -> (Arc<Registry>, EventStream) {
        let registry = Arc::new(Registry::new(2, Arc::default()));
        let sub = registry.add(
            Party::Agent {
                cluster: "c1".into(),
            },
            bundles(),
        );
        let unregister = Unregister {
            registry: registry.clone(),
            id: sub.id,
        };
        let stream = subscriber_stream(
            sub.queue,
            heartbeat,
            sub.overflow,
            shutdown.clone(),
            unregister,
        );
        (registry, stream)
    }

    async fn deliver(registry: &Registry, id: &str) {
        registry
            .deliver(&to_c1(), &event(id), Duration::ZERO)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn queued_events_come_in_order_and_the_stream_unregisters_when_dropped() {
        let shutdown = CancellationToken::new();
        let (registry, mut stream) = c1_stream(None, &shutdown);
        deliver(&registry, "a").await;
        deliver(&registry, "b").await;
        assert_eq!(stream.next().await.unwrap().unwrap().id, "a");
        assert_eq!(stream.next().await.unwrap().unwrap().id, "b");
        assert_eq!(registry.len(), 1);
        drop(stream);
        assert!(registry.is_empty());
    }

    #[tokio::test]
    async fn each_event_is_followed_by_one_yield_so_tonic_frames_them_one_by_one() {
        let shutdown = CancellationToken::new();
        let (registry, mut stream) = c1_stream(None, &shutdown);
        deliver(&registry, "a").await;
        deliver(&registry, "b").await;
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let mut next = || {
            stream
                .as_mut()
                .poll_next(&mut cx)
                .map(|e| e.map(|e| e.unwrap().id))
        };
        assert_eq!(next(), Poll::Ready(Some("a".into())));
        assert_eq!(next(), Poll::Pending, "b is ready, but tonic sends a first");
        assert_eq!(next(), Poll::Ready(Some("b".into())));
        assert_eq!(next(), Poll::Pending);
        assert_eq!(next(), Poll::Pending, "nothing queued");
    }

    #[tokio::test]
    async fn an_overflow_ends_the_stream_with_resource_exhausted_before_what_is_queued() {
        let shutdown = CancellationToken::new();
        let (registry, mut stream) = c1_stream(None, &shutdown);
        for id in ["a", "b", "c"] {
            deliver(&registry, id).await;
        }
        let ended = stream.next().await.unwrap().unwrap_err();
        assert_eq!(ended.code(), tonic::Code::ResourceExhausted);
        assert!(stream.next().await.is_none());
    }

    #[tokio::test]
    async fn a_waiting_stream_is_woken_by_shutdown_and_ends_with_unavailable() {
        let shutdown = CancellationToken::new();
        let (registry, mut stream) = c1_stream(None, &shutdown);
        let waiting = tokio::spawn(async move { stream.next().await });
        tokio::task::yield_now().await;
        shutdown.cancel();
        registry.close_all();
        let ended = tokio::time::timeout(Duration::from_secs(10), waiting)
            .await
            .expect("woken")
            .unwrap()
            .unwrap()
            .unwrap_err();
        assert_eq!(ended.code(), tonic::Code::Unavailable);
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_stream_sends_a_heartbeat_every_period() {
        let shutdown = CancellationToken::new();
        let (registry, mut stream) = c1_stream(Some(Duration::from_secs(10)), &shutdown);
        let start = tokio::time::Instant::now();
        let first = stream.next().await.unwrap().unwrap();
        assert_eq!(first.r#type, HEARTBEAT_TYPE);
        assert_eq!(start.elapsed(), Duration::from_secs(10));
        deliver(&registry, "a").await;
        assert_eq!(stream.next().await.unwrap().unwrap().id, "a");
        let second = stream.next().await.unwrap().unwrap();
        assert_eq!(second.r#type, HEARTBEAT_TYPE);
        assert_eq!(start.elapsed(), Duration::from_secs(20));
    }
}
