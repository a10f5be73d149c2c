//! Scenario 2: sdk-go's generic source client (manifestbundles codec) → baton's agent
//! (`SimulatedAgent`), over baton's gRPC broker and over Mosquitto. Specs published by Go are
//! applied by baton, whose status reaches the Go handler (§4.6, §5.2); updates and deletes flow
//! (§4.7); a Go status resync is answered for the work whose hash differs (§6.3, §6.6).

use baton::agent::run::SimulatedAgent;
use baton::cloudevents::TransportRole;
use serde_json::{Value, json};

use super::codec::web_work;
use super::go::GoProcess;
use super::transports::{Kind, Wire};
use crate::support::eventually;

const CLUSTER: &str = "cluster-b";
const SOURCE: &str = "maestro";

fn work(uid: &str, name: &str, generation: i64) -> Value {
    let mut work = serde_json::to_value(web_work(CLUSTER, uid, generation)).unwrap();
    work["metadata"]["name"] = name.into();
    work
}

fn statuses(go: &GoProcess, uid: &str) -> Vec<Value> {
    go.matching(|l| l["kind"] == "status" && l["work"]["metadata"]["uid"] == uid)
}

fn condition<'w>(work: &'w Value, type_: &str) -> Option<&'w Value> {
    work["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

/// Waits for a status of `uid` that is Applied=True for `generation`.
async fn applied(go: &GoProcess, uid: &str, generation: i64) -> Value {
    go.wait_for(&format!("{uid} applied at generation {generation}"), |l| {
        l["kind"] == "status"
            && l["work"]["metadata"]["uid"] == uid
            && condition(&l["work"], "Applied").is_some_and(|c| {
                c["status"] == "True" && c["observedGeneration"] == generation
            })
    })
    .await["work"]
        .clone()
}

async fn go_source_against_baton_agent(kind: Kind) {
    let wire = Wire::start(kind, SOURCE).await;
    let agent = SimulatedAgent::start(CLUSTER, wire.transport(TransportRole::agent(CLUSTER)), None)
        .await
        .unwrap();
    let config = wire.go_config();
    let mut go = GoProcess::spawn(&["source", wire.config_type(), config.to_str().unwrap(), SOURCE]).await;
    go.wait_for("Go source ready", |l| l["kind"] == "ready").await;

    let (web, cache) = (
        "7d0b7a43-6a0e-4d51-8a46-5d2f3c1b9e01",
        "7d0b7a43-6a0e-4d51-8a46-5d2f3c1b9e02",
    );
    // Create: baton applies both manifests and reports per-manifest status.
    go.command(json!({"cmd": "publish", "action": "create_request", "work": work(web, "web", 1)}))
        .await;
    let status = applied(&go, web, 1).await;
    let manifests = status["status"]["resourceStatus"]["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 2, "{status}");
    assert_eq!(manifests[1]["resourceMeta"]["kind"], "Deployment");
    assert!(
        status["metadata"]["annotations"]["cloudevents.open-cluster-management.io/sequenceid"]
            .is_string(),
        "sdk-go kept baton's sequence id: {status}"
    );
    eventually("objects applied", super::go::WAIT, || async {
        agent.controller().object_count().await == 2
    })
    .await;
    go.command(json!({"cmd": "publish", "action": "create_request", "work": work(cache, "cache", 1)}))
        .await;
    applied(&go, cache, 1).await;

    // Update.
    go.command(json!({"cmd": "publish", "action": "update_request", "work": work(web, "web", 2)}))
        .await;
    applied(&go, web, 2).await;

    // Status resync: the Go source forgets web's status; baton answers with it.
    let cache_before = statuses(&go, cache).len();
    let web_before = statuses(&go, web).len();
    go.command(json!({"cmd": "forget-status", "uid": web})).await;
    go.command(json!({"cmd": "resync", "cluster": CLUSTER})).await;
    go.wait_for("web status re-sent after the resync", |_| statuses(&go, web).len() > web_before)
        .await;
    let resent = statuses(&go, web).pop().unwrap();
    assert!(condition(&resent["work"], "Applied").is_some_and(|c| c["observedGeneration"] == 2));
    assert_eq!(
        statuses(&go, cache).len(),
        cache_before,
        "cache's hash matched: no answer for it"
    );

    // Delete: baton removes the objects and reports Deleted=True.
    let mut deleting = work(web, "web", 2);
    deleting["metadata"]["deletionTimestamp"] = "2025-06-01T12:00:07Z".into();
    deleting["metadata"]["finalizers"] = json!(["cluster.open-cluster-management.io/manifest-work-cleanup"]);
    go.command(json!({"cmd": "publish", "action": "delete_request", "work": deleting})).await;
    go.wait_for("Deleted=True from baton", |l| {
        l["kind"] == "status"
            && l["work"]["metadata"]["uid"] == web
            && condition(&l["work"], "Deleted").is_some_and(|c| c["status"] == "True")
    })
    .await;
    go.stop().await;
    agent.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_source_against_baton_agent_over_grpc() {
    go_source_against_baton_agent(Kind::Grpc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_source_against_baton_agent_over_mqtt() {
    go_source_against_baton_agent(Kind::Mqtt).await;
}
