//! Helpers for the gRPC tests: a broker on 127.0.0.1:0 in this process, a small test resource
//! (`Widget`) with a JSON codec and in-memory stores, and source / agent parties built from the
//! real `SourceClient` / `AgentClient` over `GrpcTransport`.
// Test helpers panic on failure by design.
#![allow(clippy::unwrap_used, dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use baton::broker::{Broker, BrokerConfig, BrokerError};
use baton::cloudevents::backoff::BackoffPolicy;
use baton::cloudevents::resource::{HashError, handler_fn};
use baton::cloudevents::transport::grpc::{GrpcOptions, GrpcTransport};
use baton::cloudevents::{
    Action, AgentClient, Codec, CodecError, DataType, Event, EventBuilder, EventType, ListError,
    ListOptions, Lister, ResourceAction, ResourceObject, SourceClient, SubResource, TransportRole,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const WAIT: Duration = Duration::from_secs(20);

pub fn widgets() -> DataType {
    "io.baton.test.v1.widgets".parse().unwrap()
}

pub fn event_type(sub: SubResource, action: Action) -> EventType {
    EventType::new(widgets(), sub, action)
}

/// The test resource: a spec string and a status string, owned by a source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Widget {
    pub id: String,
    pub cluster: String,
    pub source: String,
    pub version: i64,
    pub deleting: Option<DateTime<Utc>>,
    pub spec: String,
    pub status: Option<String>,
}

impl Widget {
    pub fn new(source: &str, cluster: &str, id: &str, spec: &str) -> Self {
        Self {
            id: id.into(),
            cluster: cluster.into(),
            source: source.into(),
            version: 1,
            deleting: None,
            spec: spec.into(),
            status: None,
        }
    }
}

impl ResourceObject for Widget {
    fn resource_id(&self) -> &str {
        &self.id
    }
    fn resource_version(&self) -> i64 {
        self.version
    }
    fn deletion_timestamp(&self) -> Option<DateTime<Utc>> {
        self.deleting
    }
}

/// JSON codec: the whole widget as data; deletes carry only extensions.
pub struct WidgetCodec(DataType);

impl WidgetCodec {
    pub fn new() -> Self {
        Self(widgets())
    }
}

impl Codec<Widget> for WidgetCodec {
    fn data_type(&self) -> &DataType {
        &self.0
    }

    fn encode(&self, source: &str, ty: &EventType, w: &Widget) -> Result<Event, CodecError> {
        let original = if ty.sub_resource == SubResource::Status {
            w.source.as_str()
        } else {
            ""
        };
        let mut builder = EventBuilder::new(source, ty)
            .cluster_name(&w.cluster)
            .original_source(original)
            .resource_id(&w.id)
            .resource_version(w.version);
        builder = match w.deleting {
            Some(at) if ty.sub_resource == SubResource::Spec => builder.deletion_timestamp(at),
            _ => {
                builder.json_data(serde_json::to_vec(w).map_err(|e| CodecError::Invalid(e.into()))?)
            }
        };
        Ok(builder.build()?)
    }

    fn decode(&self, event: &Event) -> Result<Widget, CodecError> {
        use baton::cloudevents::extensions as ext;
        if let Some(bytes) = ext::data_bytes(event) {
            return serde_json::from_slice(&bytes).map_err(|e| CodecError::Invalid(e.into()));
        }
        Ok(Widget {
            id: ext::required_string(event, ext::RESOURCE_ID)?.into(),
            cluster: ext::required_string(event, ext::CLUSTER_NAME)?.into(),
            source: String::new(),
            version: ext::integer(event, ext::RESOURCE_VERSION)?.unwrap_or(0),
            deleting: ext::timestamp(event, ext::DELETION_TIMESTAMP)?,
            spec: String::new(),
            status: None,
        })
    }
}

/// An in-memory store of widgets, the lister of either side.
#[derive(Default)]
pub struct Store(Mutex<HashMap<String, Widget>>);

impl Store {
    pub fn put(&self, w: Widget) {
        self.0.lock().unwrap().insert(w.id.clone(), w);
    }
    pub fn remove(&self, id: &str) {
        self.0.lock().unwrap().remove(id);
    }
    pub fn get(&self, id: &str) -> Option<Widget> {
        self.0.lock().unwrap().get(id).cloned()
    }
    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
    pub fn clear(&self) {
        self.0.lock().unwrap().clear();
    }
}

#[async_trait]
impl Lister<Widget> for Store {
    async fn list(&self, options: &ListOptions) -> Result<Vec<Widget>, ListError> {
        let all = self.0.lock().unwrap();
        Ok(all
            .values()
            .filter(|w| options.cluster_name.is_empty() || w.cluster == options.cluster_name)
            .cloned()
            .collect())
    }
}

