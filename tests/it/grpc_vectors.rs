//! The gRPC binding against sdk-go's own bytes (docs/protocol.md §8.1, §8.2, §2.5; C21, C22):
//! every `*.pb.hex` decodes to its `*.pb.json` message and its `*.json` event, and our encoding
//! of the event is byte-identical to the vector.
// Test helpers panic on failure by design.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use ::cloudevents::{AttributesReader, Event};
use base64::Engine as _;
use baton::cloudevents::transport::grpc::binding;
use baton::cloudevents::transport::grpc::proto::cloud_event::Data;
use baton::cloudevents::transport::grpc::proto::cloud_event_attribute_value::Attr;
use baton::cloudevents::transport::grpc::proto::{CloudEvent, CloudEventAttributeValue};
use chrono::{DateTime, SecondsFormat};
use prost::Message as _;
use serde_json::{Map, Value, json};

use crate::support::{vector_json, vector_path, vector_text};

/// Every `*.pb.hex` under the vectors, as paths relative to the vector root.
fn pb_vectors() -> Vec<String> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, root, out);
            } else if path.to_string_lossy().ends_with(".pb.hex") {
                out.push(
                    path.strip_prefix(root)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    let root = vector_path("");
    let mut out = Vec::new();
    walk(&root, &root, &mut out);
    out.sort();
    out
}

fn hex_bytes(relative: &str) -> Vec<u8> {
    let text: String = vector_text(relative).split_whitespace().collect();
    hex::decode(text).unwrap()
}

/// protojson with proto field names, as the `*.pb.json` files were written.
fn protojson(message: &CloudEvent) -> Value {
    let mut out = Map::new();
    for (key, value) in [
        ("id", &message.id),
        ("source", &message.source),
        ("spec_version", &message.spec_version),
        ("type", &message.r#type),
    ] {
        if !value.is_empty() {
            out.insert(key.into(), json!(value));
        }
    }
    if !message.attributes.is_empty() {
        let attributes: Map<String, Value> = message
            .attributes
            .iter()
            .map(|(k, v)| (k.clone(), attribute_json(v)))
            .collect();
        out.insert("attributes".into(), Value::Object(attributes));
    }
    match &message.data {
        Some(Data::BinaryData(b)) => {
            out.insert("binary_data".into(), json!(b64(b)));
        }
        Some(Data::TextData(t)) => {
            out.insert("text_data".into(), json!(t));
        }
        Some(Data::ProtoData(_)) => panic!("no vector has proto_data"),
        None => {}
    }
    Value::Object(out)
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn attribute_json(value: &CloudEventAttributeValue) -> Value {
    match value.attr.as_ref().unwrap() {
        Attr::CeBoolean(b) => json!({ "ce_boolean": b }),
        Attr::CeInteger(i) => json!({ "ce_integer": i }),
        Attr::CeString(s) => json!({ "ce_string": s }),
        Attr::CeBytes(b) => json!({ "ce_bytes": b64(b) }),
        Attr::CeUri(s) => json!({ "ce_uri": s }),
        Attr::CeUriRef(s) => json!({ "ce_uri_ref": s }),
        Attr::CeTimestamp(ts) => {
            let time = DateTime::from_timestamp(ts.seconds, ts.nanos as u32).unwrap();
            // protojson: 0, 3, 6 or 9 fractional digits.
            let format = match ts.nanos {
                0 => SecondsFormat::Secs,
                n if n % 1_000_000 == 0 => SecondsFormat::Millis,
                n if n % 1_000 == 0 => SecondsFormat::Micros,
                _ => SecondsFormat::Nanos,
            };
            json!({ "ce_timestamp": time.to_rfc3339_opts(format, true) })
        }
    }
}

fn data_json(event: &Event) -> Option<Value> {
    baton::cloudevents::extensions::data_bytes(event).map(|b| serde_json::from_slice(&b).unwrap())
}

fn assert_same_event(decoded: &Event, expected: &Event, name: &str) {
    assert_eq!(decoded.id(), expected.id(), "{name}: id");
    assert_eq!(decoded.source(), expected.source(), "{name}: source");
    assert_eq!(decoded.ty(), expected.ty(), "{name}: type");
    assert_eq!(
        decoded.specversion(),
        expected.specversion(),
        "{name}: specversion"
    );
    assert_eq!(decoded.time(), expected.time(), "{name}: time");
    assert_eq!(
        decoded.datacontenttype(),
        expected.datacontenttype(),
        "{name}: content type"
    );
    let extensions = |e: &Event| {
        let mut all: Vec<(String, String)> = e
            .iter_extensions()
            .map(|(k, v)| (k.to_owned(), format!("{v:?}")))
            .collect();
        all.sort();
        all
    };
    assert_eq!(
        extensions(decoded),
        extensions(expected),
        "{name}: extensions"
    );
    assert_eq!(data_json(decoded), data_json(expected), "{name}: data");
}

#[test]
fn every_pb_vector_decodes_to_its_message_and_event_and_encodes_back_to_the_same_bytes() {
    let vectors = pb_vectors();
    assert!(
        vectors.len() >= 30,
        "found only {} pb vectors",
        vectors.len()
    );
    for hex_path in vectors {
        let stem = hex_path.trim_end_matches(".pb.hex");
        let bytes = hex_bytes(&hex_path);
        let message = CloudEvent::decode(bytes.as_slice()).unwrap();
        assert_eq!(
            protojson(&message),
            vector_json(&format!("{stem}.pb.json")),
            "{stem}.pb.json"
        );
        if binding::is_heartbeat(&message) {
            assert_eq!(binding::heartbeat().r#type, message.r#type);
            continue;
        }
        let decoded = binding::from_proto(message.clone()).unwrap();
        let expected: Event = serde_json::from_str(&vector_text(&format!("{stem}.json"))).unwrap();
        assert_same_event(&decoded, &expected, stem);
        // Round trip of what we received: byte-identical.
        let reencoded = binding::to_proto(&decoded).unwrap().encode_to_vec();
        assert_eq!(
            hex::encode(&reencoded),
            hex::encode(&bytes),
            "{stem}: round trip"
        );
        // The structured event encoded by us. Its data is pretty-printed JSON in the `.json`
        // file (not Go's compact bytes), so the payload bytes are taken from the vector; every
        // attribute, kind and key is ours.
        let mut ours = expected.clone();
        if let Some(Data::BinaryData(payload)) = &message.data {
            ours.set_data_unchecked(payload.clone());
        }
        let encoded = binding::to_proto(&ours).unwrap().encode_to_vec();
        assert_eq!(
            hex::encode(&encoded),
            hex::encode(&bytes),
            "{stem}: our encoding"
        );
    }
}

#[test]
fn heartbeat_vector_is_recognised_and_our_heartbeat_has_its_shape() {
    let message = CloudEvent::decode(hex_bytes("v1.3.0/grpc/heartbeat.pb.hex").as_slice()).unwrap();
    assert!(binding::is_heartbeat(&message));
    let mut ours = binding::heartbeat();
    assert!(uuid::Uuid::parse_str(&ours.id).is_ok());
    ours.id = message.id.clone();
    assert_eq!(ours.encode_to_vec(), message.encode_to_vec());
}

#[test]
fn text_data_and_structured_mode_are_accepted() {
    let bytes = hex_bytes("v1.3.0/manifestbundles/04-status-update.pb.hex");
    let message = CloudEvent::decode(bytes.as_slice()).unwrap();
    let binary = binding::from_proto(message.clone()).unwrap();

    let mut text = message.clone();
    if let Some(Data::BinaryData(b)) = &message.data {
        text.data = Some(Data::TextData(String::from_utf8(b.clone()).unwrap()));
    }
    assert_same_event(&binding::from_proto(text).unwrap(), &binary, "text_data");

    let structured = CloudEvent {
        attributes: [(
            "contenttype".to_owned(),
            CloudEventAttributeValue {
                attr: Some(Attr::CeString("application/cloudevents+json".into())),
            },
        )]
        .into(),
        data: Some(Data::BinaryData(serde_json::to_vec(&binary).unwrap())),
        ..CloudEvent::default()
    };
    assert_same_event(
        &binding::from_proto(structured).unwrap(),
        &binary,
        "structured",
    );
}

#[test]
fn bad_messages_are_typed_errors() {
    let no_version = CloudEvent {
        id: "1".into(),
        source: "s".into(),
        r#type: "a.b.c.spec.create_request".into(),
        ..CloudEvent::default()
    };
    assert!(matches!(
        binding::from_proto(no_version),
        Err(binding::BindingError::SpecVersion(_))
    ));
    let wrong_kind = CloudEvent {
        id: "1".into(),
        source: "s".into(),
        spec_version: "1.0".into(),
        r#type: "a.b.c.spec.create_request".into(),
        attributes: [(
            "ce-time".to_owned(),
            CloudEventAttributeValue {
                attr: Some(Attr::CeInteger(3)),
            },
        )]
        .into(),
        data: None,
    };
    assert!(matches!(
        binding::from_proto(wrong_kind),
        Err(binding::BindingError::AttributeKind { .. })
    ));
}
