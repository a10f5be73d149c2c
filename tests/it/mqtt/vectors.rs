//! Every `*.mqtt.json` vector (captured from real sdk-go clients) against the binding and the
//! topic derivation (§7.4, §7.6, §7.7, C18, C19), and the captured CONNECT/SUBSCRIBE of
//! `mqtt/session.json` against what baton sends to a real Mosquitto (§7.1, §7.5, C20).

use std::path::Path;

use ::cloudevents::{AttributesReader, Event};
use baton::cloudevents::EventType;
use baton::cloudevents::extensions as ext;
use baton::cloudevents::transport::mqtt::{MqttConfig, MqttTransport, binding};
use baton::cloudevents::transport::{Inbound, Transport, TransportRole};
use rumqttc::v5::mqttbytes::v5::PublishProperties;
use serde_json::Value;

use super::broker::Mosquitto;
use super::fixtures::LIMIT;
use crate::support::{eventually, vector_json, vector_path, vector_text};

/// Event directories and the config their topics come from (v0.15.0 used the same layout).
const SETS: [(&str, &str); 3] = [
    ("v1.0.0/manifestbundles", "v1.0.0/mqtt"),
    ("v1.3.0/manifestbundles", "v1.3.0/mqtt"),
    ("v0.15.0/manifests", "v1.0.0/mqtt"),
];

fn properties(vector: &Value, order: &str) -> Vec<(String, String)> {
    let all = vector["userProperties"].as_array().unwrap();
    let value = |key: &str| {
        all.iter()
            .find(|p| p["key"] == key)
            .and_then(|p| p["value"].as_str())
            .unwrap_or_else(|| panic!("no property {key}"))
            .to_owned()
    };
    vector[order]
        .as_array()
        .unwrap_or(all)
        .iter()
        .map(|p| {
            let key = p.as_str().or(p["key"].as_str()).unwrap();
            (key.to_owned(), value(key))
        })
        .collect()
}

fn data_json(event: &Event) -> Option<Value> {
    ext::data_bytes(event).map(|d| serde_json::from_slice(&d).expect("data is JSON"))
}

fn check_vector(path: &Path, config: &MqttConfig) {
    let name = path
        .file_name()
        .unwrap()
        .to_string_lossy()
        .replace(".mqtt.json", "");
    let dir = path.parent().unwrap();
    let vector: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let structured: Event =
        serde_json::from_str(&std::fs::read_to_string(dir.join(format!("{name}.json"))).unwrap())
            .unwrap();
    let content_type = vector["contentType"].as_str().filter(|c| !c.is_empty());
    let payload = vector["payloadText"].as_str().unwrap().as_bytes();

    // Receive: the capture's own (random) property order decodes to the structured event.
    let received = PublishProperties {
        content_type: content_type.map(str::to_owned),
        user_properties: properties(&vector, "capturedUserPropertyOrder"),
        ..PublishProperties::default()
    };
    let decoded =
        binding::decode(Some(&received), payload).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(decoded.id(), structured.id(), "{name}");
    assert_eq!(decoded.ty(), structured.ty(), "{name}");
    assert_eq!(decoded.source(), structured.source(), "{name}");
    assert_eq!(decoded.time(), structured.time(), "{name}");
    assert_eq!(
        decoded.datacontenttype(),
        structured.datacontenttype(),
        "{name}"
    );
    let mut ours: Vec<(String, String)> = decoded
        .iter_extensions()
        .map(|(k, v)| (k.to_owned(), v.to_string()))
        .collect();
    let mut theirs: Vec<(String, String)> = structured
        .iter_extensions()
        .map(|(k, v)| (k.to_owned(), v.to_string()))
        .collect();
    ours.sort();
    theirs.sort();
    assert_eq!(ours, theirs, "{name}: extensions");
    assert_eq!(
        ext::integer(&decoded, ext::RESOURCE_VERSION),
        ext::integer(&structured, ext::RESOURCE_VERSION),
        "{name}"
    );
    assert_eq!(
        ext::timestamp(&decoded, ext::DELETION_TIMESTAMP),
        ext::timestamp(&structured, ext::DELETION_TIMESTAMP),
        "{name}"
    );
    assert_eq!(data_json(&decoded), data_json(&structured), "{name}: data");

    // Send: re-encoding gives sdk-go's properties and payload bytes exactly.
    for (what, event) in [("decoded", &decoded), ("structured", &structured)] {
        let (sent, bytes) = binding::encode(event);
        assert_eq!(
            sent.user_properties,
            properties(&vector, "userProperties"),
            "{name} ({what})"
        );
        assert_eq!(
            sent.content_type.as_deref(),
            content_type,
            "{name} ({what})"
        );
        assert!(sent.payload_format_indicator.is_none() && sent.response_topic.is_none());
        assert_eq!(
            data_json(event).is_none(),
            bytes.is_empty(),
            "{name} ({what})"
        );
    }
    assert_eq!(
        binding::encode(&decoded).1.as_ref(),
        payload,
        "{name}: payload bytes"
    );

    // Topic (§7.4) from the sample config, and QoS.
    let ty: EventType = decoded.ty().parse().unwrap();
    let read = |n| ext::string(&decoded, n).unwrap().unwrap_or_default();
    let topic = match vector["publisherRole"].as_str().unwrap() {
        "source" => config
            .topics
            .source_publish_topic("maestro", &ty, read(ext::CLUSTER_NAME)),
        _ => config
            .topics
            .agent_publish_topic("cluster1", &ty, read(ext::ORIGINAL_SOURCE)),
    };
    assert_eq!(
        topic.unwrap(),
        vector["topic"].as_str().unwrap(),
        "{name}: topic"
    );
    assert_eq!(
        config.pub_qos as u64,
        vector["qos"].as_u64().unwrap(),
        "{name}: qos"
    );
    assert_eq!(vector["retain"], false);
}

