//! Every structured event vector (sdk-go's own output, and Maestro's captured events) parses
//! into the SDK's types: envelope, type string (§2.2), extensions in their kinds with the
//! receive-side coercions (§3.2), and the resync payloads (§6.2, §6.3).

use baton::cloudevents::extensions as ext;
use baton::cloudevents::payload::{ResourceVersionList, StatusHashList};
use baton::cloudevents::{Action, Event, EventType, SubResource};
use cloudevents::AttributesReader;

use crate::support::{vector_path, vector_text};

/// The structured-mode event files: `NN-name.json` in the per-version sets, and Maestro's.
fn structured_event_files() -> Vec<String> {
    let mut files = Vec::new();
    for dir in [
        "v0.15.0/manifests",
        "v1.0.0/manifestbundles",
        "v1.3.0/manifestbundles",
    ] {
        for entry in std::fs::read_dir(vector_path(dir)).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            let is_event = name.as_bytes()[0].is_ascii_digit()
                && name.ends_with(".json")
                && !name.ends_with(".pb.json")
                && !name.ends_with(".mqtt.json")
                && !name.contains("agent-decoded");
            if is_event {
                files.push(format!("{dir}/{name}"));
            }
        }
    }
    for name in [
        "cloudevents.agent",
        "cloudevents.grpcclient",
        "cloudevents.spec.maestro",
        "cloudevents.status.maestro",
    ] {
        files.push(format!("maestro-examples/docs-resources/{name}.json"));
    }
    for name in [
        "cloudevent",
        "cloudevent-update",
        "cloudevent-delete",
        "cloudevent-status-resync",
    ] {
        files.push(format!("maestro-examples/examples-cloudevents/{name}.json"));
    }
    files.sort();
    files
}

#[test]
fn every_structured_event_vector_parses_into_sdk_types() {
    let files = structured_event_files();
    assert_eq!(
        files.len(),
        7 + 11 + 11 + 8,
        "vector set changed: {files:?}"
    );
    for file in files {
        let event: Event =
            serde_json::from_str(&vector_text(&file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let event_type: EventType = event.ty().parse().unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(
            event_type.to_string(),
            event.ty(),
            "{file}: type string round trip"
        );
        assert_eq!(
            event_type.data_type.group, "io.open-cluster-management.works",
            "{file}"
        );

        // Every extension reads in its kind (§3.2); the routing ones are strings.
        let cluster =
            ext::string(&event, ext::CLUSTER_NAME).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(cluster.is_some(), "{file}: clustername present");
        ext::string(&event, ext::ORIGINAL_SOURCE).unwrap_or_else(|e| panic!("{file}: {e}"));
        for name in [
            ext::RESOURCE_ID,
            ext::SEQUENCE_ID,
            ext::STATUS_HASH,
            ext::METADATA,
            ext::LOG_TRACING,
        ] {
            ext::string(&event, name).unwrap_or_else(|e| panic!("{file}: {name}: {e}"));
        }
        let version =
            ext::integer(&event, ext::RESOURCE_VERSION).unwrap_or_else(|e| panic!("{file}: {e}"));
        let deleting = ext::timestamp(&event, ext::DELETION_TIMESTAMP)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        if let Some(hash) = ext::string(&event, ext::STATUS_HASH).unwrap() {
            assert!(
                hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
                "{file}: statushash"
            );
        }
        if let Some(metadata) = ext::string(&event, ext::METADATA).unwrap() {
            serde_json::from_str::<serde_json::Value>(metadata)
                .unwrap_or_else(|e| panic!("{file}: metadata: {e}"));
        }

        match (event_type.sub_resource, &event_type.action) {
            (SubResource::Spec, Action::ResyncRequest) => {
                let body: ResourceVersionList =
                    serde_json::from_slice(&ext::data_bytes(&event).unwrap()).unwrap();
                assert!(!body.resource_versions.is_empty(), "{file}");
            }
            (SubResource::Status, Action::ResyncRequest) => {
                let body: StatusHashList =
                    serde_json::from_slice(&ext::data_bytes(&event).unwrap()).unwrap();
                // Maestro's example asks for everything with an empty list.
                assert_eq!(
                    body.status_hashes.is_empty(),
                    file.starts_with("maestro"),
                    "{file}"
                );
            }
            (SubResource::Spec, _) => {
                assert!(
                    ext::string(&event, ext::RESOURCE_ID).unwrap().is_some(),
                    "{file}: spec needs resourceid"
                );
                if file.starts_with("v") {
                    assert!(
                        version.is_some(),
                        "{file}: sdk-go specs carry resourceversion"
                    );
                }
                if event_type.action == Action::DeleteRequest && file.starts_with("v") {
                    assert!(
                        deleting.is_some(),
                        "{file}: deletes carry deletiontimestamp"
                    );
                    assert!(
                        event.data().is_none() && event.datacontenttype().is_none(),
                        "{file}: no data (§4.2)"
                    );
                }
            }
            (SubResource::Status, _) => {
                if file.starts_with("v") {
                    assert!(
                        ext::string(&event, ext::SEQUENCE_ID).unwrap().is_some(),
                        "{file}: sequenceid"
                    );
                }
            }
        }
    }
}

#[test]
fn broadcast_and_addressed_resyncs_are_told_apart_by_empty_strings() {
    let broadcast: Event = serde_json::from_str(&vector_text(
        "v1.3.0/manifestbundles/07-status-resync-request-broadcast.json",
    ))
    .unwrap();
    assert_eq!(
        ext::string(&broadcast, ext::CLUSTER_NAME).unwrap(),
        Some("")
    );
    let to_all_sources: Event = serde_json::from_str(&vector_text(
        "v1.3.0/manifestbundles/08-spec-resync-request.json",
    ))
    .unwrap();
    assert_eq!(
        ext::string(&to_all_sources, ext::ORIGINAL_SOURCE).unwrap(),
        Some("")
    );
    assert_eq!(
        ext::string(&to_all_sources, ext::CLUSTER_NAME).unwrap(),
        Some("cluster1")
    );
}
