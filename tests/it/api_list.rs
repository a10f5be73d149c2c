//! `GET /resources` writes its items from the stored JSON text (never parsed into trees): each
//! item must still be the same JSON object `GET /resources/{id}` shows, on both backends, with
//! every optional document present and a reported status.

use baton::store::{ReportedState, StatusOutcome, StatusReport};
use serde_json::json;
use uuid::Uuid;

use crate::harness::{Backend, TestApi, backend_tests, configmap};

async fn list_items_are_the_resources_as_get_shows_them(backend: Backend) {
    let api = TestApi::spawn(backend).await;
    api.consumer("c1").await;
    let full = json!({
        "consumer_name": "c1", "name": "full",
        "manifests": [configmap("a \"quoted\" é value"), configmap("two")],
        "delete_option": {"propagationPolicy": "SelectivelyOrphan", "selectivelyOrphans": {"orphaningRules": []}},
        "manifest_configs": [{"resourceIdentifier": {"resource": "configmaps", "name": "web-config", "namespace": "default"},
            "feedbackRules": [{"type": "JSONPaths", "jsonPaths": [{"name": "v", "path": ".data.value"}]}]}],
        "labels": {"env": "prod"}, "annotations": {"note": "x"}
    });
    let (status, created) = api.post("/api/v1/resources", full).await;
    assert_eq!(status, 201, "{created}");
    let (status, _) = api
        .post(
            "/api/v1/resources",
            json!({"consumer_name": "c1", "manifests": [configmap("bare")]}),
        )
        .await;
    assert_eq!(status, 201);
    let id: Uuid = created["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("id");
    let reported = json!({"conditions": [{"type": "Applied", "status": "True", "reason": "AppliedManifestWorkComplete"}],
        "resourceStatus": {"manifests": [{"resourceMeta": {"ordinal": 0}, "statusFeedback": {"values": [{"name": "v", "fieldValue": {"type": "String", "string": "é\n"}}]}}]}});
    let write = StatusReport {
        id,
        cluster: "c1".into(),
        version: 1,
        sequence_id: "1".into(),
        state: ReportedState::Status {
            document: serde_json::value::to_raw_value(&reported).expect("raw"),
            hash: "h1".into(),
        },
    };
    let outcome = api.store.apply_statuses(&[write]).await.expect("status");
    assert_eq!(outcome, [StatusOutcome::Stored]);

    let (status, list) = api.get("/api/v1/resources?consumer_name=c1").await;
    assert_eq!(status, 200, "{list}");
    let items = list["items"].as_array().expect("items");
    assert_eq!(items.len(), 2, "{list}");
    for item in items {
        let (status, one) = api
            .get(&format!(
                "/api/v1/resources/{}",
                item["id"].as_str().unwrap_or_default()
            ))
            .await;
        assert_eq!(status, 200, "{one}");
        assert_eq!(item, &one);
    }
    let full_item = items
        .iter()
        .find(|i| i["name"] == "full")
        .expect("full listed");
    assert_eq!(full_item["status"], reported);
    assert_eq!(full_item["status_hash"], "h1");
    assert_eq!(
        full_item["manifests"][0]["data"]["value"],
        "a \"quoted\" é value"
    );
    let bare = items
        .iter()
        .find(|i| i["name"].is_null())
        .expect("unnamed listed");
    assert_eq!(
        (bare["status"].is_null(), bare["delete_option"].is_null()),
        (true, true)
    );
}

backend_tests!(list_items_are_the_resources_as_get_shows_them);
