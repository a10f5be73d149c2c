//! Scenario 3: the same status gives the same hash in Go and in baton, and events cross in both
//! directions through sdk-go's codecs and its gRPC protobuf binding, with every extension kind
//! (String, Integer `resourceversion`, Timestamp `deletiontimestamp`; docs/protocol.md §3.2, §4, §6.4,
//! §8.2).

use base64::Engine as _;
use baton::cloudevents::transport::grpc::binding::{from_proto, to_proto};
use baton::cloudevents::transport::grpc::proto::CloudEvent;
use baton::cloudevents::{Action, Codec, Event, EventType, SubResource};
use baton::work::model::{ManifestWork, ManifestWorkStatus, manifest_bundles_data_type};
use baton::work::{BundleAgentCodec, BundleSourceCodec, status_hash};
use prost::Message as _;
use serde_json::{Value, json};

use super::go::GoProcess;
use crate::support::vector_json;

/// An annotation the codecs carry in the `logtracing` extension (§3.1).
const LOG_TRACE: &str = "logging.open-cluster-management.io/trace-id";

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

fn ty(sub: SubResource, action: Action) -> EventType {
    EventType::new(manifest_bundles_data_type(), sub, action)
}

fn pb_bytes(event: &Event) -> String {
    B64.encode(to_proto(event).unwrap().encode_to_vec())
}

fn from_pb(b64: &Value) -> Event {
    let bytes = B64.decode(b64.as_str().expect("pb in reply")).unwrap();
    from_proto(CloudEvent::decode(bytes.as_slice()).unwrap()).unwrap()
}

/// A work with two manifests, a delete option, manifest configs, labels and annotations that
/// need Go's JSON escaping.
pub fn web_work(cluster: &str, uid: &str, generation: i64) -> ManifestWork {
    serde_json::from_value(json!({
        "metadata": {
            "name": "web-work", "namespace": cluster, "uid": uid,
            "resourceVersion": generation.to_string(), "generation": generation,
            "labels": {"app": "web"},
            "annotations": {"note": "<a & b> é", LOG_TRACE: "trace-42"}
        },
        "spec": {
            "workload": {"manifests": [
                {"apiVersion": "v1", "kind": "ConfigMap",
                 "metadata": {"name": "web-config", "namespace": "default"},
                 "data": {"greeting": "<héllo> & \"bye\""}},
                {"apiVersion": "apps/v1", "kind": "Deployment",
                 "metadata": {"name": "web", "namespace": "default"},
                 "spec": {"replicas": generation}}
            ]},
            "deleteOption": {"propagationPolicy": "SelectivelyOrphan", "selectivelyOrphans":
                {"orphaningRules": [{"group": "", "resource": "configmaps",
                                     "name": "web-config", "namespace": "default"}]}},
            "manifestConfigs": [{
                "resourceIdentifier": {"group": "apps", "resource": "deployments",
                                       "name": "web", "namespace": "default"},
                "feedbackRules": [{"type": "JSONPaths",
                                   "jsonPaths": [{"name": "replicas", "path": ".status.replicas"}]}],
                "updateStrategy": {"type": "ServerSideApply",
                                   "serverSideApply": {"fieldManager": "work-agent", "force": true}}
            }]
        }
    }))
    .unwrap()
}

/// A status with conditions, resource status and every feedback value type.
pub fn web_status(generation: i64) -> ManifestWorkStatus {
    serde_json::from_value(json!({
        "conditions": [
            {"type": "Applied", "status": "True", "observedGeneration": generation,
             "lastTransitionTime": "2025-06-01T12:00:05Z", "reason": "AppliedManifestWorkComplete",
             "message": "Apply <manifest> work & complete \u{2028} tab\there"},
            {"type": "Available", "status": "True", "observedGeneration": generation,
             "lastTransitionTime": "2025-06-01T12:00:05Z", "reason": "ResourcesAvailable",
             "message": ""}
        ],
        "resourceStatus": {"manifests": [{
            "resourceMeta": {"ordinal": 1, "group": "apps", "version": "v1", "kind": "Deployment",
                             "resource": "deployments", "name": "web", "namespace": "default"},
            "statusFeedback": {"values": [
                {"name": "replicas", "fieldValue": {"type": "Integer", "integer": 9007199254740993_i64}},
                {"name": "phase", "fieldValue": {"type": "String", "string": "Running"}},
                {"name": "ready", "fieldValue": {"type": "Boolean", "boolean": true}},
                {"name": "raw", "fieldValue": {"type": "JsonRaw", "jsonRaw": "{\"a\":[1,2]}"}}
            ]},
            "conditions": [{"type": "Available", "status": "True",
                            "lastTransitionTime": "2025-06-01T12:00:05Z",
                            "reason": "ResourceAvailable", "message": "ok"}]
        }]}
    }))
    .unwrap()
}

