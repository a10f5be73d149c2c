//! The gRPC source API (`--source-grpc-addr`, docs/maestro.md) called directly over tonic, on
//! both stores: bad input is `InvalidArgument` naming the part; versions follow Maestro (0 takes
//! the stored one, a stale one is a Kubernetes Conflict in the message); a source changes only
//! what it owns; an id is created once.

use baton::cloudevents::transport::grpc::binding;
use baton::cloudevents::transport::grpc::proto::cloud_event_service_client::CloudEventServiceClient;
use baton::cloudevents::transport::grpc::proto::{PublishRequest, SubscriptionRequest};
use baton::cloudevents::{Action, Codec, EventBuilder, EventType, SubResource};
use baton::work::codec::BundleSourceCodec;
use baton::work::model::{ManifestWork, manifest_bundles_data_type};
use serde_json::json;
use tonic::Code;
use tonic::transport::Channel;

use crate::e2e::{Proc, Stack, Via};
use crate::harness::{Backend, backend_tests, configmap};
use crate::support::free_port;

const ID: &str = "5b1c8e0e-6f1a-4c0b-9d2e-1a2b3c4d5e6f";

async fn hub(backend: Backend) -> (Stack, Proc, CloudEventServiceClient<Channel>) {
    let stack = Stack::new(Via::Grpc, backend).await;
    let addr = format!("127.0.0.1:{}", free_port());
    let hub = stack
        .start_hub_with(&["--source-grpc-addr".into(), addr.clone()])
        .await;
    let client = CloudEventServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    (stack, hub, client)
}

fn spec_type(action: Action) -> EventType {
    EventType::new(manifest_bundles_data_type(), SubResource::Spec, action)
}

fn work(cluster: &str, id: &str, version: i64, value: &str) -> ManifestWork {
    serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": cluster, "uid": id, "generation": version,
                     "labels": {"app": "web"}},
        "spec": {"workload": {"manifests": [configmap(value)]}}
    }))
    .unwrap()
}

fn request(source: &str, action: Action, work: &ManifestWork) -> PublishRequest {
    let event = BundleSourceCodec::new()
        .encode(source, &spec_type(action), work)
        .unwrap();
    PublishRequest {
        event: Some(binding::to_proto(&event).unwrap()),
    }
}

/// A create whose data is `data`, past the SDK's own checks.
fn raw_create(cluster: &str, id: &str, data: serde_json::Value) -> PublishRequest {
    let event = EventBuilder::new("maestro", &spec_type(Action::CreateRequest))
        .cluster_name(cluster)
        .resource_id(id)
        .resource_version(0)
        .json_data(serde_json::to_vec(&data).unwrap())
        .build()
        .unwrap();
    PublishRequest {
        event: Some(binding::to_proto(&event).unwrap()),
    }
}

fn refused<T: std::fmt::Debug>(result: Result<T, tonic::Status>, code: Code, part: &str) {
    let status = result.expect_err("refused");
    assert_eq!(status.code(), code, "{status:?}");
    assert!(
        status.message().contains(part),
        "{part:?} not in {status:?}"
    );
}

