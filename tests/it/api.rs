//! The REST API on both store backends (PostgreSQL, SQLite): every route, every error status with its JSON body,
//! paging, filters, optimistic concurrency, limits.

use serde_json::{Value, json};

use crate::harness::{Backend, Rest, TestApi, backend_tests, configmap, resource_body};

pub(crate) fn assert_error(status: u16, body: &Value, want_status: u16, want_code: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["kind"], "Error", "{body}");
    assert_eq!(body["code"], want_code, "{body}");
    assert!(
        body["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "{body}"
    );
    assert_eq!(body["href"], format!("/api/v1/errors/{want_code}"));
    assert!(
        body["operation_id"].as_str().is_some_and(|r| !r.is_empty()),
        "request id in {body}"
    );
}

async fn consumers_are_created_read_patched_listed_and_deleted(backend: Backend) {
    let api = TestApi::spawn(backend).await;
    let id = api.consumer("cluster-a").await;
    let (status, by_name) = api.get("/api/v1/consumers/cluster-a").await;
    assert_eq!(status, 200);
    assert_eq!(by_name["id"], id);
    assert_eq!(by_name["kind"], "Consumer");
    assert_eq!(by_name["href"], format!("/api/v1/consumers/{id}"));
    let (status, patched) = api
        .patch(
            &format!("/api/v1/consumers/{id}"),
            json!({"labels": {"env": "prod"}}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(patched["labels"]["env"], "prod");
    api.consumer("cluster-b").await;
    let (status, list) = api.get("/api/v1/consumers?size=1&page=2").await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            list["kind"].as_str(),
            list["total"].as_i64(),
            list["size"].as_i64(),
            list["page"].as_i64()
        ),
        (Some("ConsumerList"), Some(2), Some(1), Some(2))
    );
    assert_eq!(list["items"][0]["name"], "cluster-b");
    let (status, _) = api.delete("/api/v1/consumers/cluster-b").await;
    assert_eq!(status, 204);
    let (status, body) = api.get("/api/v1/consumers/cluster-b").await;
    assert_error(status, &body, 404, "not-found");
}

async fn consumer_errors_name_the_problem(backend: Backend) {
    let api = TestApi::spawn(backend).await;
    let (status, body) = api
        .post("/api/v1/consumers", json!({"name": "Not_A_Label"}))
        .await;
    assert_error(status, &body, 400, "invalid-field");
    assert_eq!(body["field"], "name");
    let (status, body) = api.post("/api/v1/consumers", json!({"labels": {}})).await;
    assert_error(status, &body, 400, "invalid-field");
    assert_eq!(body["field"], "name", "missing field named");
    let (status, body) = api
        .post("/api/v1/consumers", json!({"name": "c1", "lables": {}}))
        .await;
    assert_error(status, &body, 400, "invalid-field");
    api.consumer("c1").await;
    let (status, body) = api.post("/api/v1/consumers", json!({"name": "c1"})).await;
    assert_error(status, &body, 409, "conflict");
    api.resource("c1", None).await;
    let (status, body) = api.delete("/api/v1/consumers/c1").await;
    assert_error(status, &body, 409, "conflict");
    assert!(
        body["reason"].as_str().unwrap().contains("resource"),
        "{body}"
    );
}

