//! sdk-go's ManifestWork agent against two `baton serve` replicas on one database, reaching
//! them through HAProxy (docs/ha.md): it lands on one replica's broker, and a resource created
//! through the other replica still reaches it, and its status lands in the row.

use serde_json::json;

use super::codec::web_status;
use super::go::{GoProcess, WAIT};
use crate::ha::Fleet;
use crate::harness::resource_body;
use crate::support::eventually;

#[tokio::test]
async fn an_sdk_go_agent_behind_haproxy_receives_what_another_replica_commits() {
    let fleet = Fleet::grpc(2).await;
    let hubs = [fleet.start_hub(0).await, fleet.start_hub(1).await];
    let cluster = fleet.cluster("go");
    fleet.rest.consumer(&cluster).await;
    let config = fleet.dir.path().join("go-grpc.yaml");
    std::fs::write(&config, format!("url: 127.0.0.1:{}\n", fleet.lb.grpc_port)).unwrap();
    let state = fleet.dir.path().join("go-works.json");
    let mut go = GoProcess::spawn(&[
        "agent",
        "grpc",
        config.to_str().unwrap(),
        &cluster,
        state.to_str().unwrap(),
    ])
    .await;
    go.wait_for("Go agent ready", |l| l["kind"] == "ready")
        .await;
    eventually("the Go agent on one replica", WAIT, || async {
        fleet.connected_at(&cluster).await.len() == 1
    })
    .await;
    let other = 1 - fleet.connected_at(&cluster).await[0];

    let (status, body) = fleet
        .rest_of(other)
        .post(
            "/api/v1/resources",
            resource_body(&cluster, Some("web"), "v1"),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    go.wait_for("the work reaches the Go agent", |l| {
        l["kind"] == "watch" && l["work"]["metadata"]["uid"] == id.as_str()
    })
    .await;

    let status = serde_json::to_value(web_status(1)).unwrap();
    go.command(json!({"cmd": "status", "name": "web", "status": status}))
        .await;
    eventually("the Go agent's status stored", WAIT, || async {
        let (_, row) = fleet
            .rest_of(other)
            .get(&format!("/api/v1/resources/{id}"))
            .await;
        row["status"] == status
    })
    .await;
    go.stop().await;
    for hub in hubs {
        hub.stop().await;
    }
}