async fn bad_input_is_invalid_argument_naming_the_part(backend: Backend) {
    let (stack, hub, mut client) = hub(backend).await;
    let cluster = stack.cluster("bad");
    stack.rest.consumer(&cluster).await;
    let unknown = client
        .publish(request(
            "maestro",
            Action::CreateRequest,
            &work("nowhere", ID, 0, "a"),
        ))
        .await;
    refused(unknown, Code::InvalidArgument, "clustername");
    let empty = client
        .publish(raw_create(&cluster, ID, json!({"manifests": []})))
        .await;
    refused(empty, Code::InvalidArgument, "manifests");
    let not_uuid = client
        .publish(request(
            "maestro",
            Action::CreateRequest,
            &work(&cluster, "web-1", 0, "a"),
        ))
        .await;
    refused(not_uuid, Code::InvalidArgument, "resourceid");
    let mut nul = work(&cluster, ID, 0, "a");
    nul.metadata.labels.insert("k".into(), "a\0b".into());
    let nul = client
        .publish(request("maestro", Action::CreateRequest, &nul))
        .await;
    refused(nul, Code::InvalidArgument, "metadata.labels");
    let status = EventBuilder::new(
        "maestro",
        &EventType::new(
            manifest_bundles_data_type(),
            SubResource::Status,
            Action::UpdateRequest,
        ),
    )
    .cluster_name(&cluster)
    .resource_id(ID)
    .build()
    .unwrap();
    let status = client
        .publish(PublishRequest {
            event: Some(binding::to_proto(&status).unwrap()),
        })
        .await;
    refused(status, Code::InvalidArgument, "type");
    let as_agent = client
        .subscribe(SubscriptionRequest {
            source: String::new(),
            cluster_name: cluster.clone(),
            data_type: manifest_bundles_data_type().to_string(),
        })
        .await;
    refused(as_agent, Code::InvalidArgument, "source");
    let other_type = client
        .subscribe(SubscriptionRequest {
            source: "maestro".into(),
            cluster_name: String::new(),
            data_type: "io.example.v1.widgets".into(),
        })
        .await;
    refused(other_type, Code::InvalidArgument, "data_type");
    let (_, page) = stack.rest.get("/api/v1/resources").await;
    assert_eq!(page["total"], 0, "nothing stored: {page}");
    let metrics = stack.rest.metrics().await;
    assert!(
        metrics.contains(r#"baton_source_api_requests_total{call="publish",outcome="invalid"} 5"#),
        "{metrics}"
    );
    hub.stop().await;
}

async fn versions_and_ownership_follow_maestro(backend: Backend) {
    let (stack, hub, mut client) = hub(backend).await;
    let cluster = stack.cluster("ver");
    stack.rest.consumer(&cluster).await;
    // The create's version is the source's business: the resource starts at 1.
    client
        .publish(request(
            "maestro",
            Action::CreateRequest,
            &work(&cluster, ID, 0, "a"),
        ))
        .await
        .unwrap();
    let again = client
        .publish(request(
            "maestro",
            Action::CreateRequest,
            &work(&cluster, ID, 0, "a"),
        ))
        .await;
    refused(again, Code::AlreadyExists, "AlreadyExists");
    let stored = stack.resource(ID).await.unwrap();
    assert_eq!(
        (stored["version"].as_i64(), stored["name"].as_str()),
        (Some(1), Some("web"))
    );
    // Version 0 takes the stored one.
    client
        .publish(request(
            "maestro",
            Action::UpdateRequest,
            &work(&cluster, ID, 0, "b"),
        ))
        .await
        .unwrap();
    assert_eq!(stack.resource(ID).await.unwrap()["version"], 2);
    // A stale one is a Conflict the client can read.
    let stale = client
        .publish(request(
            "maestro",
            Action::UpdateRequest,
            &work(&cluster, ID, 1, "c"),
        ))
        .await;
    let status = stale.expect_err("stale");
    assert_eq!(status.code(), Code::FailedPrecondition);
    let body: serde_json::Value = serde_json::from_str(status.message()).unwrap();
    assert_eq!(body["ErrStatus"]["reason"], "Conflict", "{body}");
    // Another source may not touch it.
    let foreign = client
        .publish(request(
            "intruder",
            Action::DeleteRequest,
            &work(&cluster, ID, 0, "b"),
        ))
        .await;
    refused(foreign, Code::PermissionDenied, "belongs to source");
    assert!(stack.resource(ID).await.unwrap()["deleted_at"].is_null());
    // Its owner may: marked deleting (no agent here to confirm).
    let mut deleting = work(&cluster, ID, 0, "b");
    deleting.metadata.deletion_timestamp = Some(baton::work::model::Time::now());
    client
        .publish(request("maestro", Action::DeleteRequest, &deleting))
        .await
        .unwrap();
    // Marked deleting; or already gone, if the publisher sent the delete first (a resource
    // no agent ever reported on is removed once its delete is sent, docs/protocol.md §4.8).
    let after = stack.resource(ID).await;
    assert!(
        after.as_ref().is_none_or(|r| !r["deleted_at"].is_null()),
        "{after:?}"
    );
    hub.stop().await;
}

backend_tests!(
    bad_input_is_invalid_argument_naming_the_part,
    versions_and_ownership_follow_maestro,
);
