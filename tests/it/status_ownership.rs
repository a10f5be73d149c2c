//! Status ownership (issue 20 finding 1): an agent may report only on its own cluster's
//! resources. A `baton serve` process, agents played by raw clients holding one cluster's
//! credentials: a bearer token on the built-in gRPC broker, an MQTT user confined to its
//! cluster's topics by the ACL file shipped in docs/ on a real Mosquitto.

use std::time::Duration;

use baton::cloudevents::transport::TransportRole;
use baton::cloudevents::transport::grpc::binding;
use baton::cloudevents::transport::grpc::proto::PublishRequest;
use baton::cloudevents::transport::grpc::proto::cloud_event_service_client::CloudEventServiceClient;
use baton::cloudevents::transport::mqtt::{MqttConfig, MqttTransport};
use baton::cloudevents::{Event, EventBuilder, EventType, Transport};
use serde_json::{Value, json};
use tonic::metadata::AsciiMetadataValue;
use tonic::transport::Channel;

use crate::e2e::{Stack, Via, WAIT};
use crate::harness::{Backend, resource_body};
use crate::mqtt::broker::Mosquitto;
use crate::support::eventually;

const STATUS_TYPE: &str =
    "io.open-cluster-management.works.v1alpha1.manifestbundles.status.update_request";

/// A node-1 snowflake sequence id (§5.3): a larger `n` is newer.
fn seq(n: u64) -> String {
    ((n << 22) | (1 << 12)).to_string()
}

/// A status event (§4.6) sent as the agent of `cluster`: Applied=`applied` with `reason`.
fn status_event(
    source: &str,
    cluster: &str,
    id: &str,
    n: u64,
    applied: &str,
    reason: &str,
) -> Event {
    let ty: EventType = STATUS_TYPE.parse().unwrap();
    let data = json!({"conditions": [{"type": "Applied", "status": applied, "observedGeneration": 1,
        "lastTransitionTime": "2026-01-01T00:00:00Z", "reason": reason, "message": reason}]});
    EventBuilder::new(format!("{cluster}-work-agent"), &ty)
        .cluster_name(cluster)
        .original_source(source)
        .resource_id(id)
        .resource_version(1)
        .sequence_id(seq(n))
        .json_data(serde_json::to_vec(&data).unwrap())
        .build()
        .unwrap()
}

/// The reason of the resource's stored Applied condition.
async fn applied_reason(stack: &Stack, id: &str) -> Option<String> {
    let resource = stack.resource(id).await?;
    resource["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Applied")
        .and_then(|c| c["reason"].as_str().map(str::to_owned))
}

/// `baton_status_rejected_total{reason=...}` on the hub's `/metrics`.
async fn rejected(stack: &Stack, reason: &str) -> u64 {
    metric(
        stack,
        &format!("baton_status_rejected_total{{reason=\"{reason}\"}}"),
    )
    .await
}

