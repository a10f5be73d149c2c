//! Helpers for the gRPC tests: a broker on 127.0.0.1:0 in this process, and source / agent
//! parties built from the real `SourceClient` / `AgentClient` over `GrpcTransport`, exchanging
//! the shared test resource ([`crate::widget`]) under the data type [`widgets`].
// Test helpers panic on failure by design.
#![allow(clippy::unwrap_used, dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use baton::broker::{Broker, BrokerConfig, BrokerError};
use baton::cloudevents::backoff::BackoffPolicy;
use baton::cloudevents::transport::grpc::{GrpcOptions, GrpcTransport};
use baton::cloudevents::{
    Action, AgentClient, DataType, EventType, SourceClient, SubResource, TransportRole,
};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use crate::widget::{Widget, WidgetStore};
use crate::widget::{WidgetCodec, storing_agent, storing_source};

pub const WAIT: Duration = Duration::from_secs(20);

pub fn widgets() -> DataType {
    "io.baton.test.v1.widgets".parse().unwrap()
}

pub fn event_type(sub: SubResource, action: Action) -> EventType {
    EventType::new(widgets(), sub, action)
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
    pub store: WidgetStore,
    pub statuses: WidgetStore,
}

impl Source {
    pub async fn start(options: GrpcOptions, source_id: &str) -> Self {
        Self::start_with(options, source_id, WidgetStore::default()).await
    }

    /// A source whose desired state is `store` from the start.
    pub async fn start_with(options: GrpcOptions, source_id: &str, store: WidgetStore) -> Self {
        let transport =
            Arc::new(GrpcTransport::new(TransportRole::source(source_id), options).unwrap());
        let statuses = WidgetStore::default();
        let client = storing_source(
            source_id,
            transport.clone(),
            &store,
            &statuses,
            WidgetCodec::for_type(widgets()),
        )
        .await;
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
    pub store: WidgetStore,
}

impl Agent {
    pub async fn start(options: GrpcOptions, cluster: &str) -> Self {
        Self::start_with(options, cluster, WidgetStore::default()).await
    }

    pub async fn start_with(options: GrpcOptions, cluster: &str, store: WidgetStore) -> Self {
        let transport =
            Arc::new(GrpcTransport::new(TransportRole::agent(cluster), options).unwrap());
        let client = storing_agent(
            cluster,
            transport.clone(),
            &store,
            WidgetCodec::for_type(widgets()),
        )
        .await;
        Self {
            client,
            transport,
            store,
        }
    }

    /// Sets the status of a held widget and reports it.
    pub async fn report(&self, id: &str, status: &str) {
        let w = self
            .store
            .get(id)
            .expect("agent holds the widget")
            .with_status(status);
        self.store.put(w.clone());
        let ty = event_type(SubResource::Status, Action::UpdateRequest);
        self.client.publish(&ty, &w).await.unwrap();
    }
}
