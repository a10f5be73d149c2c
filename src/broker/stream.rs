//! One subscriber's response stream: its queued events, a heartbeat every interval (§8.7; made
//! here when polled, so a heartbeat is never queued behind a full buffer), and an error status
//! that ends the stream on overflow or broker shutdown so the client reconnects and resyncs.

use std::time::Duration;

use futures::StreamExt as _;
use futures::stream::{self, BoxStream};
use tokio::time::{Interval, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tonic::Status;

use super::queue::QueueRx;
use super::registry::Unregister;
use crate::cloudevents::transport::grpc::binding;
use crate::cloudevents::transport::grpc::proto::CloudEvent;

pub type EventStream = BoxStream<'static, Result<CloudEvent, Status>>;

struct State {
    queue: QueueRx,
    heartbeat: Option<Interval>,
    overflow: CancellationToken,
    shutdown: CancellationToken,
    _unregister: Unregister,
}

/// The stream tonic sends for one Subscribe.
pub fn subscriber_stream(
    queue: QueueRx,
    heartbeat: Option<Duration>,
    overflow: CancellationToken,
    shutdown: CancellationToken,
    unregister: Unregister,
) -> EventStream {
    let heartbeat = heartbeat.map(|period| {
        let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        interval
    });
    let state = State {
        queue,
        heartbeat,
        overflow,
        shutdown,
        _unregister: unregister,
    };
    stream::unfold(Some(state), |state| async move {
        let mut state = state?;
        let item = tokio::select! {
            biased;
            () = state.shutdown.cancelled() => {
                return Some((Err(Status::unavailable("the broker is shutting down; reconnect")), None));
            }
            () = state.overflow.cancelled() => {
                return Some((
                    Err(Status::resource_exhausted(
                        "subscriber too slow: its queue overflowed and events were dropped; reconnect and resync",
                    )),
                    None,
                ));
            }
            message = state.queue.recv() => *message?,
            () = tick(&mut state.heartbeat) => binding::heartbeat(),
        };
        Some((Ok(item), Some(state)))
    })
    .boxed()
}

async fn tick(heartbeat: &mut Option<Interval>) {
    match heartbeat {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}
