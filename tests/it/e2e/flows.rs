//! The behaviours the issue names, each run over the built-in broker and over Mosquitto.

use serde_json::json;

use super::{Stack, Via, WAIT};
use crate::harness::{configmap, resource_body};
use crate::support::eventually;

async fn create(stack: &Stack, cluster: &str, name: &str) -> String {
    let (status, body) = stack
        .rest
        .post(
            "/api/v1/resources",
            resource_body(cluster, Some(name), "v1"),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

async fn lifecycle(via: Via) {
    let stack = Stack::new(via).await;
    let hub = stack.start_hub().await;
    let cluster = stack.cluster("life");
    stack.rest.consumer(&cluster).await;
    let agent = stack.start_agent(&cluster);
    stack.await_connected(&cluster).await;

    let id = create(&stack, &cluster, "web").await;
    eventually("created resource Applied=True in the row", WAIT, || {
        stack.applied(&id, "True")
    })
    .await;

    let (status, _) = stack
        .rest
        .put(
            &format!("/api/v1/resources/{id}"),
            json!({"version": 1, "manifests": [configmap("v2")]}),
        )
        .await;
    assert_eq!(status, 200);
    eventually("version 2 applied", WAIT, || async {
        stack.applied(&id, "True").await && stack.resource(&id).await.unwrap()["version"] == 2
    })
    .await;

    let mut failing = configmap("x");
    failing["metadata"]["name"] = "bad".into();
    failing["metadata"]["annotations"] =
        json!({"baton.io/simulate-apply-error": "admission webhook denied the request"});
    let mut body = resource_body(&cluster, Some("broken"), "x");
    body["manifests"] = json!([failing]);
    let (_, broken) = stack.rest.post("/api/v1/resources", body).await;
    let broken = broken["id"].as_str().unwrap().to_owned();
    eventually("Applied=False with the reason over REST", WAIT, || async {
        stack.applied(&broken, "False").await
            && stack.resource(&broken).await.unwrap()["status"]
                .to_string()
                .contains("admission webhook denied the request")
    })
    .await;

    let (status, _) = stack.rest.delete(&format!("/api/v1/resources/{id}")).await;
    assert_eq!(status, 202);
    eventually("row gone once the agent confirms", WAIT, || async {
        stack.resource(&id).await.is_none()
    })
    .await;

    agent.stop().await;
    hub.stop().await;
}

async fn agent_restart_converges(via: Via) {
    let stack = Stack::new(via).await;
    let hub = stack.start_hub().await;
    let cluster = stack.cluster("restart");
    stack.rest.consumer(&cluster).await;
    let agent = stack.start_agent(&cluster);
    stack.await_connected(&cluster).await;
    let keep = create(&stack, &cluster, "keep").await;
    let change = create(&stack, &cluster, "change").await;
    let gone = create(&stack, &cluster, "gone").await;
    for id in [&keep, &change, &gone] {
        eventually("applied before the agent stops", WAIT, || {
            stack.applied(id, "True")
        })
        .await;
    }
    agent.stop().await;

    stack
        .rest
        .put(
            &format!("/api/v1/resources/{change}"),
            json!({"version": 1, "manifests": [configmap("v2")]}),
        )
        .await;
    stack
        .rest
        .delete(&format!("/api/v1/resources/{gone}"))
        .await;
    let new = create(&stack, &cluster, "new").await;

    let agent = stack.start_agent(&cluster);
    eventually("update applied after restart", WAIT, || async {
        stack.applied(&change, "True").await
            && stack.resource(&change).await.unwrap()["version"] == 2
    })
    .await;
    eventually("create applied after restart", WAIT, || {
        stack.applied(&new, "True")
    })
    .await;
    eventually("delete confirmed after restart", WAIT, || async {
        stack.resource(&gone).await.is_none()
    })
    .await;
    assert!(stack.applied(&keep, "True").await);
    agent.stop().await;
    hub.stop().await;
}

async fn hub_restart_loses_nothing(via: Via) {
    let stack = Stack::new(via).await;
    let hub = stack.start_hub().await;
    let cluster = stack.cluster("crash");
    stack.rest.consumer(&cluster).await;
    let agent = stack.start_agent(&cluster);
    stack.await_connected(&cluster).await;
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(create(&stack, &cluster, &format!("r{i}")).await);
    }
    hub.kill().await; // a crash, right after the commits: some changes are not published yet
    let hub = stack.start_hub().await;
    for i in 20..30 {
        ids.push(create(&stack, &cluster, &format!("r{i}")).await);
    }
    for id in &ids {
        eventually(
            "every committed change applied after the hub restart",
            WAIT,
            || stack.applied(id, "True"),
        )
        .await;
    }
    agent.stop().await;
    hub.stop().await;
}

async fn hundred_clusters_by_ten_resources_converge(via: Via) {
    let stack = Stack::new(via).await;
    let hub = stack.start_hub().await;
    let prefix = format!("sim-{}-", stack.suffix);
    for i in 1..=100 {
        stack.rest.consumer(&format!("{prefix}{i}")).await;
    }
    let agents = stack.start_simulated(100, &prefix);
    let mut ids = Vec::new();
    for i in 1..=100 {
        for r in 0..10 {
            ids.push(create(&stack, &format!("{prefix}{i}"), &format!("r{r}")).await);
        }
    }
    eventually(
        "1,000 resources Applied=True",
        std::time::Duration::from_secs(240),
        || async {
            let mut applied = 0;
            for page in 1..=10 {
                let (status, list) = stack
                    .rest
                    .get(&format!("/api/v1/resources?size=100&page={page}"))
                    .await;
                assert_eq!(status, 200, "{list}");
                applied += list["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|r| {
                        r["status"]["conditions"]
                            .to_string()
                            .contains("AppliedManifestWorkComplete")
                    })
                    .count();
            }
            applied == ids.len()
        },
    )
    .await;
    agents.stop().await;
    hub.stop().await;
}

