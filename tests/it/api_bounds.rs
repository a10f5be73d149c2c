//! Requests an attacker shapes to grow the hub or break a store are refused the same way on
//! PostgreSQL and SQLite: trailing data after the JSON value and documents nested deeper than
//! the limit are 400s naming the problem, and made-up HTTP methods never become metric series.

use serde_json::json;

use crate::api::assert_error;
use crate::harness::{Backend, TestApi, backend_tests, configmap};

/// POSTs `body` as raw JSON text to `path`.
async fn post_raw(api: &TestApi, path: &str, body: String) -> (u16, serde_json::Value) {
    let response = api
        .http
        .post(api.url(path))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    crate::harness::Rest::read(response).await
}

/// A JSON array holding `inner`, nested `depth` levels deep (`depth` 1 is `[inner]`).
fn nested(depth: usize, inner: &str) -> String {
    format!("{}{inner}{}", "[".repeat(depth), "]".repeat(depth))
}

async fn trailing_data_after_the_json_value_is_a_400(backend: Backend) {
    let api = TestApi::spawn(backend).await;
    for body in [
        r#"{"name":"tg"}}}}"#,
        r#"{"name":"tg"} {}"#,
        r#"{"name":"tg"}x"#,
    ] {
        let (status, error) = post_raw(&api, "/api/v1/consumers", body.to_owned()).await;
        assert_error(status, &error, 400, "malformed-json");
        assert!(
            error["reason"].as_str().unwrap().contains("trailing"),
            "{body} -> {error}"
        );
    }
    // Whitespace after the value is not data.
    let (status, body) = post_raw(&api, "/api/v1/consumers", "{\"name\":\"ok\"} \n".into()).await;
    assert_eq!(status, 201, "{body}");
    let (_, consumers) = api.get("/api/v1/consumers").await;
    assert_eq!(consumers["total"], 1, "nothing refused was stored");
}

async fn json_nested_deeper_than_the_limit_is_a_400_naming_the_field(backend: Backend) {
    let api = TestApi::spawn(backend).await;
    api.consumer("c1").await;
    let limit = baton::hub::api::storable::MAX_JSON_DEPTH;
    // The manifests array and the ConfigMap object are two levels: the data goes below them.
    let at_limit = configmap_holding(&nested(limit - 2, "1"));
    let (status, body) = post_raw(&api, "/api/v1/resources", at_limit).await;
    assert_eq!(status, 201, "{limit} levels are accepted: {body}");
    for depth in [limit - 1, 1_000, 100_000] {
        let deep = configmap_holding(&nested(depth, "1"));
        let (status, error) = post_raw(&api, "/api/v1/resources", deep).await;
        assert_error(status, &error, 400, "invalid-field");
        assert_eq!(error["field"], "manifests", "{depth} -> {error}");
        assert!(
            error["reason"].as_str().unwrap().contains("nested"),
            "{error}"
        );
    }
    let id = api.resource_id("c1", Some("kept")).await;
    let deep = json!({"version": 1, "manifests": [configmap("b")],
        "delete_option": serde_json::from_str::<serde_json::Value>(&nested(limit + 1, "1")).unwrap()});
    let (status, error) = api.put(&format!("/api/v1/resources/{id}"), deep).await;
    assert_error(status, &error, 400, "invalid-field");
    assert_eq!(error["field"], "delete_option", "{error}");
    let (_, resources) = api.get("/api/v1/resources").await;
    assert_eq!(resources["total"], 2, "nothing refused was stored");
}

/// A resource body for consumer `c1` whose ConfigMap's data holds the JSON text `value`.
fn configmap_holding(value: &str) -> String {
    format!(
        r#"{{"consumer_name":"c1","manifests":[{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"x"}},"data":{value}}}]}}"#
    )
}

async fn made_up_http_methods_share_one_metric_series(backend: Backend) {
    let api = TestApi::spawn(backend).await;
    api.get("/api/v1/consumers").await;
    let before = api.metrics().await;
    for n in 0..50 {
        let method = reqwest::Method::from_bytes(format!("MADEUP{n}").as_bytes()).unwrap();
        let response = api
            .http
            .request(method, api.url(&format!("/no/such/route/{n}")))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_client_error());
    }
    let after = api.metrics().await;
    assert!(!after.contains("MADEUP"), "a method became a label value");
    assert!(after.contains(r#"method="other""#), "{after}");
    assert!(after.contains(r#"route="unmatched""#), "{after}");
    assert!(after.contains(r#"method="GET""#), "{after}");
    let series = |text: &str| text.lines().filter(|l| l.contains("_count{")).count();
    assert!(
        series(&after) <= series(&before) + 2,
        "50 made-up methods on 50 paths grew /metrics from {} to {} series",
        series(&before),
        series(&after)
    );
}

backend_tests!(
    trailing_data_after_the_json_value_is_a_400,
    json_nested_deeper_than_the_limit_is_a_400_naming_the_field,
    made_up_http_methods_share_one_metric_series,
);
