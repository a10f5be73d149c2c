//! Unit tests of [`super::Registry`]: addressing, the index, agents' overflow, sources' wait.

use super::*;
use crate::broker::budget::AgentBudget;
use crate::broker::route::Direction;

const NO_WAIT: Duration = Duration::ZERO;

fn data_type(resource: &str) -> DataType {
    DataType::new("work.open-cluster-management.io", "v1", resource)
}

fn route(target: Target, resource: &str) -> Route {
    Route {
        direction: Direction::SourceToAgents,
        data_type: data_type(resource),
        target,
        cluster: String::new(),
        is_resync: false,
    }
}

fn agent(cluster: &str) -> Party {
    Party::Agent {
        cluster: cluster.into(),
    }
}

#[tokio::test]
async fn delivers_only_to_the_addressed_party_and_data_type() {
    let registry = Registry::new(8, Arc::default());
    let mut c1 = registry.add(agent("c1"), data_type("manifestworks"));
    let mut c1_other = registry.add(agent("c1"), data_type("other"));
    let mut c2 = registry.add(agent("c2"), data_type("manifestworks"));
    let message = CloudEvent {
        id: "e1".into(),
        ..CloudEvent::default()
    };

    let to_c1 = route(Target::Cluster("c1".into()), "manifestworks");
    assert_eq!(
        registry.deliver(&to_c1, &message, NO_WAIT).await.unwrap(),
        1
    );
    assert_eq!(c1.queue.try_recv().map(|m| m.id.clone()), Ok("e1".into()));
    assert!(c1_other.queue.try_recv().is_err());
    assert!(c2.queue.try_recv().is_err());

    let to_all = route(Target::AllClusters, "manifestworks");
    assert_eq!(
        registry.deliver(&to_all, &message, NO_WAIT).await.unwrap(),
        2
    );
    let to_nobody = route(Target::Cluster("c3".into()), "manifestworks");
    assert_eq!(
        registry
            .deliver(&to_nobody, &message, NO_WAIT)
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn a_source_queue_holds_a_fleet_s_burst_that_would_end_an_agent_s() {
    let registry = Registry::new(8, Arc::default());
    let hub = registry.add(
        Party::Source {
            source: "hub".into(),
        },
        data_type("manifestworks"),
    );
    let slow_agent = registry.add(agent("c1"), data_type("manifestworks"));
    let message = CloudEvent::default();
    let to_hub = route(Target::Source("hub".into()), "manifestworks");
    let to_c1 = route(Target::Cluster("c1".into()), "manifestworks");
    for _ in 0..8 * SOURCE_QUEUE_FACTOR {
        assert_eq!(
            registry.deliver(&to_hub, &message, NO_WAIT).await.unwrap(),
            1
        );
    }
    assert!(
        !hub.overflow.is_raised(),
        "the source's stream survives the burst"
    );
    for _ in 0..=8 {
        registry.deliver(&to_c1, &message, NO_WAIT).await.unwrap();
    }
    assert!(
        slow_agent.overflow.is_raised(),
        "an agent's queue is the configured 8"
    );
}

#[tokio::test]
async fn removal_updates_the_index() {
    let registry = Registry::new(8, Arc::default());
    let first = registry.add(agent("c1"), data_type("manifestworks"));
    let second = registry.add(agent("c1"), data_type("manifestworks"));
    assert!(registry.has(&agent("c1")));
    registry.remove(first.id);
    assert!(registry.has(&agent("c1")));
    assert_eq!(registry.connected_clusters().len(), 1);
    registry.remove(second.id);
    assert!(!registry.has(&agent("c1")));
    assert!(registry.connected_clusters().is_empty());
    assert!(registry.is_empty());
}

#[tokio::test]
async fn a_closed_queue_is_dropped_on_delivery() {
    let registry = Registry::new(8, Arc::default());
    let subscription = registry.add(agent("c1"), data_type("manifestworks"));
    drop(subscription.queue);
    let to_c1 = route(Target::Cluster("c1".into()), "manifestworks");
    assert_eq!(
        registry
            .deliver(&to_c1, &CloudEvent::default(), NO_WAIT)
            .await
            .unwrap(),
        0
    );
    assert!(!registry.has(&agent("c1")));
}

fn source(name: &str) -> Party {
    Party::Source {
        source: name.into(),
    }
}

#[tokio::test]
async fn a_full_source_queue_makes_the_publisher_wait_and_loses_nothing() {
    let registry = Arc::new(Registry::new(1, Arc::default()));
    let mut hub = registry.add(source("hub"), data_type("manifestworks"));
    let to_hub = route(Target::Source("hub".into()), "manifestworks");
    let capacity = SOURCE_QUEUE_FACTOR;
    for i in 0..capacity {
        let message = CloudEvent {
            id: format!("e{i}"),
            ..CloudEvent::default()
        };
        assert_eq!(
            registry.deliver(&to_hub, &message, NO_WAIT).await.unwrap(),
            1
        );
    }
    // The queue is full: the next publish waits until the source takes one event.
    let waiting = {
        let registry = registry.clone();
        let to_hub = to_hub.clone();
        tokio::spawn(async move {
            let last = CloudEvent {
                id: "last".into(),
                ..CloudEvent::default()
            };
            registry
                .deliver(&to_hub, &last, Duration::from_secs(30))
                .await
        })
    };
    let is_waiting = async {
        while registry.stats.snapshot().source_waits == 0 {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), is_waiting)
        .await
        .unwrap();
    assert!(!waiting.is_finished(), "the publisher waits for room");
    let mut ids = Vec::new();
    while ids.len() < capacity + 1 {
        let next = tokio::time::timeout(Duration::from_secs(10), hub.queue.recv()).await;
        ids.push(next.unwrap().unwrap().id.clone());
    }
    assert_eq!(waiting.await.unwrap().unwrap(), 1);
    assert_eq!(ids.last().map(String::as_str), Some("last"));
    assert!(!hub.overflow.is_raised(), "the source's stream is kept");
    assert_eq!(registry.stats.snapshot().dropped, 0);
}

#[tokio::test]
async fn a_source_queue_that_stays_full_refuses_the_publish_but_keeps_the_stream() {
    let registry = Registry::new(1, Arc::default());
    let hub = registry.add(source("hub"), data_type("manifestworks"));
    let to_hub = route(Target::Source("hub".into()), "manifestworks");
    let message = CloudEvent::default();
    for _ in 0..SOURCE_QUEUE_FACTOR {
        registry.deliver(&to_hub, &message, NO_WAIT).await.unwrap();
    }
    let refused = registry
        .deliver(&to_hub, &message, Duration::from_millis(20))
        .await;
    assert!(matches!(refused, Err(SourceBusy { .. })), "{refused:?}");
    assert!(!hub.overflow.is_raised());
    assert!(registry.has(&source("hub")));
    let stats = registry.stats.snapshot();
    assert_eq!(
        (stats.source_busy, stats.dropped, stats.overflows),
        (1, 1, 0)
    );
}

#[tokio::test]
async fn an_agent_overflow_counts_every_event_its_stream_loses() {
    let registry = Registry::new(4, Arc::default());
    let slow = registry.add(agent("c1"), data_type("manifestworks"));
    let to_c1 = route(Target::Cluster("c1".into()), "manifestworks");
    for _ in 0..5 {
        registry
            .deliver(&to_c1, &CloudEvent::default(), NO_WAIT)
            .await
            .unwrap();
    }
    assert!(slow.overflow.is_raised());
    let stats = registry.stats.snapshot();
    assert_eq!((stats.overflows, stats.dropped), (1, 5));
}

#[tokio::test]
async fn an_in_process_publisher_waits_for_a_full_agent_queue_instead_of_ending_its_stream() {
    let registry = Arc::new(Registry::new(2, Arc::default()));
    let mut c1 = registry.add(agent("c1"), data_type("manifestworks"));
    let to_c1 = route(Target::Cluster("c1".into()), "manifestworks");
    let message = CloudEvent::default();
    let budget = AgentBudget::new(1 << 20);
    for _ in 0..2 {
        let reservation = budget.reserve(1, NO_WAIT).await;
        registry
            .deliver_waiting_for_agents(&to_c1, &message, NO_WAIT, reservation)
            .await
            .unwrap();
    }
    let waiting = {
        let (registry, to_c1) = (registry.clone(), to_c1.clone());
        let reservation = budget.reserve(1, NO_WAIT).await;
        tokio::spawn(async move {
            registry
                .deliver_waiting_for_agents(
                    &to_c1,
                    &CloudEvent::default(),
                    Duration::from_secs(30),
                    reservation,
                )
                .await
        })
    };
    let is_waiting = async {
        while registry.stats.snapshot().source_waits == 0 {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), is_waiting)
        .await
        .unwrap();
    assert!(!waiting.is_finished(), "the publisher waits for room");
    c1.queue.recv().await.unwrap();
    assert_eq!(waiting.await.unwrap().unwrap(), 1);
    assert!(!c1.overflow.is_raised(), "the agent keeps its stream");
    assert_eq!(registry.stats.snapshot().overflows, 0);

    // Full again and nobody reads: after the wait the stream ends, as a plain publish's would.
    let reservation = budget.reserve(1, NO_WAIT).await;
    registry
        .deliver_waiting_for_agents(&to_c1, &message, Duration::from_millis(20), reservation)
        .await
        .unwrap();
    assert!(c1.overflow.is_raised());
    assert!(!registry.has(&agent("c1")));
}

#[tokio::test]
async fn each_agent_copy_holds_its_bytes_until_its_stream_takes_it() {
    let registry = Registry::new(8, Arc::default());
    let mut agents = [
        registry.add(agent("c1"), data_type("manifestworks")),
        registry.add(agent("c1"), data_type("manifestworks")),
    ];
    let to_c1 = route(Target::Cluster("c1".into()), "manifestworks");
    let budget = AgentBudget::new(1 << 20);
    for _ in 0..3 {
        let reservation = budget.reserve(100, NO_WAIT).await;
        let delivered = registry
            .deliver_waiting_for_agents(&to_c1, &CloudEvent::default(), NO_WAIT, reservation)
            .await
            .unwrap();
        assert_eq!(delivered, 2);
    }
    assert_eq!(budget.snapshot().held, 600, "3 events × 2 agents");
    for sub in &mut agents {
        let _taken = sub.queue.recv().await.unwrap().into_event();
    }
    assert_eq!(budget.snapshot().held, 400);
    drop(agents);
    assert_eq!(
        budget.snapshot().held,
        0,
        "a dropped queue gives back what it held"
    );
    assert_eq!(budget.snapshot().peak, 600);
}

fn spec_resync(cluster: &str) -> Route {
    Route {
        direction: Direction::AgentToSources,
        data_type: data_type("manifestbundles"),
        target: Target::AllSources,
        cluster: cluster.into(),
        is_resync: true,
    }
}

#[tokio::test]
async fn parked_resync_requests_are_bounded_and_what_is_not_kept_is_counted() {
    let stats = Arc::new(BrokerStats::default());
    let limits = ParkLimits {
        ttl: Duration::from_secs(300),
        max: 2,
    };
    let registry = Registry::with_park_limits(8, limits, stats.clone());
    let message = CloudEvent::default();
    for cluster in ["c1", "c2", "c3", "c1"] {
        let route = spec_resync(cluster);
        assert_eq!(
            registry.deliver(&route, &message, NO_WAIT).await.unwrap(),
            0
        );
    }
    assert_eq!(
        registry.parked(),
        2,
        "c3 did not fit; c1's second replaced its first"
    );
    assert_eq!(stats.snapshot().parked_dropped, 1);
    let mut hub = registry.add(source("hub"), data_type("manifestbundles"));
    assert!(hub.queue.try_recv().is_ok() && hub.queue.try_recv().is_ok());
    assert!(hub.queue.try_recv().is_err());
    assert_eq!(registry.parked(), 0);
}

#[tokio::test]
async fn data_types_are_shared_while_subscribed_and_forgotten_after() {
    let registry = Registry::new(8, Arc::default());
    let a = registry.add(agent("c1"), data_type("manifestbundles"));
    let b = registry.add(agent("c2"), data_type("manifestbundles"));
    let once = registry.add(agent("c3"), data_type("once"));
    assert_eq!(registry.lock().data_types.len(), 2);
    registry.remove(once.id);
    let _other = registry.add(agent("c4"), data_type("other"));
    let table = registry.lock();
    let names: Vec<&str> = table
        .data_types
        .iter()
        .map(|t| t.resource.as_str())
        .collect();
    assert_eq!(
        names,
        ["manifestbundles", "other"],
        "\"once\" is no longer subscribed"
    );
    drop(table);
    drop((a, b));
}
