//! Maestro's REST paths (`/api/maestro/v1`, docs/maestro.md): every path's answer compared with
//! a golden response in tests/data/maestro/ (ids and times normalised), the same on both
//! backends; `search` on each field and operator against stored resources and consumers; a
//! resource created through `/api/v1` read back as Maestro's resource bundle; API tokens.
//!
//! `BATON_BLESS=1` rewrites the golden files from what the hub answers (review the diff).

use std::collections::HashMap;
use std::path::PathBuf;

use baton::store::{NewResource, ReportedState, ResourceSpec, StatusOutcome, StatusReport};
use regex::Regex;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::harness::{Backend, TestApi, backend_tests, configmap, resource_body};
use crate::store_fixtures::new_resource;

const BASE: &str = "/api/maestro/v1";

/// `value` with each distinct UUID replaced by `<uuid-N>` (in order of first appearance, so
/// references stay visibly the same), RFC 3339 times by `<time>`, and the request id by
/// `<operation-id>`.
fn normalised(mut value: Value) -> Value {
    fn walk(value: &mut Value, ids: &mut HashMap<String, usize>, uuid: &Regex, time: &Regex) {
        match value {
            Value::String(s) => {
                if time.is_match(s) {
                    *s = "<time>".into();
                    return;
                }
                let replaced = uuid.replace_all(s, |c: &regex::Captures<'_>| {
                    let next = ids.len() + 1;
                    format!("<uuid-{}>", ids.entry(c[0].to_owned()).or_insert(next))
                });
                *s = replaced.into_owned();
            }
            Value::Array(items) => items.iter_mut().for_each(|v| walk(v, ids, uuid, time)),
            Value::Object(map) => {
                if map.contains_key("operation_id") {
                    map.insert("operation_id".into(), "<operation-id>".into());
                }
                map.values_mut().for_each(|v| walk(v, ids, uuid, time));
            }
            _ => {}
        }
    }
    let uuid = Regex::new("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").unwrap();
    let time = Regex::new(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$").unwrap();
    walk(&mut value, &mut HashMap::new(), &uuid, &time);
    value
}

/// Compares an answer with `tests/data/maestro/{name}.json` (status and normalised body).
fn golden(name: &str, status: u16, body: Value) {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/data/maestro/{name}.json"));
    let got = json!({"status": status, "body": normalised(body)});
    if std::env::var_os("BATON_BLESS").is_some() {
        std::fs::write(&path, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
        return;
    }
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (BATON_BLESS=1 writes it)", path.display()));
    let want: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        got,
        want,
        "{name}: the answer differs from {}",
        path.display()
    );
}

/// The ManifestWork status an agent reports for one applied ConfigMap.
fn applied_status() -> Value {
    let applied = json!({"type": "Applied", "status": "True", "observedGeneration": 1,
        "lastTransitionTime": "2026-01-01T00:00:00Z", "reason": "AppliedManifestWorkComplete",
        "message": "Apply manifest work complete"});
    json!({"conditions": [applied.clone()], "resourceStatus": {"manifests": [{
        "resourceMeta": {"ordinal": 0, "group": "", "version": "v1", "kind": "ConfigMap",
            "resource": "configmaps", "name": "web-config", "namespace": "default"},
        "conditions": [applied]}]}})
}

