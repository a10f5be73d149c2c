//! A replica's publisher with changes queued for a cluster connected nowhere: its rounds read
//! past them (mostly from a cursor, docs/ha.md), and they go out once that cluster's agent
//! connects to a replica (whose claim makes its next round read the whole queue).

use futures::StreamExt;

use super::Fleet;
use crate::e2e::WAIT;
use crate::support::eventually;

/// More than one publisher page (512): the claimed queue takes two full rounds.
const AWAY: usize = 600;
const NEAR: usize = 6;

#[tokio::test]
async fn changes_queued_for_a_cluster_connected_nowhere_neither_hold_up_others_nor_get_lost() {
    let fleet = Fleet::grpc(2).await;
    let hubs = [fleet.start_hub(0).await, fleet.start_hub(1).await];
    let (near, away) = (fleet.cluster("near"), fleet.cluster("away"));
    fleet.rest.consumer(&near).await;
    fleet.rest.consumer(&away).await;
    let near_agent = fleet.start_agent(&near, &["--grpc-url".into(), fleet.replicas[0].grpc_url()]);
    eventually("agent of near on replica 0", WAIT, || async {
        fleet.connected_at(&near).await == [0]
    })
    .await;

    let queued: Vec<String> = futures::stream::iter(0..AWAY)
        .map(|i| {
            let (fleet, away) = (&fleet, &away);
            async move { fleet.create(&fleet.rest, away, &format!("a{i}")).await }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    // One at a time, each awaited: rounds after the first read from replica 0's cursor.
    for i in 0..NEAR {
        let id = fleet
            .create(&fleet.rest_of(1), &near, &format!("n{i}"))
            .await;
        eventually(&format!("near change {i} applied"), WAIT, || {
            fleet.applied(&id)
        })
        .await;
    }
    assert_eq!(
        fleet.publishes().await,
        NEAR as u64,
        "nothing published for away"
    );

    let away_agent = fleet.start_agent(&away, &["--grpc-url".into(), fleet.replicas[1].grpc_url()]);
    eventually(
        "every queued change of away published by replica 1",
        WAIT,
        || async { fleet.publishes_of(1).await == AWAY as u64 },
    )
    .await;
    eventually("every queued change of away applied", WAIT, || async {
        let (status, view) = fleet.rest.get(&format!("/api/v1/consumers/{away}")).await;
        status == 200 && view["pending"] == 0
    })
    .await;
    for id in queued.iter().step_by(97) {
        assert!(fleet.applied(id).await, "resource {id} not applied");
    }
    assert_eq!(
        fleet.publishes_of(0).await,
        NEAR as u64,
        "each change published once"
    );
    near_agent.stop().await;
    away_agent.stop().await;
    for hub in hubs {
        hub.stop().await;
    }
}
