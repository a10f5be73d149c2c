//! The `CloudEventService` implementation (docs/protocol.md §8.5): authenticate, validate, authorize,
//! then route (Publish) or register a subscriber and stream to it (Subscribe). Every refusal is
//! logged, counted and answered with the status [`RequestError`] maps to.

use crate::cloudevents::log_limit::LogLimit;
use std::sync::Arc;

use ::cloudevents::AttributesReader;
use tokio_util::sync::CancellationToken;
use tonic::metadata::AsciiMetadataValue;
use tonic::{Request, Response, Status};
use tracing::{debug, info, warn};

use super::Shared;
use super::auth::{self, Principal};
use super::error::RequestError;
use super::registry::{Party, Unregister};
use super::route;
use super::stats::BrokerStats;
use super::stream::{EventStream, subscriber_stream};
use crate::cloudevents::event_type::DataType;
use crate::cloudevents::transport::grpc::proto::cloud_event_service_server::CloudEventService;
use crate::cloudevents::transport::grpc::proto::{CloudEvent, PublishRequest, SubscriptionRequest};
use crate::cloudevents::transport::grpc::{SUBSCRIPTION_ID_HEADER, binding};

/// One serving of the broker: the shared state plus this serve's shutdown token.
pub struct Service {
    pub shared: Arc<Shared>,
    pub shutdown: CancellationToken,
}

impl Service {
    /// Counts a refusal by kind and turns it into the status the client sees.
    fn refuse(&self, err: RequestError) -> Status {
        let stats = &self.shared.stats;
        match &err {
            RequestError::Invalid(message) => {
                BrokerStats::bump(&stats.malformed);
                static LOG: LogLimit = LogLimit::per_event();
                if let Some(suppressed) = LOG.allow() {
                    warn!(message, suppressed, "refused a malformed request");
                }
            }
            RequestError::Denied(_) => BrokerStats::bump(&stats.denied),
            RequestError::Unauthenticated(_) => BrokerStats::bump(&stats.unauthenticated),
        }
        err.into()
    }

    fn principal<T>(&self, request: &Request<T>) -> Result<Principal, Status> {
        self.shared
            .auth
            .authenticate(request)
            .map_err(|e| self.refuse(e))
    }

    /// Checks and routes one published event; returns the route to deliver it on.
    fn route_publish(
        &self,
        principal: &Principal,
        request: PublishRequest,
    ) -> Result<(route::Route, CloudEvent), RequestError> {
        let message = request
            .event
            .ok_or_else(|| RequestError::Invalid("PublishRequest has no event".into()))?;
        let event = binding::from_proto(message.clone())
            .map_err(|e| RequestError::Invalid(format!("not a valid CloudEvent: {e}")))?;
        let route = route::classify(&event).map_err(|e| {
            RequestError::Invalid(format!("cannot route event {}: {e}", event.id()))
        })?;
        auth::authorize_publish(principal, &event.source().to_string(), &route)?;
        debug!(event_id = event.id(), event_type = event.ty(), "routing");
        // The received message is forwarded as is: no re-encoding, no loss.
        Ok((route, message))
    }
}

fn subscription_party(request: &SubscriptionRequest) -> Result<(Party, DataType), RequestError> {
    let data_type: DataType = request
        .data_type
        .parse()
        .map_err(|e| RequestError::Invalid(format!("invalid data_type: {e}")))?;
    let party = match (request.source.as_str(), request.cluster_name.as_str()) {
        ("", "") => {
            return Err(RequestError::Invalid(
                "a subscription needs a source (source clients) or a cluster_name (agents)".into(),
            ));
        }
        (source, "") => Party::Source {
            source: source.into(),
        },
        ("", cluster) => Party::Agent {
            cluster: cluster.into(),
        },
        _ => {
            return Err(RequestError::Invalid(
                "a subscription has either a source or a cluster_name, not both".into(),
            ));
        }
    };
    Ok((party, data_type))
}

#[tonic::async_trait]
impl CloudEventService for Service {
    async fn publish(&self, request: Request<PublishRequest>) -> Result<Response<()>, Status> {
        self.shared.connections.called(request.remote_addr());
        let principal = self.principal(&request)?;
        let (route, message) = self
            .route_publish(&principal, request.into_inner())
            .map_err(|e| self.refuse(e))?;
        let shared = &self.shared;
        let delivered = shared
            .registry
            .deliver(&route, &message, shared.config.source_wait)
            .await
            .map_err(|busy| Status::unavailable(busy.to_string()))?;
        BrokerStats::bump(&shared.stats.published);
        BrokerStats::add(&shared.stats.delivered, delivered as u64);
        Ok(Response::new(()))
    }

    type SubscribeStream = EventStream;

    async fn subscribe(
        &self,
        request: Request<SubscriptionRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let peer = request.remote_addr();
        self.shared.connections.called(peer);
        let principal = self.principal(&request)?;
        let request = request.into_inner();
        let (party, data_type) = subscription_party(&request).map_err(|e| self.refuse(e))?;
        auth::authorize_subscribe(&principal, &request.source, &request.cluster_name)
            .map_err(|e| self.refuse(e))?;
        let subscription_id = uuid::Uuid::new_v4().to_string();
        info!(?party, %data_type, subscription_id, "subscriber connected");
        let shared = &self.shared;
        shared.connections.subscribed(peer);
        let subscription = shared.registry.add(party, data_type);
        BrokerStats::bump(&shared.stats.subscriptions);
        let stream = subscriber_stream(
            subscription.queue,
            shared.config.heartbeat_interval,
            subscription.overflow,
            self.shutdown.clone(),
            Unregister {
                registry: shared.registry.clone(),
                id: subscription.id,
            },
        );
        let mut response = Response::new(stream);
        // v1.2+ Go clients fail a subscription without exactly one of these (§8.3).
        let mut id = AsciiMetadataValue::try_from(subscription_id.as_str())
            .map_err(|_| Status::internal("subscription id is not ASCII"))?;
        // Never indexed by HPACK: a value used once would otherwise sit in the connection's
        // header table (and its allocations) for as long as the connection lives.
        id.set_sensitive(true);
        response.metadata_mut().insert(SUBSCRIPTION_ID_HEADER, id);
        Ok(response)
    }
}
