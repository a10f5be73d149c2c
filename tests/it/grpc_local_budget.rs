//! The hub's in-process source holds at most its byte budget in agents' queues
//! (`broker::budget`): a fleet reconnecting without state gets every spec back by its spec
//! resync while the answers wait for room, and no agent's stream is ended for it.

use std::sync::Arc;
use std::time::Duration;

use baton::broker::BrokerConfig;

use crate::grpc_harness::{Agent, TestBroker, Widget, WidgetStore, widgets};
use crate::support::eventually;
use crate::widget::{WidgetCodec, storing_source};

const CLUSTERS: usize = 300;
const PER_CLUSTER: usize = 4;
/// About 12 of the ~1.2 KB events: far below the fleet's 1,200.
const BUDGET: usize = 16 << 10;
const CONVERGE: Duration = Duration::from_secs(120);

fn cluster(i: usize) -> String {
    format!("c{i}")
}

/// The fleet's desired state: `PER_CLUSTER` widgets of ~1 KB per cluster.
fn desired() -> WidgetStore {
    let store = WidgetStore::default();
    for c in 0..CLUSTERS {
        for w in 0..PER_CLUSTER {
            let spec = format!("{c}-{w}-{}", "x".repeat(1000));
            store.put(Widget::new(&format!("w{c}-{w}"), &cluster(c), 1, &spec));
        }
    }
    store
}

/// Every agent connected at once, without state; returns once each holds its widgets as
/// desired.
async fn reconnect_fleet(broker: &TestBroker, desired: &WidgetStore) -> Vec<Agent> {
    let names: Vec<String> = (0..CLUSTERS).map(cluster).collect();
    let agents =
        futures::future::join_all(names.iter().map(|c| Agent::start(broker.options(), c))).await;
    eventually("every agent holds its specs", CONVERGE, || async {
        agents.iter().all(|a| a.store.len() == PER_CLUSTER)
    })
    .await;
    for (c, agent) in agents.iter().enumerate() {
        for w in 0..PER_CLUSTER {
            let id = format!("w{c}-{w}");
            assert_eq!(
                agent.store.get(&id),
                desired.get(&id),
                "{id} on {}",
                cluster(c)
            );
        }
    }
    agents
}

#[tokio::test]
async fn a_reconnecting_fleet_gets_every_spec_while_the_local_source_holds_at_most_its_budget() {
    let broker = TestBroker::start(BrokerConfig {
        local_agent_budget: BUDGET,
        ..BrokerConfig::default()
    })
    .await;
    let desired = desired();
    let source = storing_source(
        "hub",
        Arc::new(broker.broker.local_source("hub")),
        &desired,
        &WidgetStore::default(),
        WidgetCodec::for_type(widgets()),
    )
    .await;
    let agents = reconnect_fleet(&broker, &desired).await;
    for agent in agents {
        agent.client.shutdown().await;
    }
    let agents = reconnect_fleet(&broker, &desired).await;

    let budget = broker.broker.local_budget();
    assert!(
        budget.peak > 0 && budget.peak <= BUDGET as u64,
        "the bound held: {budget:?}"
    );
    assert!(budget.waits > 0, "answers waited for room: {budget:?}");
    assert_eq!(budget.overdrawn, 0, "{budget:?}");
    let stats = broker.broker.stats();
    assert_eq!((stats.overflows, stats.dropped), (0, 0), "{stats:?}");
    eventually("every queued copy given back", CONVERGE, || async {
        broker.broker.local_budget().held == 0
    })
    .await;
    for agent in agents {
        agent.client.shutdown().await;
    }
    source.shutdown().await;
}