#[test]
fn every_mqtt_vector_decodes_re_encodes_and_routes_like_sdk_go() {
    let mut checked = 0;
    for (events, mqtt) in SETS {
        let config = MqttConfig::load(vector_path(&format!("{mqtt}/source-config.yaml"))).unwrap();
        let mut paths: Vec<_> = std::fs::read_dir(vector_path(events))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().ends_with(".mqtt.json"))
            .collect();
        paths.sort();
        for path in paths {
            check_vector(&path, &config);
            checked += 1;
        }
    }
    assert_eq!(checked, 11 + 11 + 7);
}

/// Builds a transport from a vector config file, pointed at `broker`.
fn from_vector_config(broker: &Mosquitto, file: &str, role: TransportRole) -> MqttTransport {
    let text = vector_text(file).replace("127.0.0.1:21883", &broker.host());
    let mut builder = MqttTransport::builder(MqttConfig::from_yaml(&text).unwrap(), role.clone());
    if matches!(role, TransportRole::Source { .. }) {
        builder = builder.client_id("maestro-source-client");
    }
    builder.build().unwrap()
}

#[tokio::test]
async fn connect_and_subscribe_match_the_captured_session() {
    for version in ["v1.0.0", "v1.3.0"] {
        let broker = Mosquitto::start_with(|_| "log_type all\n".to_owned()).await;
        let session = vector_json(&format!("{version}/mqtt/session.json"));
        let source = from_vector_config(
            &broker,
            &format!("{version}/mqtt/source-config.yaml"),
            TransportRole::source("maestro"),
        );
        let agent = from_vector_config(
            &broker,
            &format!("{version}/mqtt/agent-config.yaml"),
            TransportRole::agent("cluster1"),
        );
        for (transport, expected) in [&source, &agent]
            .into_iter()
            .zip(session["subscribes"].as_array().unwrap())
        {
            assert_eq!(
                transport.client_id(),
                expected["clientId"].as_str().unwrap()
            );
            let filters: Vec<&str> = expected["subscriptions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["topicFilter"].as_str().unwrap())
                .collect();
            assert_eq!(transport.subscription_filters(), filters, "{version}");
            let mut inbound = transport.subscribe(&[]).await.unwrap();
            let first = tokio::time::timeout(LIMIT, inbound.recv()).await.unwrap();
            assert!(matches!(first, Some(Inbound::Subscribed)));
        }
        // What Mosquitto saw on the wire: protocol 5, clean start, keep alive, user name.
        for connect in session["connects"].as_array().unwrap() {
            let mut line = format!(
                "as {} (p5, c1, k{}",
                connect["clientId"].as_str().unwrap(),
                connect["keepAliveSeconds"]
            );
            if let Some(user) = connect["username"].as_str() {
                line += &format!(", u'{user}'");
            }
            line += ")";
            eventually(&format!("mosquitto logged {line}"), LIMIT, || {
                let found = broker.log().contains(&line);
                async move { found }
            })
            .await;
        }
        for subscribe in session["subscribes"].as_array().unwrap() {
            for filter in subscribe["subscriptions"].as_array().unwrap() {
                let line = format!(
                    "{} (QoS {})",
                    filter["topicFilter"].as_str().unwrap(),
                    filter["qos"]
                );
                assert!(
                    broker.log().contains(&line),
                    "{version}: no SUBSCRIBE of {line}"
                );
            }
        }
        source.close().await;
        agent.close().await;
        // Closing sends DISCONNECT (Mosquitto logs an unannounced drop as "closed its connection").
        for id in ["maestro-source-client", "cluster1-work-agent-client"] {
            let line = format!("Client {id} disconnected");
            eventually(&format!("mosquitto logged {line}"), LIMIT, || {
                let found = broker.log().contains(&line);
                async move { found }
            })
            .await;
        }
    }
}