#[tokio::test]
async fn go_and_baton_compute_the_same_status_hash() {
    let mut go = GoProcess::spawn(&["codec"]).await;
    let mut statuses: Vec<Value> = vector_json("statushash.json")["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|case| case["status"].clone())
        .collect();
    statuses.push(serde_json::to_value(web_status(3)).unwrap());
    for status in statuses {
        let ours =
            status_hash::status_hash(&serde_json::from_value(status.clone()).unwrap()).unwrap();
        let reply = go.request(json!({"op": "hash", "status": status})).await;
        assert_eq!(reply["error"], Value::Null, "{reply}");
        assert_eq!(reply["hash"], ours.as_str(), "status {status}");
    }
    go.stop().await;
}

/// Baton's source codec → protobuf → sdk-go's agent codec: the work arrives whole, and the
/// extensions have the kinds sdk-go gives them.
#[tokio::test]
async fn spec_events_from_baton_decode_in_sdk_go() {
    let mut go = GoProcess::spawn(&["codec"]).await;
    let work = web_work("cluster1", "03f36550-d4de-565a-b59e-268477dbea7f", 2);
    for action in [
        Action::CreateRequest,
        Action::UpdateRequest,
        Action::ResyncResponse,
    ] {
        let event = BundleSourceCodec::new()
            .encode("baton", &ty(SubResource::Spec, action.clone()), &work)
            .unwrap();
        let reply = go
            .request(json!({"op": "decode-spec", "pb": pb_bytes(&event)}))
            .await;
        assert_eq!(reply["error"], Value::Null, "{action:?}: {reply}");
        let got = &reply["work"];
        assert_eq!(got["metadata"]["uid"], work.metadata.uid.as_str());
        assert_eq!(got["metadata"]["name"], "web-work");
        assert_eq!(got["metadata"]["namespace"], "cluster1");
        assert_eq!(got["metadata"]["generation"], 2);
        assert_eq!(got["metadata"]["labels"]["app"], "web");
        assert_eq!(
            got["metadata"]["labels"]["cloudevents.open-cluster-management.io/originalsource"],
            "baton"
        );
        assert_eq!(got["metadata"]["annotations"]["note"], "<a & b> é");
        assert_eq!(got["metadata"]["annotations"][LOG_TRACE], "trace-42");
        assert_eq!(reply["extensions"]["logtracing"]["goType"], "string");
        assert_eq!(
            got["spec"],
            serde_json::to_value(&work.spec).unwrap(),
            "{action:?}"
        );
        let exts = &reply["extensions"];
        assert_eq!(exts["resourceversion"]["goType"], "int32", "{exts}");
        assert_eq!(exts["resourceversion"]["value"], "2");
        assert_eq!(exts["clustername"]["goType"], "string");
        assert_eq!(exts["resourceid"]["value"], work.metadata.uid.as_str());
    }

    let mut deleting = work.clone();
    let at: chrono::DateTime<chrono::Utc> = "2025-06-01T12:00:07.123456789Z".parse().unwrap();
    deleting.metadata.deletion_timestamp = Some(baton::work::model::Time(at));
    let event = BundleSourceCodec::new()
        .encode(
            "baton",
            &ty(SubResource::Spec, Action::DeleteRequest),
            &deleting,
        )
        .unwrap();
    let reply = go
        .request(json!({"op": "decode-spec", "pb": pb_bytes(&event)}))
        .await;
    assert_eq!(reply["error"], Value::Null, "{reply}");
    let exts = &reply["extensions"];
    assert_eq!(
        exts["deletiontimestamp"]["goType"], "types.Timestamp",
        "{exts}"
    );
    let go_at: chrono::DateTime<chrono::Utc> = reply["event"]["deletiontimestamp"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(go_at, at, "full precision survives");
    assert!(reply["work"]["metadata"]["deletionTimestamp"].is_string());
    assert!(
        reply["work"]["metadata"]["finalizers"]
            .as_array()
            .unwrap()
            .contains(&json!(
                "cluster.open-cluster-management.io/manifest-work-cleanup"
            ))
    );
    go.stop().await;
}

/// Baton's agent codec → protobuf → sdk-go's source codec: status, sequence id and version.
#[tokio::test]
async fn status_events_from_baton_decode_in_sdk_go() {
    let mut go = GoProcess::spawn(&["codec"]).await;
    let mut work = web_work("cluster1", "03f36550-d4de-565a-b59e-268477dbea7f", 3);
    work.metadata.labels.insert(
        "cloudevents.open-cluster-management.io/originalsource".into(),
        "maestro".into(),
    );
    work.status = web_status(3);
    let event = BundleAgentCodec::new()
        .encode(
            "cluster1-agent",
            &ty(SubResource::Status, Action::UpdateRequest),
            &work,
        )
        .unwrap();
    let reply = go
        .request(json!({"op": "decode-status", "pb": pb_bytes(&event)}))
        .await;
    assert_eq!(reply["error"], Value::Null, "{reply}");
    let got = &reply["work"];
    assert_eq!(got["metadata"]["uid"], work.metadata.uid.as_str());
    assert_eq!(got["metadata"]["generation"], 3);
    assert_eq!(got["status"], serde_json::to_value(&work.status).unwrap());
    let seq = baton::cloudevents::extensions::string(&event, "sequenceid")
        .unwrap()
        .unwrap();
    assert_eq!(
        got["metadata"]["annotations"]["cloudevents.open-cluster-management.io/sequenceid"],
        seq
    );
    let exts = &reply["extensions"];
    assert_eq!(exts["originalsource"]["value"], "maestro");
    assert_eq!(exts["resourceversion"]["goType"], "int32");
    // Go hashes the status it decoded to the hash baton put on the event.
    let hash = go
        .request(json!({"op": "hash", "status": got["status"]}))
        .await;
    assert_eq!(hash["hash"], exts["statushash"]["value"]);
    go.stop().await;
}

/// sdk-go's source codec → protobuf → baton's agent codec, create and delete.
#[tokio::test]
async fn spec_events_from_sdk_go_decode_in_baton() {
    let mut go = GoProcess::spawn(&["codec"]).await;
    let work = web_work("cluster1", "5b1e6f0e-6d1c-4a55-9a7e-0c8f3f7f2a10", 4);
    let create = ty(SubResource::Spec, Action::CreateRequest).to_string();
    let reply = go
        .request(json!({"op": "encode-spec", "type": create, "source": "maestro", "work": work}))
        .await;
    assert_eq!(reply["error"], Value::Null, "{reply}");
    let decoded = BundleAgentCodec::new()
        .decode(&from_pb(&reply["pb"]))
        .unwrap();
    assert_eq!(decoded.metadata.uid, work.metadata.uid);
    assert_eq!(decoded.metadata.name, "web-work");
    assert_eq!(decoded.metadata.generation, 4);
    assert_eq!(decoded.original_source(), Some("maestro"));
    assert_eq!(reply["extensions"]["logtracing"]["goType"], "string");
    assert_eq!(decoded.metadata.annotations[LOG_TRACE], "trace-42");
    // Manifests are kept as raw JSON text; Go escapes `<`, `>`, `&`, so compare as JSON.
    assert_eq!(
        serde_json::to_value(&decoded.spec).unwrap(),
        serde_json::to_value(&work.spec).unwrap()
    );

    let mut deleting = serde_json::to_value(&work).unwrap();
    deleting["metadata"]["deletionTimestamp"] = "2025-06-01T12:00:07Z".into();
    let delete = ty(SubResource::Spec, Action::DeleteRequest).to_string();
    let reply = go
        .request(
            json!({"op": "encode-spec", "type": delete, "source": "maestro", "work": deleting}),
        )
        .await;
    assert_eq!(
        reply["extensions"]["deletiontimestamp"]["goType"],
        "types.Timestamp"
    );
    let decoded = BundleAgentCodec::new()
        .decode(&from_pb(&reply["pb"]))
        .unwrap();
    let at = decoded.metadata.deletion_timestamp.expect("deleting");
    assert_eq!(at.0.to_rfc3339(), "2025-06-01T12:00:07+00:00");
    go.stop().await;
}

/// sdk-go's agent codec → protobuf → baton's source codec; baton's hash of what it decoded is
/// the `statushash` sdk-go sent.
#[tokio::test]
async fn status_events_from_sdk_go_decode_in_baton() {
    let mut go = GoProcess::spawn(&["codec"]).await;
    let mut work = serde_json::to_value(web_work(
        "cluster1",
        "5b1e6f0e-6d1c-4a55-9a7e-0c8f3f7f2a10",
        5,
    ))
    .unwrap();
    work["metadata"]["labels"]["cloudevents.open-cluster-management.io/originalsource"] =
        "baton".into();
    work["status"] = serde_json::to_value(web_status(5)).unwrap();
    let update = ty(SubResource::Status, Action::UpdateRequest).to_string();
    let reply = go
        .request(json!({"op": "encode-status", "type": update, "source": "cluster1-agent", "work": work}))
        .await;
    assert_eq!(reply["error"], Value::Null, "{reply}");
    let event = from_pb(&reply["pb"]);
    let decoded = BundleSourceCodec::new().decode(&event).unwrap();
    assert_eq!(decoded.status, web_status(5));
    assert_eq!(decoded.metadata.generation, 5);
    assert!(!decoded.sequence_id().is_empty());
    let sent = baton::cloudevents::extensions::string(&event, "statushash")
        .unwrap()
        .unwrap();
    assert_eq!(status_hash::status_hash(&decoded.status).unwrap(), sent);
    go.stop().await;
}
