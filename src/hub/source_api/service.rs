//! The `CloudEventService` of the source API: authenticate and authorize (a source acts only as
//! itself, docs/protocol.md §8.9), then apply a spec event (`spec`), answer a status resync
//! (`fanout`), or open a status stream: the `subscription-id` header first, heartbeats, and an
//! error that ends it when it overflowed or the hub stops. Every call is counted by outcome.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ::cloudevents::AttributesReader;
use futures::stream::BoxStream;
use tokio::sync::mpsc;
use tokio::time::{Interval, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tonic::metadata::AsciiMetadataValue;
use tonic::{Request, Response, Status};
use tracing::{debug, info, warn};

use super::error::SourceApiError;
use super::fanout::{StatusFanout, Subscribers};
use super::spec::SpecWriter;
use crate::broker::auth::{Authenticator, Principal};
use crate::cloudevents::event_type::{Action, DataType, EventType, SubResource};
use crate::cloudevents::log_limit::LogLimit;
use crate::cloudevents::payload::StatusHashList;
use crate::cloudevents::transport::grpc::proto::cloud_event_service_server::CloudEventService;
use crate::cloudevents::transport::grpc::proto::{CloudEvent, PublishRequest, SubscriptionRequest};
use crate::cloudevents::transport::grpc::{SUBSCRIPTION_ID_HEADER, binding};
use crate::cloudevents::{Event, extensions as ext};
use crate::hub::metrics::HubMetrics;
use crate::work::model::manifest_bundles_data_type;

/// One serving of the source API.
pub struct SourceService {
    pub auth: Authenticator,
    pub spec: SpecWriter,
    pub fanout: Arc<StatusFanout>,
    pub subscribers: Arc<Subscribers>,
    pub metrics: Arc<HubMetrics>,
    pub heartbeat: Option<Duration>,
    pub stop: CancellationToken,
}

/// Refusals any client can trigger are logged at a bounded rate.
static REFUSED: LogLimit = LogLimit::per_event();

/// The metric label of an outcome; a refusal is logged (rate-limited) on the way.
fn outcome<T>(call: &'static str, result: &Result<T, SourceApiError>) -> &'static str {
    if let Err(err) = result
        && !matches!(err, SourceApiError::Internal(_))
        && let Some(suppressed) = REFUSED.allow()
    {
        warn!(call, %err, suppressed, "source API refused a request");
    }
    match result {
        Ok(_) => "ok",
        Err(SourceApiError::Invalid(_)) => "invalid",
        Err(SourceApiError::Unauthenticated(_)) => "unauthenticated",
        Err(SourceApiError::Denied(_)) => "denied",
        Err(SourceApiError::NotFound(_)) => "not_found",
        Err(SourceApiError::AlreadyExists(_)) => "exists",
        Err(SourceApiError::Conflict(_)) => "conflict",
        Err(SourceApiError::Unavailable) => "unavailable",
        Err(SourceApiError::Internal(_)) => "internal",
    }
}

fn data_type(text: &str) -> Result<DataType, SourceApiError> {
    let parsed: DataType = text
        .parse()
        .map_err(|e| SourceApiError::Invalid(format!("data_type: {e}")))?;
    if parsed != manifest_bundles_data_type() {
        return Err(SourceApiError::Invalid(format!(
            "data_type: only {} is served, not {parsed}",
            manifest_bundles_data_type()
        )));
    }
    Ok(parsed)
}

/// May `principal` act as the source `source`?
fn authorize(principal: &Principal, source: &str, what: &str) -> Result<(), SourceApiError> {
    let allowed = match principal {
        Principal::Anyone | Principal::Admin(_) => true,
        Principal::Source { source: own } => own == source,
        Principal::Agent { .. } | Principal::NoRole(_) => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(SourceApiError::Denied(format!(
            "{principal:?} may not {what} as source {source:?}"
        )))
    }
}

impl SourceService {
    async fn publish_event(&self, request: Request<PublishRequest>) -> Result<(), SourceApiError> {
        let principal = self.auth.authenticate(&request)?;
        let message = request
            .into_inner()
            .event
            .ok_or_else(|| SourceApiError::Invalid("PublishRequest has no event".into()))?;
        let event: Event = binding::from_proto(message)
            .map_err(|e| SourceApiError::Invalid(format!("not a valid CloudEvent: {e}")))?;
        let event_type: EventType = ext::type_of(&event)
            .parse()
            .map_err(|e| SourceApiError::Invalid(format!("type: {e}")))?;
        data_type(&event_type.data_type.to_string())?;
        let source = event.source().to_string();
        authorize(&principal, &source, "publish")?;
        debug!(event_id = event.id(), event_type = %event_type, source, "source API publish");
        match (event_type.sub_resource, &event_type.action) {
            (SubResource::Status, Action::ResyncRequest) => {
                let hashes: StatusHashList = match ext::data_bytes(&event) {
                    Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                        SourceApiError::Invalid(format!("data: not a status resync request: {e}"))
                    })?,
                    None => StatusHashList::default(),
                };
                let sent = self.fanout.resync(&source, &hashes).await?;
                debug!(
                    source,
                    listed = hashes.status_hashes.len(),
                    sent,
                    "status resync answered"
                );
                Ok(())
            }
            (SubResource::Spec, _) => self.spec.apply(&event, &event_type).await,
            (SubResource::Status, action) => Err(SourceApiError::Invalid(format!(
                "type: a source sends spec events or a status resync_request, not status {action}"
            ))),
        }
    }

    fn open(&self, request: &Request<SubscriptionRequest>) -> Result<String, SourceApiError> {
        let principal = self.auth.authenticate(request)?;
        let body = request.get_ref();
        if body.source.is_empty() || !body.cluster_name.is_empty() {
            return Err(SourceApiError::Invalid(
                "source: the source API takes subscriptions of sources (a source, no cluster_name); agents subscribe to the broker".into(),
            ));
        }
        data_type(&body.data_type)?;
        authorize(&principal, &body.source, "subscribe")?;
        Ok(body.source.clone())
    }
}

