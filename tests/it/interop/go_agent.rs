//! Scenario 1: sdk-go's ManifestWork agent (client holder + informer) ← `baton serve`, over
//! the hub's built-in gRPC broker and over Mosquitto. A resource created over REST arrives as a
//! ManifestWork with the same manifests, delete option and configs (§4.1, §4.4); the Go side's
//! status patch lands in the row (§4.6, §5.2); updates and deletes flow (§4.2, §4.7, §4.8); a
//! Go agent restarted with its works in hand resyncs without duplicates (§6.2, §6.5).

use baton::work::status_hash;
use serde_json::{Value, json};

use super::codec::web_status;
use super::go::{GoProcess, WAIT};
use super::{config_type, go_config};
use crate::e2e::{Stack, Via};
use crate::harness::{Backend, configmap};
use crate::support::eventually;

fn delete_option() -> Value {
    json!({"propagationPolicy": "SelectivelyOrphan", "selectivelyOrphans": {"orphaningRules":
        [{"group": "", "resource": "configmaps", "name": "web-config", "namespace": "default"}]}})
}

fn manifest_configs() -> Value {
    json!([{
        "resourceIdentifier": {"group": "", "resource": "configmaps",
                               "name": "web-config", "namespace": "default"},
        "feedbackRules": [{"type": "JSONPaths", "jsonPaths": [{"name": "data", "path": ".data"}]}],
        "updateStrategy": {"type": "ServerSideApply",
                           "serverSideApply": {"fieldManager": "work-agent", "force": false}}
    }])
}