async fn resources_are_created_at_version_1_and_read_back(backend: Backend) {
    let api = TestApi::spawn(backend).await;
    api.consumer("c1").await;
    let created = api.resource("c1", Some("web")).await;
    let id = created["id"].as_str().unwrap();
    assert_eq!(created["version"], 1);
    assert_eq!(created["href"], format!("/api/v1/resources/{id}"));
    assert_eq!(created["status"], Value::Null);
    let (status, got) = api.get(&format!("/api/v1/resources/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(got["manifests"][0], configmap("v1"));
    assert_eq!(got["consumer_name"], "c1");
    assert_eq!(got["name"], "web");
    // Pending publication until the publisher sends it.
    assert_eq!(
        baton::store::Outbox::pending_count(&*api.store)
            .await
            .unwrap(),
        1
    );
}

async fn updates_bump_the_version_once_and_identical_specs_change_nothing(backend: Backend) {
    let api = TestApi::spawn(backend).await;
    api.consumer("c1").await;
    let id = api.resource_id("c1", None).await;
    let path = format!("/api/v1/resources/{id}");
    let mut update = resource_body("c1", None, "v2");
    update.as_object_mut().unwrap().remove("consumer_name");
    update["version"] = 1.into();
    let (status, updated) = api.put(&path, update.clone()).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["version"], 2);
    update["version"] = 2.into();
    let (status, same) = api.put(&path, update.clone()).await;
    assert_eq!(
        (status, same["version"].as_i64()),
        (200, Some(2)),
        "no bump for an identical spec"
    );
    update["version"] = 1.into();
    update["manifests"] = json!([configmap("v3")]);
    let (status, body) = api.put(&path, update).await;
    assert_error(status, &body, 409, "conflict");
}

async fn two_concurrent_puts_on_the_same_version_exactly_one_wins(backend: Backend) {
    let api = TestApi::spawn(backend).await;
    api.consumer("c1").await;
    let id = api.resource_id("c1", None).await;
    let path = format!("/api/v1/resources/{id}");
    let body = |v: &str| json!({"version": 1, "manifests": [configmap(v)]});
    let (a, b) = tokio::join!(api.put(&path, body("a")), api.put(&path, body("b")));
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{a:?} {b:?}");
    let (_, now) = api.get(&path).await;
    assert_eq!(now["version"], 2);
}

async fn delete_marks_deleting_and_refuses_later_updates(backend: Backend) {
    let api = TestApi::spawn(backend).await;
    api.consumer("c1").await;
    let id = api.resource_id("c1", None).await;
    let path = format!("/api/v1/resources/{id}");
    let (status, body) = api.delete(&path).await;
    assert_eq!(status, 202);
    assert!(body["deleted_at"].is_string());
    let (status, again) = api.delete(&path).await;
    assert_eq!(
        (status, &again["deleted_at"]),
        (202, &body["deleted_at"]),
        "idempotent"
    );
    let (status, body) = api
        .put(&path, json!({"version": 1, "manifests": [configmap("x")]}))
        .await;
    assert_error(status, &body, 409, "conflict");
}

async fn lists_page_filter_and_order(backend: Backend) {
    let api = TestApi::spawn(backend).await;
    api.consumer("c1").await;
    api.consumer("c2").await;
    for i in 0..5 {
        api.resource("c1", Some(&format!("r{i}"))).await;
    }
    let mut labelled = resource_body("c2", Some("lab"), "x");
    labelled["labels"] = json!({"env": "prod", "team": "a"});
    assert_eq!(api.post("/api/v1/resources", labelled).await.0, 201);

    let (_, page) = api
        .get("/api/v1/resources?consumer_name=c1&size=2&page=3")
        .await;
    assert_eq!(
        (
            page["total"].as_i64(),
            page["size"].as_i64(),
            page["page"].as_i64()
        ),
        (Some(5), Some(1), Some(3))
    );
    assert_eq!(page["items"][0]["name"], "r4");
    let (_, desc) = api
        .get("/api/v1/resources?consumer_name=c1&order_by=name&direction=desc&size=1")
        .await;
    assert_eq!(desc["items"][0]["name"], "r4");
    let (_, by_label) = api
        .get("/api/v1/resources?labels=env%3Dprod,team%3Da")
        .await;
    assert_eq!(by_label["total"], 1);
    assert_eq!(by_label["items"][0]["name"], "lab");
    let (_, by_name) = api.get("/api/v1/resources?name=r2").await;
    assert_eq!(by_name["total"], 1);
    let (_, all) = api.get("/api/v1/resources").await;
    assert_eq!(
        (all["total"].as_i64(), all["kind"].as_str()),
        (Some(6), Some("ResourceList"))
    );

    for (query, field) in [
        ("size=0", "size"),
        ("size=1001", "size"),
        ("page=0", "page"),
        ("labels=novalue", "labels"),
        ("order_by=color", "order_by"),
    ] {
        let (status, body) = api.get(&format!("/api/v1/resources?{query}")).await;
        assert_error(status, &body, 400, "invalid-field");
        assert_eq!(body["field"], field, "{query}: {body}");
    }
}

async fn bad_resources_are_refused_naming_the_field(backend: Backend) {
    let api = TestApi::spawn(backend).await;
    api.consumer("c1").await;
    let cases = [
        (json!({"consumer_name": "c1", "manifests": []}), "manifests"),
        (
            json!({"consumer_name": "c1", "manifests": ["not an object"]}),
            "manifests[0]",
        ),
        (
            json!({"consumer_name": "c1", "manifests": [{"apiVersion": "v1", "metadata": {"name": "x"}}]}),
            "manifests[0].kind",
        ),
        (
            json!({"consumer_name": "c1", "manifests": [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}]}),
            "manifests[0].metadata.name",
        ),
        (
            json!({"consumer_name": "c1", "manifests": [configmap("a"), {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "", "generateName": "x-"}}]}),
            "manifests[1].metadata.name",
        ),
        (
            json!({"consumer_name": "c1", "manifests": "nope"}),
            "manifests",
        ),
        (json!({"manifests": [configmap("a")]}), "consumer_name"),
        (
            json!({"consumer_name": "C1", "manifests": [configmap("a")]}),
            "consumer_name",
        ),
        (
            json!({"consumer_name": "c1", "name": "Bad Name", "manifests": [configmap("a")]}),
            "name",
        ),
        (
            json!({"consumer_name": "c1", "manifests": [configmap("a")], "delete_option": "Orphan"}),
            "delete_option",
        ),
        // serde reads a struct from an array too: the shape is checked before.
        (
            json!({"consumer_name": "c1", "manifests": [configmap("a")], "delete_option": []}),
            "delete_option",
        ),
        (
            json!({"consumer_name": "c1", "manifests": [configmap("a")], "manifest_configs": [[]]}),
            "manifest_configs",
        ),
    ];
    for (body, field) in cases {
        let (status, error) = api.post("/api/v1/resources", body.clone()).await;
        assert_error(status, &error, 400, "invalid-field");
        assert_eq!(error["field"], field, "{body} -> {error}");
    }
    let (status, body) = api
        .post("/api/v1/resources", resource_body("nobody", None, "a"))
        .await;
    assert_error(status, &body, 404, "not-found");
    api.resource("c1", Some("dup")).await;
    let (status, body) = api
        .post("/api/v1/resources", resource_body("c1", Some("dup"), "a"))
        .await;
    assert_error(status, &body, 409, "conflict");
    assert_eq!(
        baton::store::Outbox::pending_count(&*api.store)
            .await
            .unwrap(),
        1,
        "nothing half-written"
    );
}

