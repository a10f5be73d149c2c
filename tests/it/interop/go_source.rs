//! Scenario 2: sdk-go's generic source client (manifestbundles codec) → a `baton agent`
//! process, over the built-in gRPC broker of a `baton serve` and over Mosquitto. Specs published by Go are
//! applied by baton, whose status reaches the Go handler (§4.6, §5.2); updates and deletes flow
//! (§4.7); a Go status resync is answered for the work whose hash differs (§6.3, §6.6); a
//! restarted baton agent's spec resync is answered by sdk-go's source (§6.2, §6.5).

use serde_json::{Value, json};

use super::codec::web_work;
use super::go::GoProcess;
use super::{config_type, go_config};
use crate::e2e::{Stack, Via};
use crate::harness::Backend;

fn work(cluster: &str, uid: &str, name: &str, generation: i64) -> Value {
    let mut work = serde_json::to_value(web_work(cluster, uid, generation)).unwrap();
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
            && condition(&l["work"], "Applied")
                .is_some_and(|c| c["status"] == "True" && c["observedGeneration"] == generation)
    })
    .await["work"]
        .clone()
}

async fn go_source_against_baton_agent(via: Via) {
    let stack = Stack::new(via, Backend::Postgres).await;
    let cluster = stack.cluster("gosrc");
    // gRPC: the hub only provides the broker; the Go source has an id of its own. MQTT: the
    // topics of the shared config name the stack's source id, so Go takes it and no hub runs.
    let (hub, source_id) = match via {
        Via::Grpc => {
            let hub = stack.start_hub().await;
            stack.rest.consumer(&cluster).await;
            (Some(hub), format!("go-{}", stack.suffix))
        }
        Via::Mqtt => (None, stack.source_id()),
    };
    let agent = stack.start_agent(&cluster);
    stack.await_connected(&cluster).await;
    let config = go_config(&stack);
    let mut go = GoProcess::spawn(&[
        "source",
        config_type(via),
        config.to_str().unwrap(),
        &source_id,
    ])
    .await;
    go.wait_for("Go source ready", |l| l["kind"] == "ready")
        .await;
    let work = |uid: &str, name: &str, generation: i64| work(&cluster, uid, name, generation);

    let (web, cache) = (
        "7d0b7a43-6a0e-4d51-8a46-5d2f3c1b9e01",
        "7d0b7a43-6a0e-4d51-8a46-5d2f3c1b9e02",
    );
    // Create: baton applies both manifests and reports per-manifest status.
    go.command(json!({"cmd": "publish", "action": "create_request", "work": work(web, "web", 1)}))
        .await;
    let status = applied(&go, web, 1).await;
    let manifests = status["status"]["resourceStatus"]["manifests"]
        .as_array()
        .unwrap();
    assert_eq!(manifests.len(), 2, "{status}");
    assert_eq!(manifests[1]["resourceMeta"]["kind"], "Deployment");
    assert!(
        status["metadata"]["annotations"]["cloudevents.open-cluster-management.io/sequenceid"]
            .is_string(),
        "sdk-go kept baton's sequence id: {status}"
    );
    go.command(
        json!({"cmd": "publish", "action": "create_request", "work": work(cache, "cache", 1)}),
    )
    .await;
    applied(&go, cache, 1).await;

    // Update.
    go.command(json!({"cmd": "publish", "action": "update_request", "work": work(web, "web", 2)}))
        .await;
    applied(&go, web, 2).await;

    // Status resync: the Go source forgets web's status; baton answers with it.
    let cache_before = statuses(&go, cache).len();
    let web_before = statuses(&go, web).len();
    go.command(json!({"cmd": "forget-status", "uid": web}))
        .await;
    go.command(json!({"cmd": "resync", "cluster": cluster}))
        .await;
    go.wait_for("web status re-sent after the resync", |_| {
        statuses(&go, web).len() > web_before
    })
    .await;
    let resent = statuses(&go, web).pop().unwrap();
    assert_eq!(resent["work"]["metadata"]["namespace"], cluster.as_str());
    assert!(condition(&resent["work"], "Applied").is_some_and(|c| c["observedGeneration"] == 2));
    // cache's hash matched, so the answer to this request leaves it out. Another status of
    // cache may still arrive meanwhile, legitimately: the hub's own source (running here only
    // for its broker) holds no resources, so whenever its subscription is re-established it
    // sends a status resync with an empty list, which asks every agent for every status
    // (§6.6 step 1), and agents send them to each work's own source, this Go source included;
    // and the reference agent re-sends a report whose publish timed out. Either repeats the
    // status cache already has. What must not arrive is a different one.
    let cache_status = &statuses(&go, cache)[cache_before - 1]["work"]["status"];
    for extra in &statuses(&go, cache)[cache_before..] {
        assert_eq!(
            &extra["work"]["status"], cache_status,
            "cache's hash matched: nothing new for it"
        );
    }

    // Delete: baton removes the objects and reports Deleted=True.
    let mut deleting = work(web, "web", 2);
    deleting["metadata"]["deletionTimestamp"] = "2025-06-01T12:00:07Z".into();
    deleting["metadata"]["finalizers"] =
        json!(["cluster.open-cluster-management.io/manifest-work-cleanup"]);
    go.command(json!({"cmd": "publish", "action": "delete_request", "work": deleting}))
        .await;
    go.wait_for("Deleted=True from baton", |l| {
        l["kind"] == "status"
            && l["work"]["metadata"]["uid"] == web
            && condition(&l["work"], "Deleted").is_some_and(|c| c["status"] == "True")
    })
    .await;

    // baton's agent restarts (same state dir) after missing an update: its spec resync request
    // reaches sdk-go's source, whose answer (generation 3) baton applies.
    agent.stop().await;
    go.command(json!({"cmd": "put", "work": work(cache, "cache", 3)}))
        .await;
    let agent = stack.start_agent(&cluster);
    applied(&go, cache, 3).await;

    go.stop().await;
    agent.stop().await;
    if let Some(hub) = hub {
        hub.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_source_against_baton_agent_over_grpc() {
    go_source_against_baton_agent(Via::Grpc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_source_against_baton_agent_over_mqtt() {
    go_source_against_baton_agent(Via::Mqtt).await;
}