async fn create(stack: &Stack, cluster: &str, name: &str, value: &str) -> String {
    let (status, body) = stack
        .rest
        .post(
            "/api/v1/resources",
            json!({"consumer_name": cluster, "name": name, "manifests": [configmap(value)],
                   "delete_option": delete_option(), "manifest_configs": manifest_configs()}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

async fn update(stack: &Stack, id: &str, version: i64, value: &str) {
    let (status, body) = stack
        .rest
        .put(
            &format!("/api/v1/resources/{id}"),
            json!({"version": version, "manifests": [configmap(value)],
                   "delete_option": delete_option(), "manifest_configs": manifest_configs()}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

/// Watch events the Go agent reported for work `uid`.
fn watch_events(go: &GoProcess, uid: &str) -> Vec<Value> {
    go.matching(|l| l["kind"] == "watch" && l["work"]["metadata"]["uid"] == uid)
}

async fn watched(go: &GoProcess, what: &str, uid: &str, check: impl Fn(&Value) -> bool) -> Value {
    go.wait_for(what, |l| {
        l["kind"] == "watch" && l["work"]["metadata"]["uid"] == uid && check(&l["work"])
    })
    .await["work"]
        .clone()
}

async fn start_agent(stack: &Stack, cluster: &str, state: &str) -> GoProcess {
    let config = go_config(stack);
    let config = config.to_str().unwrap();
    let go = GoProcess::spawn(&["agent", config_type(stack.via), config, cluster, state]).await;
    go.wait_for("Go agent ready", |l| l["kind"] == "ready")
        .await;
    go
}

async fn go_agent_against_the_hub(via: Via) {
    let stack = Stack::new(via, Backend::Postgres).await;
    let hub = stack.start_hub().await;
    let cluster = stack.cluster("go");
    stack.rest.consumer(&cluster).await;
    let state = stack.dir.path().join("go-works.json");
    let state = state.to_str().unwrap();
    let mut go = start_agent(&stack, &cluster, state).await;

    // Create: the same manifests, delete option and configs arrive.
    let web = create(&stack, &cluster, "web", "v1").await;
    let work = watched(&go, "web arrives", &web, |_| true).await;
    assert_eq!(work["metadata"]["name"], "web");
    assert_eq!(work["metadata"]["namespace"], cluster.as_str());
    assert_eq!(work["metadata"]["generation"], 1);
    assert_eq!(
        work["spec"]["workload"]["manifests"],
        json!([configmap("v1")])
    );
    assert_eq!(work["spec"]["deleteOption"], delete_option());
    assert_eq!(work["spec"]["manifestConfigs"], manifest_configs());
    let cache = create(&stack, &cluster, "cache", "c1").await;
    watched(&go, "cache arrives", &cache, |_| true).await;

    // Status from Go lands in the row.
    let status = serde_json::to_value(web_status(1)).unwrap();
    go.command(json!({"cmd": "status", "name": "web", "status": status}))
        .await;
    eventually("Go status stored", WAIT, || async {
        stack
            .resource(&web)
            .await
            .is_some_and(|r| r["status"] == status)
    })
    .await;
    let row = stack.resource(&web).await.unwrap();
    let ours = status_hash::status_hash(&web_status(1)).unwrap();
    assert_eq!(row["status_hash"], ours.as_str());

    // Update flows through.
    update(&stack, &web, 1, "v2").await;
    watched(&go, "web v2 arrives", &web, |w| {
        w["metadata"]["generation"] == 2
            && w["spec"]["workload"]["manifests"][0]["data"]["value"] == "v2"
    })
    .await;

    // Restart with works in hand; `cache` changes while the agent is away.
    go.command(json!({"cmd": "save", "name": state})).await;
    go.stop().await;
    update(&stack, &cache, 1, "c2").await;
    let mut go = start_agent(&stack, &cluster, state).await;
    let ready = go.wait_for("ready", |l| l["kind"] == "ready").await;
    assert_eq!(ready["preloaded"], 2);
    watched(&go, "cache v2 after resync", &cache, |w| {
        w["metadata"]["generation"] == 2
    })
    .await;
    // A resource created now is published after the resync answers, on the same stream.
    let marker = create(&stack, &cluster, "marker", "m1").await;
    watched(&go, "marker arrives", &marker, |_| true).await;
    let web_events = watch_events(&go, &web);
    assert_eq!(
        web_events.len(),
        1,
        "web was unchanged: only its preloaded copy, no resent spec: {web_events:?}\n{}",
        go.log()
    );
    assert_eq!(web_events[0]["type"], "added");
    // cache: its preloaded copy, then generation 2 only. (sdk-go's agent may send more than one
    // spec resync request around a (re)subscription, each answered; the store stays one work.)
    let cache_events = watch_events(&go, &cache);
    assert!(
        cache_events[1..]
            .iter()
            .all(|e| e["work"]["metadata"]["generation"] == 2),
        "{cache_events:?}"
    );
    let listed = go.command(json!({"cmd": "list"})).await;
    let mut names: Vec<&str> = listed["works"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["metadata"]["name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["cache", "marker", "web"],
        "one work each, no duplicates"
    );
    // sdk-go's own counters: only cache can differ, so the hub answers each spec resync request
    // with at most one event. (cache may also come as the update the hub's publisher sends once
    // the agent is back: at-least-once, and harmless.)
    let events = &listed["events"];
    let count = |key: &str| events[key].as_f64().unwrap_or(0.0);
    assert!(count("sent spec resync_request") >= 1.0, "{events}");
    assert!(
        count("received spec resync_response") <= count("sent spec resync_request"),
        "{events}"
    );

    // Delete: the Go agent sees the deletion, finishes it, and the row goes away.
    let (code, _) = stack.rest.delete(&format!("/api/v1/resources/{web}")).await;
    assert_eq!(code, 202);
    watched(&go, "web deleting", &web, |w| {
        w["metadata"]["deletionTimestamp"].is_string()
    })
    .await;
    go.command(json!({"cmd": "finalize", "name": "web"})).await;
    go.wait_for("web removed on the Go side", |l| {
        l["kind"] == "watch"
            && l["type"] == "deleted"
            && l["work"]["metadata"]["uid"] == web.as_str()
    })
    .await;
    eventually("row removed after Deleted=True", WAIT, || async {
        stack.resource(&web).await.is_none()
    })
    .await;
    go.stop().await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_agent_against_the_hub_over_grpc() {
    go_agent_against_the_hub(Via::Grpc).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_agent_against_the_hub_over_mqtt() {
    go_agent_against_the_hub(Via::Mqtt).await;
}