async fn malformed_requests_get_json_errors_not_500s(backend: Backend) {
    let api = TestApi::spawn(backend).await;
    let raw = |body: &'static str, content_type: &'static str| {
        api.http
            .post(api.url("/api/v1/resources"))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let (status, body) = Rest::read(raw("{not json", "application/json").await.unwrap()).await;
    assert_error(status, &body, 400, "malformed-json");
    let (status, body) = Rest::read(raw("{}", "text/plain").await.unwrap()).await;
    assert_error(status, &body, 415, "unsupported-media-type");
    let huge = format!(
        "{{\"consumer_name\":\"c1\",\"manifests\":[{{\"x\":\"{}\"}}]}}",
        "a".repeat(5 << 20)
    );
    let response = api
        .http
        .post(api.url("/api/v1/resources"))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    let (status, body) = Rest::read(response).await;
    assert_error(status, &body, 413, "payload-too-large");
    let (status, body) = api.get("/api/v1/resources/not-a-uuid").await;
    assert_error(status, &body, 400, "invalid-field");
    assert_eq!(body["field"], "id");
    let (status, body) = api
        .get(&format!("/api/v1/resources/{}", uuid::Uuid::new_v4()))
        .await;
    assert_error(status, &body, 404, "not-found");
    let (status, body) = api.get("/api/v1/nothing-here").await;
    assert_error(status, &body, 404, "not-found");
}

async fn every_response_carries_a_request_id_and_ops_endpoints_answer(backend: Backend) {
    let api = TestApi::spawn(backend).await;
    let response = api.http.get(api.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("x-request-id").is_some());
    let (status, ready) = api.get("/readyz").await;
    assert_eq!((status, ready["database"].as_str()), (200, Some("ok")));
    api.get("/api/v1/consumers").await;
    let metrics = api.metrics().await;
    assert!(
        metrics.contains("baton_http_request_duration_seconds"),
        "{metrics}"
    );
    assert!(
        metrics.contains("route=\"/api/v1/consumers\""),
        "labelled by route template"
    );
    assert!(metrics.contains("baton_outbox_depth"));
    let (status, doc) = api.get("/openapi.json").await;
    assert_eq!(status, 200);
    assert!(doc["paths"]["/api/v1/resources/{id}"]["put"].is_object());
}

async fn api_tokens_guard_the_api_but_not_health(backend: Backend) {
    let tokens = std::sync::Arc::new(baton::hub::api::auth::ApiAuth::admin_tokens([
        "s3cret".to_owned()
    ]));
    let api = TestApi::spawn_with(
        backend,
        std::sync::Arc::new(baton::hub::state::NoConnections),
        Some(tokens),
    )
    .await;
    let (status, body) = api.get("/api/v1/consumers").await;
    assert_error(status, &body, 401, "unauthorized");
    let ok = api
        .http
        .get(api.url("/api/v1/consumers"))
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(api.get("/healthz").await.0, 200);
}

#[test]
fn committed_openapi_matches_the_code() {
    // On failure: `cargo run -- openapi > openapi/openapi.json`, review, commit.
    let committed = include_str!("../../openapi/openapi.json");
    assert_eq!(
        committed.trim_end(),
        baton::hub::api::openapi_json().trim_end()
    );
}

backend_tests!(
    consumers_are_created_read_patched_listed_and_deleted,
    consumer_errors_name_the_problem,
    resources_are_created_at_version_1_and_read_back,
    updates_bump_the_version_once_and_identical_specs_change_nothing,
    two_concurrent_puts_on_the_same_version_exactly_one_wins,
    delete_marks_deleting_and_refuses_later_updates,
    lists_page_filter_and_order,
    bad_resources_are_refused_naming_the_field,
    malformed_requests_get_json_errors_not_500s,
    every_response_carries_a_request_id_and_ops_endpoints_answer,
    api_tokens_guard_the_api_but_not_health,
);
