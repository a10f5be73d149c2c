//! What crosses the broker, seen by a plain MQTT v5 client (§7.6, §7.7): baton's PUBLISH has the
//! vectors' properties; binary and structured messages from others decode; garbage and unknown
//! types are counted and the receive loop goes on.

use std::time::Duration;

use ::cloudevents::{AttributesReader, Event};
use baton::cloudevents::DataType;
use baton::cloudevents::transport::mqtt::binding::STRUCTURED_CONTENT_TYPE;
use baton::cloudevents::transport::{Inbound, Transport, TransportRole};
use bytes::Bytes;
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Packet, Publish, PublishProperties};
use rumqttc::v5::{AsyncClient, Event as MqttEvent, MqttOptions};
use serde_json::Value;
use tokio::sync::mpsc;

use super::broker::Mosquitto;
use super::fixtures::LIMIT;
use crate::support::{eventually, vector_json};

const SPEC_TOPIC: &str = "sources/maestro/consumers/cluster1/sourceevents";

/// A plain rumqttc v5 client subscribed to `filter`; received PUBLISHes come out of the channel.
async fn raw_client(
    broker: &Mosquitto,
    id: &str,
    filter: &str,
) -> (AsyncClient, mpsc::Receiver<Publish>) {
    let mut options = MqttOptions::new(id, "127.0.0.1", broker.port);
    options.set_max_packet_size(Some(1 << 20));
    let (client, mut eventloop) = AsyncClient::new(options, 64);
    let (tx, rx) = mpsc::channel(64);
    client.subscribe(filter, QoS::AtLeastOnce).await.unwrap();
    let (subacked_tx, subacked) = tokio::sync::oneshot::channel();
    let mut subacked_tx = Some(subacked_tx);
    tokio::spawn(async move {
        while let Ok(event) = eventloop.poll().await {
            match event {
                MqttEvent::Incoming(Packet::SubAck(_)) => {
                    if let Some(tx) = subacked_tx.take() {
                        let _ = tx.send(());
                    }
                }
                MqttEvent::Incoming(Packet::Publish(p)) => {
                    let _receiver_gone = tx.send(p).await;
                }
                _ => {}
            }
        }
    });
    tokio::time::timeout(LIMIT, subacked)
        .await
        .unwrap()
        .unwrap();
    (client, rx)
}

fn structured(relative: &str) -> Event {
    serde_json::from_value(vector_json(relative)).expect("structured vector parses")
}

#[tokio::test]
async fn what_baton_publishes_matches_the_vectors() {
    let broker = Mosquitto::start().await;
    let (_raw, mut received) = raw_client(&broker, "observer", "sources/#").await;
    let source = broker.transport(TransportRole::source("maestro"), "");
    source.wait_connected(LIMIT).await.unwrap();
    for name in [
        "01-spec-create",
        "03-spec-delete",
        "07-status-resync-request-broadcast",
    ] {
        let vector = vector_json(&format!("v1.3.0/manifestbundles/{name}.mqtt.json"));
        let event = structured(&format!("v1.3.0/manifestbundles/{name}.json"));
        source.publish(&event).await.unwrap();
        let publish = tokio::time::timeout(LIMIT, received.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&publish.topic),
            vector["topic"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(publish.qos, QoS::AtLeastOnce);
        assert!(!publish.retain);
        let properties = publish.properties.clone().unwrap_or_default();
        let content_type = vector["contentType"].as_str().filter(|c| !c.is_empty());
        assert_eq!(properties.content_type.as_deref(), content_type, "{name}");
        assert!(properties.payload_format_indicator.is_none());
        let expected: Vec<(String, String)> = vector["userProperties"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["key"].as_str().unwrap().into(),
                    p["value"].as_str().unwrap().into(),
                )
            })
            .collect();
        assert_eq!(properties.user_properties, expected, "{name}");
        let text = vector["payloadText"].as_str().unwrap();
        if text.is_empty() {
            assert!(publish.payload.is_empty());
        } else {
            let ours: Value = serde_json::from_slice(&publish.payload).unwrap();
            assert_eq!(ours, serde_json::from_str::<Value>(text).unwrap(), "{name}");
        }
    }
    source.close().await;
}

#[tokio::test]
async fn binary_and_structured_messages_decode_and_garbage_is_counted() {
    let broker = Mosquitto::start().await;
    let agent = broker.transport(TransportRole::agent("cluster1"), "");
    let manifestbundles: DataType = "io.open-cluster-management.works.v1alpha1.manifestbundles"
        .parse()
        .unwrap();
    let mut inbound = agent.subscribe(&[manifestbundles]).await.unwrap();
    let first = tokio::time::timeout(LIMIT, inbound.recv()).await.unwrap();
    assert!(matches!(first, Some(Inbound::Subscribed)));

    let options = MqttOptions::new("sender", "127.0.0.1", broker.port);
    let (sender, mut eventloop) = AsyncClient::new(options, 64);
    tokio::spawn(async move { while eventloop.poll().await.is_ok() {} });
    let send = |properties: PublishProperties, payload: Vec<u8>| {
        let sender = sender.clone();
        async move {
            sender
                .publish_with_properties(
                    SPEC_TOPIC,
                    QoS::AtLeastOnce,
                    false,
                    Bytes::from(payload),
                    properties,
                )
                .await
                .unwrap();
        }
    };

    // Garbage first: counted, and the loop goes on.
    send(PublishProperties::default(), b"not a cloudevent".to_vec()).await;
    // An unknown type: counted as malformed.
    let unknown = PublishProperties {
        user_properties: [
            ("ce-specversion", "1.0"),
            ("ce-id", "x"),
            ("ce-source", "s"),
            ("ce-type", "nonsense"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .to_vec(),
        ..PublishProperties::default()
    };
    send(unknown, Vec::new()).await;
    // Structured mode.
    let structured_event = structured("v1.3.0/manifestbundles/02-spec-update.json");
    let as_structured = PublishProperties {
        content_type: Some(STRUCTURED_CONTENT_TYPE.into()),
        ..PublishProperties::default()
    };
    send(
        as_structured,
        serde_json::to_vec(&structured_event).unwrap(),
    )
    .await;
    // Binary mode exactly as sdk-go sent it, properties in the order of that capture.
    let vector = vector_json("v1.0.0/manifestbundles/01-spec-create.mqtt.json");
    let by_key = |key: &str| {
        vector["userProperties"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["key"] == key)
            .map(|p| (key.to_owned(), p["value"].as_str().unwrap().to_owned()))
            .unwrap()
    };
    let binary = PublishProperties {
        content_type: Some("application/json".into()),
        user_properties: vector["capturedUserPropertyOrder"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| by_key(k.as_str().unwrap()))
            .collect(),
        ..PublishProperties::default()
    };
    send(
        binary,
        vector["payloadText"].as_str().unwrap().as_bytes().to_vec(),
    )
    .await;

    let mut ids = Vec::new();
    while ids.len() < 2 {
        match tokio::time::timeout(LIMIT, inbound.recv()).await.unwrap() {
            Some(Inbound::Event(event)) => ids.push(event.id().to_owned()),
            other => panic!("unexpected {other:?}"),
        }
    }
    let binary_id = by_key("ce-id").1;
    assert_eq!(ids, [structured_event.id().to_owned(), binary_id]);
    eventually(
        "garbage and unknown type counted",
        Duration::from_secs(5),
        || {
            let stats = agent.stats();
            async move { stats.malformed == 2 && stats.received == 2 }
        },
    )
    .await;
    agent.close().await;
}