#[tokio::test]
async fn grpc_lifecycle_create_update_fail_delete() {
    lifecycle(Via::Grpc).await;
}

#[tokio::test]
async fn mqtt_lifecycle_create_update_fail_delete() {
    lifecycle(Via::Mqtt).await;
}

#[tokio::test]
async fn grpc_restarted_agent_converges_by_resync() {
    agent_restart_converges(Via::Grpc).await;
}

#[tokio::test]
async fn mqtt_restarted_agent_converges_by_resync() {
    agent_restart_converges(Via::Mqtt).await;
}

#[tokio::test]
async fn grpc_hub_crash_and_restart_loses_no_change() {
    hub_restart_loses_nothing(Via::Grpc).await;
}

#[tokio::test]
async fn mqtt_hub_crash_and_restart_loses_no_change() {
    hub_restart_loses_nothing(Via::Mqtt).await;
}

#[tokio::test]
async fn grpc_hundred_clusters_by_ten_resources_converge() {
    hundred_clusters_by_ten_resources_converge(Via::Grpc).await;
}

#[tokio::test]
async fn mqtt_hundred_clusters_by_ten_resources_converge() {
    hundred_clusters_by_ten_resources_converge(Via::Mqtt).await;
}

#[tokio::test]
async fn mqtt_changes_committed_while_the_broker_is_down_are_delivered_when_it_is_back() {
    let mut mosquitto = crate::mqtt::broker::Mosquitto::start().await;
    let stack = Stack::with_mqtt_host(Via::Mqtt, &mosquitto.host()).await;
    let hub = stack.start_hub().await;
    let cluster = stack.cluster("outage");
    stack.rest.consumer(&cluster).await;
    let agent = stack.start_agent(&cluster);
    let first = create(&stack, &cluster, "before").await;
    eventually("applied before the outage", WAIT, || {
        stack.applied(&first, "True")
    })
    .await;

    mosquitto.stop().await;
    let mut during = Vec::new();
    for i in 0..5 {
        during.push(create(&stack, &cluster, &format!("during-{i}")).await); // 201: committed
    }
    mosquitto.restart().await;
    for id in &during {
        eventually(
            "committed during the outage, applied after it",
            WAIT,
            || stack.applied(id, "True"),
        )
        .await;
    }
    agent.stop().await;
    hub.stop().await;
}
