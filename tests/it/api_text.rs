//! Text a backend cannot store (U+0000, an unpaired surrogate escape) is refused with the same
//! 400 naming the field on PostgreSQL and SQLite, wherever it comes in (body, query, path); an
//! unexpected failure answers a 500 that carries no internal text.

use serde_json::json;

use crate::api::assert_error;
use crate::harness::{Backend, TestApi, backend_tests, configmap, resource_body};

async fn unstorable_text_is_a_400_naming_the_field_on_both_stores(backend: Backend) {
    let api = TestApi::spawn(backend).await;
    let id = api.consumer("c1").await;
    let bodies = [
        (
            "PATCH",
            format!("/api/v1/consumers/{id}"),
            json!({"labels": {"a\u{0}": "b"}}),
            "labels",
        ),
        (
            "PATCH",
            "/api/v1/consumers/c1".into(),
            json!({"labels": {"a": "\u{0}"}}),
            "labels",
        ),
        (
            "POST",
            "/api/v1/consumers".into(),
            json!({"name": "c2", "labels": {"\u{0}": ""}}),
            "labels",
        ),
        (
            "POST",
            "/api/v1/consumers".into(),
            json!({"name": "c\u{0}"}),
            "name",
        ),
    ];
    let resource = |key: &str, value: serde_json::Value| {
        let mut body = resource_body("c1", Some("web"), "a");
        body[key] = value;
        body
    };
    let resources = [
        (resource("labels", json!({"a\u{0}": "b"})), "labels"),
        (
            resource("annotations", json!({"a": "b\u{0}"})),
            "annotations",
        ),
        (resource("name", json!("we\u{0}b")), "name"),
        (resource("consumer_name", json!("c\u{0}")), "consumer_name"),
        (
            resource(
                "manifests",
                json!([{"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "x"}, "data": {"k": "v\u{0}"}}]),
            ),
            "manifests",
        ),
        (
            resource("delete_option", json!({"propagationPolicy": "Orphan\u{0}"})),
            "delete_option",
        ),
    ];
    let mut requests: Vec<_> = bodies.into_iter().collect();
    for (body, field) in resources {
        requests.push(("POST", "/api/v1/resources".into(), body, field));
    }
    for (method, path, body, field) in requests {
        let (status, error) = match method {
            "PATCH" => api.patch(&path, body.clone()).await,
            _ => api.post(&path, body.clone()).await,
        };
        assert_error(status, &error, 400, "invalid-field");
        assert_eq!(error["field"], field, "{method} {path} {body} -> {error}");
    }
    // An unpaired surrogate escape reaches the hub only as raw text.
    let raw = r#"{"consumer_name":"c1","manifests":[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"data":{"k":"\ud800"}}]}"#;
    let response = api
        .http
        .post(api.url("/api/v1/resources"))
        .header("content-type", "application/json")
        .body(raw)
        .send()
        .await
        .unwrap();
    let (status, error) = crate::harness::Rest::read(response).await;
    assert_error(status, &error, 400, "invalid-field");
    assert_eq!(error["field"], "manifests", "{error}");

    let id = api.resource_id("c1", Some("kept")).await;
    let mut update = json!({"version": 1, "manifests": [configmap("b")]});
    update["labels"] = json!({"k": "\u{0}"});
    let (status, error) = api.put(&format!("/api/v1/resources/{id}"), update).await;
    assert_error(status, &error, 400, "invalid-field");
    assert_eq!(error["field"], "labels");
    let (status, error) = api
        .put(
            &format!("/api/v1/resources/{id}"),
            json!({"version": 0, "manifests": [configmap("b")]}),
        )
        .await;
    assert_error(status, &error, 400, "invalid-field");
    assert_eq!(error["field"], "version");

    for (path, field) in [
        ("/api/v1/consumers/c%00", "id_or_name"),
        ("/api/v1/consumers/Not_A_Name", "id_or_name"),
        ("/api/v1/resources?consumer_name=c%00", "consumer_name"),
        ("/api/v1/resources?name=%00", "name"),
        ("/api/v1/resources?labels=a%3D%00", "labels"),
    ] {
        let (status, error) = api.get(path).await;
        assert_error(status, &error, 400, "invalid-field");
        assert_eq!(error["field"], field, "{path} -> {error}");
    }
    let (status, error) = api.delete("/api/v1/consumers/c%00").await;
    assert_error(status, &error, 400, "invalid-field");

    let (_, consumers) = api.get("/api/v1/consumers").await;
    let (_, resources) = api.get("/api/v1/resources").await;
    assert_eq!(
        (consumers["total"].as_i64(), resources["total"].as_i64()),
        (Some(1), Some(1)),
        "nothing refused was stored"
    );
}

async fn an_internal_failure_answers_500_without_its_cause(backend: Backend) {
    let api = TestApi::spawn(backend).await;
    // A real failure of the database under the hub: its table is gone.
    match backend {
        Backend::Postgres => {
            use sqlx::Connection;
            let mut db = sqlx::PgConnection::connect(&api.db.url).await.unwrap();
            sqlx::query("DROP TABLE resources CASCADE")
                .execute(&mut db)
                .await
                .unwrap();
        }
        Backend::Sqlite => {
            use sqlx::Connection;
            let file = api.db.data_dir().unwrap().join(&api.db.name);
            let url = format!("sqlite://{}", file.display());
            let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::query("DROP TABLE resources")
                .execute(&mut db)
                .await
                .unwrap();
        }
    }
    let (status, error) = api.get("/api/v1/resources").await;
    assert_error(status, &error, 500, "internal");
    assert_eq!(error["reason"], "internal error", "{error}");
    assert!(error.get("field").is_none(), "{error}");
}

backend_tests!(
    unstorable_text_is_a_400_naming_the_field_on_both_stores,
    an_internal_failure_answers_500_without_its_cause,
);
