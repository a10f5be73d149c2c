//! The reference agent subscribes once per data type it serves (one by default:
//! `manifestbundles`, what the hub publishes), over the real gRPC broker. Each subscription
//! sends a spec resync; with no source there, the broker parks one request per data type.

use std::sync::Arc;

use baton::agent::run::SimulatedAgent;
use baton::broker::BrokerConfig;
use baton::cloudevents::TransportRole;
use baton::cloudevents::transport::grpc::GrpcTransport;
use baton::work::WorkDataType;

use crate::grpc_harness::{TestBroker, WAIT};
use crate::support::eventually;

async fn agent(broker: &TestBroker, cluster: &str, types: &[WorkDataType]) -> SimulatedAgent {
    let role = TransportRole::agent(cluster);
    let transport = Arc::new(GrpcTransport::new(role, broker.options()).unwrap());
    SimulatedAgent::start_serving(cluster, transport, None, types)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_agent_holds_one_subscription_per_data_type_it_serves() {
    let broker = TestBroker::start(BrokerConfig::default()).await;
    let default = SimulatedAgent::start(
        "c1",
        Arc::new(GrpcTransport::new(TransportRole::agent("c1"), broker.options()).unwrap()),
        None,
    )
    .await
    .unwrap();
    eventually("c1's one subscription and its resync", WAIT, || async {
        broker.broker.subscriber_count() == 1 && broker.broker.parked_resyncs() == 1
    })
    .await;
    let both = agent(
        &broker,
        "c2",
        &[WorkDataType::Manifests, WorkDataType::ManifestBundles],
    )
    .await;
    eventually("c2's two subscriptions and resyncs", WAIT, || async {
        broker.broker.subscriber_count() == 3 && broker.broker.parked_resyncs() == 3
    })
    .await;
    let manifests = agent(&broker, "c3", &[WorkDataType::Manifests]).await;
    eventually("c3's one subscription", WAIT, || async {
        broker.broker.subscriber_count() == 4 && broker.broker.parked_resyncs() == 4
    })
    .await;
    for agent in [default, both, manifests] {
        agent.shutdown().await;
    }
    broker.stop().await;
}
