//! The behaviours the issue names, each run over the built-in broker and over Mosquitto, with
//! the hub on PostgreSQL and on its embedded SQLite store.

use serde_json::json;

use super::{Stack, Via, WAIT};
use crate::harness::{Backend, configmap, resource_body};
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

async fn lifecycle(via: Via, backend: Backend) {
    let stack = Stack::new(via, backend).await;
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

async fn agent_restart_converges(via: Via, backend: Backend) {
    let stack = Stack::new(via, backend).await;
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

async fn hub_restart_loses_nothing(via: Via, backend: Backend) {
    let stack = Stack::new(via, backend).await;
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

async fn hundred_clusters_by_ten_resources_converge(via: Via, backend: Backend) {
    let stack = Stack::new(via, backend).await;
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

async fn mqtt_broker_outage_loses_no_change(via: Via, backend: Backend) {
    assert_eq!(via, Via::Mqtt, "the outage is Mosquitto's");
    let mut mosquitto = crate::mqtt::broker::Mosquitto::start().await;
    let stack = Stack::with_mqtt_host(via, backend, &mosquitto.host()).await;
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

/// Each flow as two tests, `postgres::NAME` and `sqlite::NAME`: the hub on either store.
macro_rules! on_both_backends {
    ($($name:ident => $flow:ident($via:expr);)*) => {
        mod postgres {
            use super::*;
            $(#[tokio::test]
            async fn $name() {
                $flow($via, Backend::Postgres).await;
            })*
        }
        mod sqlite {
            use super::*;
            $(#[tokio::test]
            async fn $name() {
                $flow($via, Backend::Sqlite).await;
            })*
        }
    };
}

on_both_backends! {
    grpc_lifecycle_create_update_fail_delete => lifecycle(Via::Grpc);
    mqtt_lifecycle_create_update_fail_delete => lifecycle(Via::Mqtt);
    grpc_restarted_agent_converges_by_resync => agent_restart_converges(Via::Grpc);
    mqtt_restarted_agent_converges_by_resync => agent_restart_converges(Via::Mqtt);
    grpc_hub_crash_and_restart_loses_no_change => hub_restart_loses_nothing(Via::Grpc);
    mqtt_hub_crash_and_restart_loses_no_change => hub_restart_loses_nothing(Via::Mqtt);
    grpc_hundred_clusters_by_ten_resources_converge => hundred_clusters_by_ten_resources_converge(Via::Grpc);
    mqtt_hundred_clusters_by_ten_resources_converge => hundred_clusters_by_ten_resources_converge(Via::Mqtt);
    mqtt_changes_committed_while_the_broker_is_down_are_delivered_when_it_is_back => mqtt_broker_outage_loses_no_change(Via::Mqtt);
}