#[tonic::async_trait]
impl CloudEventService for SourceService {
    async fn publish(&self, request: Request<PublishRequest>) -> Result<Response<()>, Status> {
        let result = self.publish_event(request).await;
        self.metrics
            .count_source_api("publish", outcome("publish", &result));
        result.map(Response::new).map_err(Status::from)
    }

    type SubscribeStream = BoxStream<'static, Result<CloudEvent, Status>>;

    async fn subscribe(
        &self,
        request: Request<SubscriptionRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let opened = self.open(&request);
        self.metrics
            .count_source_api("subscribe", outcome("subscribe", &opened));
        let source = opened?;
        let subscription = self.subscribers.add(&source);
        let subscription_id = uuid::Uuid::new_v4().to_string();
        info!(
            source,
            subscription_id, "source subscribed to the source API"
        );
        let state = StreamState {
            events: subscription.events,
            heartbeat: self.heartbeat.map(|period| {
                let mut interval =
                    tokio::time::interval_at(tokio::time::Instant::now() + period, period);
                interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
                interval
            }),
            overflow: subscription.overflow,
            stop: self.stop.clone(),
            done: false,
            _unsubscribe: Unsubscribe {
                subscribers: self.subscribers.clone(),
                source,
                id: subscription.id,
            },
        };
        let stream = futures::stream::unfold(state, |mut state| async move {
            state.next().await.map(|item| (item, state))
        });
        let mut response = Response::new(Box::pin(stream) as Self::SubscribeStream);
        // sdk-go v1.2+ clients fail a subscription without this header (§8.3).
        let id = AsciiMetadataValue::try_from(subscription_id.as_str())
            .map_err(|_| Status::internal("subscription id is not ASCII"))?;
        response.metadata_mut().insert(SUBSCRIPTION_ID_HEADER, id);
        Ok(response)
    }
}

/// Removes a subscriber when its stream is dropped (the client went away).
struct Unsubscribe {
    subscribers: Arc<Subscribers>,
    source: String,
    id: u64,
}

impl Drop for Unsubscribe {
    fn drop(&mut self) {
        self.subscribers.remove(&self.source, self.id);
    }
}

struct StreamState {
    events: mpsc::Receiver<CloudEvent>,
    heartbeat: Option<Interval>,
    overflow: Arc<AtomicBool>,
    stop: CancellationToken,
    done: bool,
    _unsubscribe: Unsubscribe,
}

fn overflowed() -> Status {
    Status::resource_exhausted(
        "subscriber too slow: status events were dropped; reconnect and resync",
    )
}

impl StreamState {
    async fn next(&mut self) -> Option<Result<CloudEvent, Status>> {
        if self.done {
            return None;
        }
        if self.overflow.load(Ordering::Acquire) {
            self.done = true;
            return Some(Err(overflowed()));
        }
        let Self {
            events,
            heartbeat,
            stop,
            done,
            overflow,
            ..
        } = self;
        let heartbeat = async {
            match heartbeat {
                Some(interval) => {
                    interval.tick().await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            () = stop.cancelled() => {
                *done = true;
                Some(Err(Status::unavailable("the hub is shutting down; reconnect")))
            }
            event = events.recv() => match event {
                Some(event) => Some(Ok(event)),
                None => {
                    *done = true;
                    overflow.load(Ordering::Acquire).then(overflowed).map(Err)
                }
            },
            () = heartbeat => Some(Ok(binding::heartbeat())),
        }
    }
}