/// The value of one series on the hub's `/metrics` (0 before it exists).
async fn metric(stack: &Stack, series: &str) -> u64 {
    let text = stack
        .rest
        .http
        .get(stack.rest.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let series = format!("{series} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&series))
        .map_or(0, |n| n.parse().unwrap())
}

/// Consumers `a` and `b`, and one resource of `b`; its id.
async fn victim(stack: &Stack, a: &str, b: &str) -> String {
    for name in [a, b] {
        let (status, body) = stack
            .rest
            .post("/api/v1/consumers", json!({ "name": name }))
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, body) = stack
        .rest
        .post("/api/v1/resources", resource_body(b, Some("victim"), "v1"))
        .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

/// Publishes `event` on the built-in broker, with `token` if any.
async fn grpc_publish(
    client: &mut CloudEventServiceClient<Channel>,
    token: Option<&str>,
    event: &Event,
) {
    let mut request = tonic::Request::new(PublishRequest {
        event: Some(binding::to_proto(event).unwrap()),
    });
    if let Some(token) = token {
        let value = AsciiMetadataValue::try_from(format!("Bearer {token}")).unwrap();
        request.metadata_mut().insert("authorization", value);
    }
    client.publish(request).await.unwrap();
}

fn no_hack(resource: &Value) -> bool {
    !resource.to_string().contains("Hacked")
}

#[tokio::test]
async fn a_token_for_one_cluster_cannot_report_status_on_another_clusters_resource() {
    let stack = Stack::new(Via::Grpc, Backend::Postgres).await;
    let (a, b) = (stack.cluster("a"), stack.cluster("b"));
    let tokens = stack.dir.path().join("tokens.yaml");
    std::fs::write(
        &tokens,
        format!(
            "tokens:\n  - {{token: token-a, user: {a}, groups: [\"baton:agents\"]}}\n  \
             - {{token: token-b, user: {b}, groups: [\"baton:agents\"]}}\n"
        ),
    )
    .unwrap();
    let _hub = stack
        .start_hub_with(&["--grpc-token-file".into(), tokens.display().to_string()])
        .await;
    let id = victim(&stack, &a, &b).await;
    let source = stack.source_id();
    let mut client = CloudEventServiceClient::connect(format!("http://{}", stack.grpc_addr()))
        .await
        .unwrap();
    let mut publish = async |token: &str, event: Event| {
        grpc_publish(&mut client, Some(token), &event).await;
    };

    publish(
        "token-b",
        status_event(&source, &b, &id, 1, "True", "Applied"),
    )
    .await;
    eventually("b's status stored", WAIT, || async {
        applied_reason(&stack, &id).await.as_deref() == Some("Applied")
    })
    .await;
    // a's own clustername (the broker lets its token publish that), b's resource id, a far
    // newer sequence id: before ownership, it replaced b's status and made b's next reports stale.
    let forged = status_event(&source, &a, &id, 1_000_000, "False", "HackedByClusterA");
    publish("token-a", forged).await;
    eventually("the forged status counted as not_owner", WAIT, || async {
        rejected(&stack, "not_owner").await == 1
    })
    .await;
    publish(
        "token-b",
        status_event(&source, &b, &id, 2, "True", "StillMine"),
    )
    .await;
    eventually("b's next status stored (not stale)", WAIT, || async {
        applied_reason(&stack, &id).await.as_deref() == Some("StillMine")
    })
    .await;
    assert!(no_hack(&stack.resource(&id).await.unwrap()));
}

/// An agent transport for `cluster` logged in as the MQTT user `cluster`.
async fn mqtt_agent(mosquitto: &Mosquitto, source: &str, cluster: &str) -> MqttTransport {
    let config = MqttConfig::from_yaml(&mqtt_yaml(mosquitto, source, cluster, cluster)).unwrap();
    let transport = MqttTransport::builder(config, TransportRole::agent(cluster))
        .build()
        .unwrap();
    transport
        .wait_connected(Duration::from_secs(10))
        .await
        .unwrap();
    transport
}

fn mqtt_yaml(mosquitto: &Mosquitto, source: &str, user: &str, password: &str) -> String {
    format!(
        "brokerHost: {}\nusername: {user}\npassword: {password}\ntopics:\n  \
         sourceEvents: sources/{source}/consumers/+/sourceevents\n  \
         agentEvents: sources/{source}/consumers/+/agentevents\n  \
         sourceBroadcast: sources/{source}/sourcebroadcast\n  \
         agentBroadcast: consumers/+/agentbroadcast\n",
        mosquitto.host()
    )
}

#[tokio::test]
async fn an_mqtt_agent_confined_to_its_topics_cannot_report_status_on_another_clusters_resource() {
    let stack = Stack::new(Via::Mqtt, Backend::Sqlite).await;
    let (a, b, source) = (stack.cluster("a"), stack.cluster("b"), stack.source_id());
    // The shipped ACL file, for this test's source id.
    let acl = include_str!("../../docs/mosquitto-acl.conf")
        .replace("sources/baton/", &format!("sources/{source}/"));
    let mosquitto =
        Mosquitto::start_secured(&acl, &[("baton", "hub-secret"), (&a, &a), (&b, &b)]).await;
    std::fs::write(
        stack.mqtt_config(),
        mqtt_yaml(&mosquitto, &source, "baton", "hub-secret"),
    )
    .unwrap();
    let _hub = stack.start_hub().await;
    let id = victim(&stack, &a, &b).await;
    let (agent_a, agent_b) = (
        mqtt_agent(&mosquitto, &source, &a).await,
        mqtt_agent(&mosquitto, &source, &b).await,
    );

    // Until the hub has subscribed, the broker drops what nobody reads: send until stored.
    let mut n = 0;
    eventually("b's status stored", WAIT, || {
        n += 1;
        let event = status_event(&source, &b, &id, n, "True", "Applied");
        let (agent_b, stack, id) = (&agent_b, &stack, &id);
        async move {
            agent_b.publish(&event).await.unwrap();
            applied_reason(stack, id).await.as_deref() == Some("Applied")
        }
    })
    .await;
    // On a's own topic (the only one the ACL lets it write): once with its own clustername and
    // b's resource id, once claiming to be b.
    let forged = status_event(&source, &a, &id, 1_000_000, "False", "HackedByClusterA");
    agent_a.publish(&forged).await.unwrap();
    let posing = status_event(&source, &b, &id, 1_000_001, "False", "HackedPosingAsB");
    agent_a.publish(&posing).await.unwrap();
    eventually("both forged statuses refused", WAIT, || async {
        rejected(&stack, "not_owner").await == 1 && rejected(&stack, "topic_mismatch").await == 1
    })
    .await;
    agent_b
        .publish(&status_event(&source, &b, &id, n + 1, "True", "StillMine"))
        .await
        .unwrap();
    eventually("b's next status stored (not stale)", WAIT, || async {
        applied_reason(&stack, &id).await.as_deref() == Some("StillMine")
    })
    .await;
    assert!(no_hack(&stack.resource(&id).await.unwrap()));
}

#[tokio::test]
async fn five_thousand_bogus_statuses_cost_a_bounded_number_of_log_lines() {
    let stack = Stack::new(Via::Grpc, Backend::Postgres).await;
    let (a, b) = (stack.cluster("a"), stack.cluster("b"));
    let hub = stack.start_hub().await;
    let id = victim(&stack, &a, &b).await;
    let source = stack.source_id();
    let mut client = CloudEventServiceClient::connect(format!("http://{}", stack.grpc_addr()))
        .await
        .unwrap();
    // Three kinds, each a warning per event unless throttled: an unknown resource, an id that
    // is not a baton id, another cluster's resource.
    const EACH: u64 = 5_000 / 3;
    let started = std::time::Instant::now();
    for n in 1..=EACH {
        let unknown = uuid::Uuid::new_v4().to_string();
        for (cluster, resource) in [(&b, unknown.as_str()), (&b, "not-a-uuid"), (&a, &id)] {
            let event = status_event(&source, cluster, resource, n, "False", "Bogus");
            grpc_publish(&mut client, None, &event).await;
        }
    }
    eventually("every bogus status handled", WAIT, || async {
        metric(&stack, "baton_status_updates_total{outcome=\"unknown\"}").await == 2 * EACH
            && rejected(&stack, "not_owner").await == EACH
    })
    .await;
    // Five lines a site per ten-second window; the flood spans as many windows as it took
    // (a loaded machine makes it slow), plus the partial ones at each end.
    let windows = started.elapsed().as_secs() as usize / 10 + 2;
    let bound = 5 * windows;
    let log = std::fs::read_to_string(&hub.log).unwrap();
    let warnings: Vec<&str> = log.lines().filter(|l| l.contains(" WARN ")).collect();
    for what in [
        "status for an unknown resource",
        "not a baton id",
        "belongs to another cluster",
    ] {
        let lines = warnings.iter().filter(|l| l.contains(what)).count();
        assert!(
            (1..=bound).contains(&lines),
            "{lines} lines for {what:?} after {EACH} events in {windows} windows"
        );
    }
    // The three sites, and a few lines of the hub's own.
    assert!(
        warnings.len() <= 3 * bound + 10,
        "{} warnings:\n{}",
        warnings.len(),
        warnings.join("\n")
    );
}
