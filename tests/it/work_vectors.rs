//! ManifestWork codecs against sdk-go's vectors (docs/protocol.md §4, §5.3, §6.4): every work event
//! decodes with the receiving side's codec and re-encodes with the sending side's codec to an
//! equivalent event; status hashes and sequence ids match byte for byte.

// Test helpers fail loudly by design.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use baton::cloudevents::{Codec, Event, EventType};
use baton::work::model::{
    DATA_TYPE_ANNOTATION, ManifestWorkStatus, ORIGINAL_SOURCE_LABEL, SEQUENCE_ID_ANNOTATION,
};
use baton::work::sequence::{self, SequenceId};
use baton::work::status_hash;
use baton::work::{BundleAgentCodec, BundleSourceCodec, ManifestAgentCodec, ManifestSourceCodec};
use cloudevents::AttributesReader;
use cloudevents::event::ExtensionValue;
use serde_json::Value;

use crate::support::{vector_json, vector_text};

fn event(relative: &str) -> Event {
    serde_json::from_str(&vector_text(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

fn extensions(event: &Event) -> BTreeMap<String, ExtensionValue> {
    event
        .iter_extensions()
        .map(|(k, v)| (k.to_owned(), v.clone()))
        .collect()
}

fn data(event: &Event) -> Option<Value> {
    baton::cloudevents::extensions::data_bytes(event).map(|b| serde_json::from_slice(&b).unwrap())
}

fn metadata_json(event: &Event) -> Option<Value> {
    match event.extension("metadata") {
        Some(ExtensionValue::String(s)) => Some(serde_json::from_str(s).unwrap()),
        _ => None,
    }
}

/// Same attributes except id and time (and `tolerated` extensions), same data modulo key order.
fn assert_equivalent(name: &str, expected: &Event, actual: &Event, tolerated: &[&str]) {
    assert_eq!(
        actual.specversion(),
        expected.specversion(),
        "{name}: specversion"
    );
    assert_eq!(actual.source(), expected.source(), "{name}: source");
    assert_eq!(actual.ty(), expected.ty(), "{name}: type");
    assert_eq!(
        actual.datacontenttype(),
        expected.datacontenttype(),
        "{name}: content type"
    );
    let strip = |e: &Event| {
        let mut map = extensions(e);
        map.retain(|k, _| !tolerated.contains(&k.as_str()));
        map
    };
    assert_eq!(strip(actual), strip(expected), "{name}: extensions");
    assert_eq!(data(actual), data(expected), "{name}: data");
}

/// v1.0 renders `metadata` with `creationTimestamp: null` and without generation (§10.2).
fn assert_same_metadata_modulo_v1_0(name: &str, expected: &Event, actual: &Event) {
    let Some(mut expected) = metadata_json(expected) else {
        return; // v1.0 agents send none (§10.2 #3).
    };
    let mut actual = metadata_json(actual).expect("metadata sent");
    for meta in [&mut expected, &mut actual] {
        let object = meta.as_object_mut().unwrap();
        object.remove("creationTimestamp");
        object.remove("generation");
    }
    assert_eq!(actual, expected, "{name}: metadata");
}

const BUNDLE_SPECS: [&str; 4] = [
    "01-spec-create",
    "02-spec-update",
    "03-spec-delete",
    "09-spec-resync-response",
];
const BUNDLE_STATUS: [&str; 3] = [
    "04-status-update",
    "05-status-deleted",
    "11-status-resync-response",
];

fn check_bundle_spec(version: &str, name: &str) {
    let path = format!("{version}/manifestbundles/{name}.json");
    let original = event(&path);
    let ty: EventType = original.ty().parse().unwrap();

    // The agent's view (§4.4).
    let work = BundleAgentCodec::new().decode(&original).expect(&path);
    assert_eq!(work.metadata.uid, "03f36550-d4de-565a-b59e-268477dbea7f");
    assert_eq!(
        work.metadata.name, "web-work",
        "{path}: name from the metadata extension"
    );
    assert_eq!(work.metadata.namespace, "cluster1");
    assert_eq!(
        work.metadata.resource_version, "",
        "{path}: agent keeps its own"
    );
    assert_eq!(work.original_source(), Some("maestro"));
    assert_eq!(
        work.metadata
            .annotations
            .get(DATA_TYPE_ANNOTATION)
            .map(String::as_str),
        Some("io.open-cluster-management.works.v1alpha1.manifestbundles")
    );
    let version_ext = original.extension("resourceversion").unwrap().to_string();
    assert_eq!(work.metadata.generation.to_string(), version_ext);

    // The source's view, re-encoded by the source codec.
    let source = BundleSourceCodec::new();
    let held = source.decode_spec(&original).expect(&path);
    if let Some(deletion) = original.extension("deletiontimestamp") {
        let ts = baton::cloudevents::extensions::format_timestamp(
            &work.metadata.deletion_timestamp.unwrap().0,
        );
        assert_eq!(ts, deletion.to_string(), "{path}: full precision");
        assert_eq!(
            work.metadata.finalizers,
            ["cluster.open-cluster-management.io/manifest-work-cleanup"]
        );
        assert!(work.spec.workload.manifests.is_empty());
    } else {
        assert_eq!(
            work.spec, held.spec,
            "{path}: both sides read the same spec"
        );
    }
    let reencoded = source
        .encode(original.source().as_str(), &ty, &held)
        .unwrap();
    if version == "v1.3.0" {
        assert_equivalent(&path, &original, &reencoded, &[]);
    } else {
        assert_equivalent(&path, &original, &reencoded, &["logtracing", "metadata"]);
        assert_same_metadata_modulo_v1_0(&path, &original, &reencoded);
        assert_eq!(reencoded.extension("logtracing").unwrap().to_string(), "{}");
    }
}

fn check_bundle_status(version: &str, name: &str) {
    let path = format!("{version}/manifestbundles/{name}.json");
    let original = event(&path);
    let ty: EventType = original.ty().parse().unwrap();
    let sequence_id = original.extension("sequenceid").unwrap().to_string();

    let mut work = BundleSourceCodec::new().decode(&original).expect(&path);
    assert_eq!(work.sequence_id(), sequence_id);
    assert_eq!(work.metadata.generation, 1);
    assert_eq!(
        work.status.is_deleted(),
        name == "05-status-deleted",
        "{path}"
    );
    let hash = original.extension("statushash").unwrap().to_string();
    assert_eq!(
        status_hash::status_hash(&work.status).unwrap(),
        hash,
        "{path}: status hash"
    );

    // The agent's view of the same work, re-encoded by the agent codec.
    work.metadata.annotations.remove(SEQUENCE_ID_ANNOTATION);
    work.metadata
        .labels
        .entry(ORIGINAL_SOURCE_LABEL.into())
        .or_insert_with(|| original.extension("originalsource").unwrap().to_string());
    let reencoded = BundleAgentCodec::new()
        .encode(original.source().as_str(), &ty, &work)
        .unwrap();
    let new_id: SequenceId = reencoded
        .extension("sequenceid")
        .unwrap()
        .to_string()
        .parse()
        .unwrap();
    assert_eq!(new_id.node(), 1);
    if version == "v1.3.0" {
        assert_equivalent(&path, &original, &reencoded, &["sequenceid"]);
    } else {
        assert_equivalent(
            &path,
            &original,
            &reencoded,
            &["sequenceid", "logtracing", "metadata"],
        );
    }
}

#[test]
fn manifestbundles_vectors_round_trip_through_both_codecs() {
    for version in ["v1.0.0", "v1.3.0"] {
        for name in BUNDLE_SPECS {
            check_bundle_spec(version, name);
        }
        for name in BUNDLE_STATUS {
            check_bundle_status(version, name);
        }
    }
}

#[test]
fn a_resync_delete_without_metadata_or_version_decodes_as_a_deletion() {
    for version in ["v1.0.0", "v1.3.0"] {
        let path = format!("{version}/manifestbundles/10-spec-resync-response-delete.json");
        let mut raw = vector_json(&path);
        let work = BundleAgentCodec::new()
            .decode(&serde_json::from_value(raw.clone()).unwrap())
            .unwrap();
        assert_eq!(work.metadata.uid, "2596ef37-d6cc-539f-afb1-251d922463af");
        assert_eq!(
            work.metadata.name, work.metadata.uid,
            "no metadata: the id is the name"
        );
        assert_eq!(work.metadata.generation, 4);
        assert!(work.metadata.deletion_timestamp.is_some());
        // The v1.3 broker's variant has no resourceversion (§8.6.3): version 0.
        raw.as_object_mut().unwrap().remove("resourceversion");
        let work = BundleAgentCodec::new()
            .decode(&serde_json::from_value(raw).unwrap())
            .unwrap();
        assert_eq!(work.metadata.generation, 0);
        assert!(work.metadata.deletion_timestamp.is_some());
    }
}

#[test]
fn manifests_vectors_round_trip_through_both_codecs() {
    for name in ["01-spec-create", "02-spec-update", "03-spec-delete"] {
        let path = format!("v0.15.0/manifests/{name}.json");
        let original = event(&path);
        let ty: EventType = original.ty().parse().unwrap();
        let work = ManifestAgentCodec::new().decode(&original).expect(&path);
        assert_eq!(work.metadata.name, "7f5c1a2e-3b4d-5e6f-8a9b-0c1d2e3f4a5b");
        let source = ManifestSourceCodec::new();
        let held = source.decode_spec(&original).expect(&path);
        let reencoded = source.encode("maestro", &ty, &held).unwrap();
        assert_equivalent(&path, &original, &reencoded, &[]);
    }
    for name in ["04-status-update", "05-status-deleted"] {
        let path = format!("v0.15.0/manifests/{name}.json");
        let original = event(&path);
        let ty: EventType = original.ty().parse().unwrap();
        let mut work = ManifestSourceCodec::new().decode(&original).expect(&path);
        assert_eq!(work.status.is_deleted(), name == "05-status-deleted");
        assert_eq!(work.status.resource_status.manifests.len(), 1);
        work.metadata.annotations.remove(SEQUENCE_ID_ANNOTATION);
        work.metadata
            .labels
            .insert(ORIGINAL_SOURCE_LABEL.into(), "maestro".into());
        let reencoded = ManifestAgentCodec::new()
            .encode("cluster1-work-agent", &ty, &work)
            .unwrap();
        assert_equivalent(&path, &original, &reencoded, &["sequenceid"]);
        assert!(
            reencoded.extension("statushash").is_none(),
            "§4.9: no status hash"
        );
    }
}

#[test]
fn manifests_agent_decoding_matches_sdk_go_v0_15() {
    let work = ManifestAgentCodec::new()
        .decode(&event("v0.15.0/manifests/01-spec-create.json"))
        .unwrap();
    let mut ours = serde_json::to_value(&work).unwrap();
    // baton also sets generation = resourceversion (its version field, §10.2 #1); v0.15 wrote
    // creationTimestamp null.
    ours["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("generation");
    let mut expected = vector_json("v0.15.0/manifests/01-spec-create.agent-decoded-work.json");
    expected["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("creationTimestamp");
    assert_eq!(ours, expected);
}

#[test]
fn status_hash_vectors_are_reproduced_byte_for_byte() {
    let text = vector_text("statushash.json");
    // Parse from text: the int64 case (9007199254740993) must not pass through a float.
    let vectors: Value = serde_json::from_str(&text).unwrap();
    let cases = vectors["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 6);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let status: ManifestWorkStatus =
            serde_json::from_value(case["status"].clone()).expect(name);
        let bytes = status_hash::hashed_bytes(&status).unwrap();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            case["hashedBytes"].as_str().unwrap(),
            "{name}: bytes"
        );
        assert_eq!(
            status_hash::status_hash(&status).unwrap(),
            case["statusHash"].as_str().unwrap(),
            "{name}"
        );
    }
}

#[test]
fn sequence_id_vectors_decompose_and_compare_like_sdk_go() {
    for version in ["v1.0.0", "v1.3.0"] {
        let vectors = vector_json(&format!("{version}/sequenceid.json"));
        for row in vectors["decomposition"].as_array().unwrap() {
            let id: SequenceId = row["id"].as_str().unwrap().parse().unwrap();
            assert_eq!(id.unix_ms(), row["timeUnixMillis"].as_i64().unwrap());
            assert_eq!(id.node(), row["node"].as_i64().unwrap());
            assert_eq!(id.step(), row["step"].as_i64().unwrap());
        }
        let rows = vectors["compare"].as_array().unwrap();
        assert_eq!(rows.len(), 9);
        for row in rows {
            let (last, current) = (
                row["last"].as_str().unwrap(),
                row["current"].as_str().unwrap(),
            );
            let result = sequence::is_newer(last, current);
            if row.get("error").is_some() {
                assert!(
                    result.is_err(),
                    "{last} -> {current}: expected an error, got {result:?}"
                );
            } else {
                assert_eq!(
                    result,
                    Ok(row["currentIsNewer"].as_bool().unwrap()),
                    "{last} -> {current}"
                );
            }
        }
    }
}

#[test]
fn maestro_captured_status_events_decode_and_their_hashes_match() {
    for name in ["cloudevents.status.maestro.json", "cloudevents.agent.json"] {
        let path = format!("maestro-examples/docs-resources/{name}");
        let original = event(&path);
        let work = BundleSourceCodec::new().decode(&original).expect(&path);
        assert!(!work.status.conditions.is_empty(), "{path}");
        let hash = original.extension("statushash").unwrap().to_string();
        assert_eq!(
            status_hash::status_hash(&work.status).unwrap(),
            hash,
            "{path}: status hash"
        );
    }
}