fn status_hash(w: &Widget) -> Result<String, HashError> {
    Ok(format!("{:?}", w.status))
}

/// A broker serving on loopback in this process.
pub struct TestBroker {
    pub broker: Broker,
    pub addr: SocketAddr,
    stop: CancellationToken,
    task: JoinHandle<Result<(), BrokerError>>,
}

impl TestBroker {
    pub async fn start(config: BrokerConfig) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(Broker::new(config).unwrap(), listener)
    }

    /// Serves `broker` again on `addr` (after [`TestBroker::stop`]).
    pub async fn restart(broker: Broker, addr: SocketAddr) -> Self {
        Self::serve(broker, TcpListener::bind(addr).await.unwrap())
    }

    fn serve(broker: Broker, listener: TcpListener) -> Self {
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let task = tokio::spawn({
            let (broker, stop) = (broker.clone(), stop.clone());
            async move { broker.serve(listener, stop).await }
        });
        Self {
            broker,
            addr,
            stop,
            task,
        }
    }

    /// Stops serving and waits until the port is released.
    pub async fn stop(self) -> (Broker, SocketAddr) {
        self.stop.cancel();
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("broker stops")
            .unwrap()
            .unwrap();
        (self.broker, self.addr)
    }

    /// Plaintext client options with quick retries.
    pub fn options(&self) -> GrpcOptions {
        let mut options = GrpcOptions::plaintext(self.addr.to_string());
        options.backoff = BackoffPolicy::fast();
        options.request_timeout = Duration::from_secs(5);
        options
    }
}

/// A source: its desired state (`store`), the status it has received (`statuses`).
pub struct Source {
    pub client: SourceClient<Widget>,
    pub transport: Arc<GrpcTransport>,
    pub store: Arc<Store>,
    pub statuses: Arc<Store>,
}

impl Source {
    pub async fn start(options: GrpcOptions, source_id: &str) -> Self {
        Self::start_with(options, source_id, Arc::new(Store::default())).await
    }

    /// A source whose desired state is `store` from the start.
    pub async fn start_with(options: GrpcOptions, source_id: &str, store: Arc<Store>) -> Self {
        let transport =
            Arc::new(GrpcTransport::new(TransportRole::source(source_id), options).unwrap());
        let statuses = Arc::new(Store::default());
        let client =
            SourceClient::builder(source_id, transport.clone(), store.clone(), status_hash)
                .codec(WidgetCodec::new())
                .build();
        let sink = statuses.clone();
        client
            .subscribe(handler_fn(move |_action, w: Widget| {
                let sink = sink.clone();
                async move {
                    sink.put(w);
                    Ok(())
                }
            }))
            .await
            .unwrap();
        Self {
            client,
            transport,
            store,
            statuses,
        }
    }

    /// Stores and publishes `w` with `action`.
    pub async fn send(&self, action: Action, w: Widget) {
        self.store.put(w.clone());
        self.client
            .publish(&event_type(SubResource::Spec, action), &w)
            .await
            .unwrap();
    }
}

/// An agent: its applied state in `store`.
pub struct Agent {
    pub client: AgentClient<Widget>,
    pub transport: Arc<GrpcTransport>,
    pub store: Arc<Store>,
}

impl Agent {
    pub async fn start(options: GrpcOptions, cluster: &str) -> Self {
        Self::start_with(options, cluster, Arc::new(Store::default())).await
    }

    pub async fn start_with(options: GrpcOptions, cluster: &str, store: Arc<Store>) -> Self {
        let transport =
            Arc::new(GrpcTransport::new(TransportRole::agent(cluster), options).unwrap());
        let client = AgentClient::builder(cluster, transport.clone(), store.clone(), status_hash)
            .codec(WidgetCodec::new())
            .build();
        let applied = store.clone();
        client
            .subscribe(handler_fn(move |action, w: Widget| {
                let applied = applied.clone();
                async move {
                    match action {
                        ResourceAction::Deleted => applied.remove(&w.id),
                        _ => applied.put(w),
                    }
                    Ok(())
                }
            }))
            .await
            .unwrap();
        Self {
            client,
            transport,
            store,
        }
    }

    /// Sets the status of a held widget and reports it.
    pub async fn report(&self, id: &str, status: &str) {
        let mut w = self.store.get(id).expect("agent holds the widget");
        w.status = Some(status.into());
        self.store.put(w.clone());
        let ty = event_type(SubResource::Status, Action::UpdateRequest);
        self.client.publish(&ty, &w).await.unwrap();
    }
}