async fn every_path_answers_as_maestro_does(backend: Backend) {
    let api = TestApi::spawn(backend).await;
    let (status, consumer) = api
        .post(
            &format!("{BASE}/consumers"),
            json!({"name": "cluster1", "labels": {"env": "prod"}}),
        )
        .await;
    golden("consumer_create", status, consumer.clone());
    let id = consumer["id"].as_str().unwrap().to_owned();
    let (status, body) = api.get(&format!("{BASE}/consumers/{id}")).await;
    assert_eq!(
        (status, &body),
        (200, &consumer),
        "get by id is what create answered"
    );
    api.post(&format!("{BASE}/consumers"), json!({"name": "cluster2"}))
        .await;
    let (status, body) = api
        .get(&format!("{BASE}/consumers?search=labels->>'env'='prod'"))
        .await;
    golden("consumer_list", status, body);
    let (status, body) = api
        .patch(
            &format!("{BASE}/consumers/{id}"),
            json!({"labels": {"env": "dev", "tier": "1"}}),
        )
        .await;
    golden("consumer_patch", status, body);
    let (status, body) = api
        .post(&format!("{BASE}/consumers"), json!({"name": "cluster1"}))
        .await;
    golden("consumer_create_taken", status, body);
    let (status, body) = api
        .post(&format!("{BASE}/consumers"), json!({"name": "Not_A_Label"}))
        .await;
    golden("consumer_create_bad_name", status, body);

    let mut web = resource_body("cluster1", Some("web"), "v1");
    web["labels"] = json!({"app": "web"});
    web["annotations"] = json!({"team": "a"});
    web["delete_option"] = json!({"propagationPolicy": "Orphan"});
    let (status, created) = api.post("/api/v1/resources", web).await;
    assert_eq!(status, 201, "{created}");
    let rid: Uuid = created["id"].as_str().unwrap().parse().unwrap();
    let report = StatusReport {
        id: rid,
        cluster: "cluster1".into(),
        version: 1,
        sequence_id: "7".into(),
        state: ReportedState::Status {
            document: serde_json::value::to_raw_value(&applied_status()).unwrap(),
            hash: "0".repeat(64),
        },
    };
    assert_eq!(
        api.store.apply_statuses(&[report]).await.unwrap(),
        [StatusOutcome::Stored]
    );
    api.post("/api/v1/resources", resource_body("cluster2", None, "v2"))
        .await;

    let (status, body) = api.get(&format!("{BASE}/resource-bundles/{rid}")).await;
    golden("bundle_get", status, body.clone());
    let (status, list) = api
        .get(&format!(
            "{BASE}/resource-bundles?search=consumer_name='cluster1'&page=1&size=10"
        ))
        .await;
    assert_eq!(
        (status, &list["items"][0]),
        (200, &body),
        "list items are what get shows"
    );
    golden("bundle_list", status, list);
    let (status, body) = api
        .get(&format!("{BASE}/resource-bundles?orderBy=name desc"))
        .await;
    golden("bundle_list_by_name_desc", status, body);
    let (status, body) = api.get(&format!("{BASE}/resource-bundles?size=0")).await;
    golden("bundle_list_count_only", status, body);

    let (status, body) = api.delete(&format!("{BASE}/consumers/{id}")).await;
    golden("consumer_delete_in_use", status, body);
    let (status, body) = api.delete(&format!("{BASE}/resource-bundles/{rid}")).await;
    assert_eq!((status, body), (204, Value::Null));
    let (status, body) = api.get(&format!("{BASE}/resource-bundles/{rid}")).await;
    assert_eq!(status, 200);
    assert!(
        body["deleted_at"].is_string() && body["metadata"]["deletionTimestamp"].is_string(),
        "{body}"
    );

    let (status, body) = api
        .get(&format!("{BASE}/resource-bundles?search=version > '1'"))
        .await;
    golden("bundle_list_bad_search", status, body);
    let (status, body) = api.get(&format!("{BASE}/resource-bundles?size=5000")).await;
    golden("bundle_list_bad_size", status, body);
    let (status, body) = api
        .get(&format!("{BASE}/resource-bundles/{}", Uuid::new_v4()))
        .await;
    golden("bundle_get_missing", status, body);
    let (status, body) = api
        .get(&format!("{BASE}/resource-bundles/not-a-uuid"))
        .await;
    assert_eq!((status, body["code"].as_str()), (404, Some("maestro-7")));
    let (status, body) = api.get(&format!("{BASE}/no-such-thing")).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("maestro-7")));

    let (status, body) = api
        .post(&format!("{BASE}/consumers"), json!({"name": "spare"}))
        .await;
    assert_eq!(status, 201);
    let (status, _) = api
        .delete(&format!(
            "{BASE}/consumers/{}",
            body["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, 204);
    let (status, body) = api.delete(&format!("{BASE}/consumers/spare")).await;
    golden("consumer_delete_missing", status, body);
}

/// A resource created through baton's own API is a resource bundle with the same data:
/// metadata from its name, consumer, id, version, labels and annotations; the same documents.
async fn a_resource_created_through_the_api_is_a_bundle(backend: Backend) {
    let api = TestApi::spawn(backend).await;
    api.consumer("c1").await;
    let mut body = resource_body("c1", Some("web"), "v1");
    body["labels"] = json!({"app": "web"});
    body["manifest_configs"] = json!([{"resourceIdentifier": {"resource": "configmaps", "name": "web-config", "namespace": "default"},
        "updateStrategy": {"type": "ServerSideApply"}}]);
    let (_, created) = api.post("/api/v1/resources", body).await;
    let id = created["id"].as_str().unwrap();
    let (status, list) = api
        .get(&format!(
            "{BASE}/resource-bundles?search=payload->'metadata'->'labels'@>'{{\"app\":\"web\"}}'"
        ))
        .await;
    assert_eq!((status, list["total"].as_i64()), (200, Some(1)), "{list}");
    let bundle = &list["items"][0];
    assert_eq!(bundle["id"], created["id"]);
    assert_eq!(bundle["href"], format!("{BASE}/resource-bundles/{id}"));
    assert_eq!(bundle["kind"], "ResourceBundle");
    assert_eq!(
        (&bundle["name"], &bundle["consumer_name"]),
        (&json!("web"), &json!("c1"))
    );
    assert_eq!(bundle["version"], created["version"]);
    assert_eq!(bundle["manifests"], created["manifests"]);
    assert_eq!(bundle["manifest_configs"], created["manifest_configs"]);
    assert_eq!(bundle["created_at"], created["created_at"]);
    let meta = &bundle["metadata"];
    assert_eq!(
        (
            &meta["name"],
            &meta["namespace"],
            &meta["uid"],
            &meta["generation"],
            &meta["labels"]
        ),
        (
            &json!("web"),
            &json!("c1"),
            &json!(id),
            &json!(1),
            &json!({"app": "web"})
        )
    );
    assert!(
        bundle.get("status").is_none() && bundle.get("deleted_at").is_none(),
        "{bundle}"
    );
}

/// Resources owned by two sources and the hub, on two consumers, with labels and annotations;
/// each search lists the names it should, in creation order.
async fn search_selects_by_every_field_and_operator(backend: Backend) {
    let api = TestApi::spawn(backend).await;
    for (name, env) in [("c1", "prod"), ("c2", "dev")] {
        let (status, _) = api
            .post(
                &format!("{BASE}/consumers"),
                json!({"name": name, "labels": {"env": env}}),
            )
            .await;
        assert_eq!(status, 201);
    }
    let new = |consumer: &str, name: &str, source: Option<&str>, labels: &[(&str, &str)]| {
        let mut spec = ResourceSpec::from_values(&[configmap(name)], None, None).unwrap();
        spec.labels = labels
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        spec.annotations = [("team".to_owned(), name.to_owned())].into();
        NewResource {
            source: source.map(Into::into),
            ..new_resource(consumer, Some(name), spec)
        }
    };
    let mut ids = Vec::new();
    // One at a time: a batch shares its creation time, and lists are in creation order.
    for new in [
        new(
            "c1",
            "a1",
            Some("maestro-a"),
            &[("app", "web"), ("tier", "1")],
        ),
        new("c2", "a2", Some("maestro-a"), &[("app", "db")]),
        new("c1", "b1", Some("maestro-b"), &[("app", "web")]),
        new("c2", "h1", None, &[]),
    ] {
        let mut created = api.store.create_resources(vec![new]).await;
        ids.push(created.remove(0).unwrap().id);
    }
    let a1 = ids[0];
    let names = |search: String| {
        let api = &api;
        async move {
            let query = url_encoded(&search);
            let (status, body) = api
                .get(&format!("{BASE}/resource-bundles?search={query}"))
                .await;
            assert_eq!(status, 200, "{search}: {body}");
            let items = body["items"].as_array().unwrap();
            assert_eq!(body["total"].as_u64(), Some(items.len() as u64));
            items
                .iter()
                .map(|i| i["name"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    let labels = "payload->'metadata'->'labels'";
    for (search, want) in [
        ("source = 'maestro-a'", vec!["a1", "a2"]),
        ("source = 'baton'", vec!["h1"]),
        ("source != 'baton'", vec!["a1", "a2", "b1"]),
        ("source not in ('maestro-a', 'maestro-b')", vec!["h1"]),
        ("source in ('maestro-b', 'baton')", vec!["b1", "h1"]),
        (
            "source = 'maestro-a' and (consumer_name = 'c1' or consumer_name = 'c3')",
            vec!["a1"],
        ),
        (
            "name in ('a1', 'h1') or consumer_name = 'c1'",
            vec!["a1", "b1", "h1"],
        ),
    ] {
        assert_eq!(names(search.to_owned()).await, want, "{search}");
    }
    let by_labels: Vec<(String, Vec<&str>)> = vec![
        (format!("{labels}->>'app' = 'web'"), vec!["a1", "b1"]),
        (format!("{labels}->>'app' != 'web'"), vec!["a2", "h1"]),
        (format!("{labels}->>'app' in ('db', 'x')"), vec!["a2"]),
        (
            format!("{labels}->>'app' not in ('db')"),
            vec!["a1", "b1", "h1"],
        ),
        (format!("{labels}->>'tier' <> null"), vec!["a1"]),
        (
            format!("{labels} @> '{{\"app\":\"web\",\"tier\":\"1\"}}'"),
            vec!["a1"],
        ),
        (format!("{labels} @> '{{}}'"), vec!["a1", "a2", "b1", "h1"]),
        (
            "payload->'metadata'->'annotations'->>'team' = 'b1'".to_owned(),
            vec!["b1"],
        ),
        (format!("id = '{a1}' or id = 'not-a-uuid'"), vec!["a1"]),
        (format!("id != '{a1}' and source = 'maestro-a'"), vec!["a2"]),
    ];
    for (search, want) in by_labels {
        assert_eq!(names(search.clone()).await, want, "{search}");
    }
    let (status, body) = api
        .get(&format!(
            "{BASE}/resource-bundles?search={}",
            url_encoded("name = 'a1' and spec = 'x'")
        ))
        .await;
    assert_eq!(
        (status, body["code"].as_str(), body["field"].as_str()),
        (400, Some("maestro-23"), Some("search"))
    );
    assert!(
        body["reason"].as_str().unwrap().contains("`spec`"),
        "{body}"
    );

    let (status, body) = api
        .get(&format!(
            "{BASE}/consumers?search={}",
            url_encoded("labels->>'env' in ('dev') or name = 'c1'")
        ))
        .await;
    assert_eq!((status, body["total"].as_i64()), (200, Some(2)), "{body}");
    let (_, body) = api
        .get(&format!(
            "{BASE}/consumers?search={}",
            url_encoded("labels @> '{\"env\":\"dev\"}'")
        ))
        .await;
    assert_eq!(body["items"][0]["name"], "c2", "{body}");
}

fn url_encoded(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `--api-token-file` guards Maestro's paths too; the refusal is Maestro's error body.
async fn api_tokens_guard_maestros_paths(backend: Backend) {
    let tokens = std::sync::Arc::new(baton::hub::api::auth::ApiAuth::admin_tokens([
        "s3cret".to_owned()
    ]));
    let api = TestApi::spawn_with(
        backend,
        std::sync::Arc::new(baton::hub::state::NoConnections),
        Some(tokens),
    )
    .await;
    let (status, body) = api.get(&format!("{BASE}/consumers")).await;
    golden("unauthorized", status, body);
    let response = api
        .http
        .get(api.url(&format!("{BASE}/resource-bundles")))
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
}

backend_tests!(
    every_path_answers_as_maestro_does,
    a_resource_created_through_the_api_is_a_bundle,
    search_selects_by_every_field_and_operator,
    api_tokens_guard_maestros_paths,
);
