//! Query by status and fleet health on both backends, against expectations computed by hand:
//! `condition=` and `state=` on the resource list, the consumers' `pending`, `failed`,
//! `oldest_pending_since`, `healthy` and `last_seen_at`, `?healthy=false`, and the condition
//! history (transitions only, newest first, bounded).

use std::sync::Arc;
use std::time::Duration;

use baton::hub::api;
use baton::hub::metrics::HubMetrics;
use baton::hub::state::{AppState, NoConnections};
use baton::hub::watch::WatchConfig;
use baton::store::{ReportedState, StatusReport, Store};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::harness::{Backend, TestApi, TestDb, backend_tests, resource_body};

/// An agent's status on `version` with these top-level `(type, status, reason)` conditions;
/// `message` varies the document (and so its hash) without a transition.
fn status(
    cluster: &str,
    id: Uuid,
    version: i64,
    seq: u64,
    conditions: &[(&str, &str, &str)],
    message: &str,
) -> StatusReport {
    let conditions: Vec<Value> = conditions
        .iter()
        .map(|(t, s, r)| json!({"type": t, "status": s, "reason": r, "message": message, "observedGeneration": version}))
        .collect();
    let document = json!({"conditions": conditions, "resourceStatus": {}});
    StatusReport {
        id,
        cluster: cluster.into(),
        version,
        sequence_id: seq.to_string(),
        state: ReportedState::Status {
            hash: format!("{:0>64}", format!("{:x}", md5ish(&document.to_string()))),
            document: serde_json::value::to_raw_value(&document).unwrap(),
        },
    }
}

/// A stable hash of the document's text (only distinctness matters).
fn md5ish(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

async fn write(store: &dyn Store, report: StatusReport) {
    store.apply_statuses(&[report]).await.unwrap();
}

/// A hub API whose consumers are unhealthy as soon as anything is pending.
async fn api_strict_about_pending(backend: Backend) -> TestApi {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let watch = WatchConfig {
        unhealthy_pending_after: Duration::ZERO,
        ..WatchConfig::default()
    };
    let state = AppState::with_watch(
        store.clone(),
        Arc::new(NoConnections),
        Arc::new(HubMetrics::new()),
        watch,
    );
    TestApi::serve(api::router(state.clone(), None), state, store, db).await
}

fn names(list: &Value) -> Vec<String> {
    let mut names: Vec<String> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

async fn create(api: &TestApi, consumer: &str, name: &str) -> (Uuid, Value) {
    let (code, body) = api
        .post(
            "/api/v1/resources",
            resource_body(consumer, Some(name), "1"),
        )
        .await;
    assert_eq!(code, 201, "{body}");
    (body["id"].as_str().unwrap().parse().unwrap(), body)
}

fn at(value: &Value) -> DateTime<Utc> {
    value.as_str().unwrap().parse().unwrap()
}

async fn status_filters_and_health_match_hand_computed_expectations(backend: Backend) {
    let api = api_strict_about_pending(backend).await;
    let store = api.store.clone();
    for c in ["c1", "c2", "c3"] {
        assert_eq!(
            api.post("/api/v1/consumers", json!({"name": c})).await.0,
            201
        );
    }
    let (a, _) = create(&api, "c1", "a").await;
    let (b, _) = create(&api, "c1", "b").await;
    let (_c, c_body) = create(&api, "c1", "c").await;
    let (d, _) = create(&api, "c2", "d").await;
    write(
        &*store,
        status("c1", a, 1, 1, &[("Applied", "True", "Done")], ""),
    )
    .await;
    write(
        &*store,
        status("c1", b, 1, 1, &[("Applied", "False", "Invalid")], ""),
    )
    .await;
    write(
        &*store,
        status(
            "c2",
            d,
            1,
            1,
            &[
                ("Applied", "True", "Done"),
                ("Available", "False", "Waiting"),
            ],
            "",
        ),
    )
    .await;
    // a moves to version 2, not reported yet: pending again. d is being deleted. c never
    // had a report: pending since its creation.
    let (code, _) = api
        .put(
            &format!("/api/v1/resources/{a}"),
            json!({"version": 1, "manifests": [crate::harness::configmap("2")]}),
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(api.delete(&format!("/api/v1/resources/{d}")).await.0, 202);

    let list = |query: &'static str| {
        let api = &api;
        async move {
            let (code, body) = api.get(&format!("/api/v1/resources?{query}")).await;
            assert_eq!(code, 200, "{query}: {body}");
            assert_eq!(
                body["total"].as_i64().unwrap() as usize,
                body["items"].as_array().unwrap().len()
            );
            names(&body)
        }
    };
    assert_eq!(list("condition=Applied=False").await, ["b"]);
    assert_eq!(
        list("condition=Applied%3DTrue").await,
        ["a", "d"],
        "encoded = too"
    );
    assert_eq!(
        list("condition=Applied=True&condition=Available=False").await,
        ["d"]
    );
    assert_eq!(list("condition=Available=True").await, Vec::<String>::new());
    assert_eq!(list("state=pending").await, ["a", "c"]);
    assert_eq!(list("state=deleting").await, ["d"]);
    assert_eq!(
        list("state=pending&condition=Applied=True&consumer_name=c1").await,
        ["a"]
    );
    assert_eq!(
        list("state=pending&consumer_name=c2").await,
        Vec::<String>::new()
    );
    for (query, field) in [
        ("condition=Applied", "condition"),
        ("condition=%3DFalse", "condition"),
        ("state=gone", "state"),
    ] {
        let (code, body) = api.get(&format!("/api/v1/resources?{query}")).await;
        assert_eq!(
            (code, body["field"].as_str()),
            (400, Some(field)),
            "{query}: {body}"
        );
    }

    // Health: c1 has a and c pending (the oldest is c, since its creation) and b failed.
    let t = Utc::now() - chrono::Duration::seconds(30);
    store.record_seen(&[("c1".into(), t)]).await.unwrap();
    store
        .record_seen(&[("c1".into(), t - chrono::Duration::seconds(60))])
        .await
        .unwrap();
    let (_, c1) = api.get("/api/v1/consumers/c1").await;
    assert_eq!(
        (c1["pending"].as_i64(), c1["failed"].as_i64()),
        (Some(2), Some(1)),
        "{c1}"
    );
    assert_eq!(at(&c1["oldest_pending_since"]), at(&c_body["updated_at"]));
    assert_eq!(
        c1["healthy"], false,
        "pending longer than the threshold (0)"
    );
    assert_eq!(c1["connected"], Value::Null, "no transport to ask");
    let seen = at(&c1["last_seen_at"]);
    assert!(
        (seen - t).num_milliseconds().abs() < 1,
        "the later time is kept: {seen} vs {t}"
    );
    let (_, c2) = api.get("/api/v1/consumers/c2").await;
    assert_eq!(
        (
            c2["pending"].as_i64(),
            c2["failed"].as_i64(),
            c2["healthy"].as_bool()
        ),
        (Some(0), Some(0), Some(true)),
        "{c2}"
    );
    assert_eq!(
        (
            c2["oldest_pending_since"].clone(),
            c2["last_seen_at"].clone()
        ),
        (Value::Null, Value::Null)
    );
    let (_, unhealthy) = api.get("/api/v1/consumers?healthy=false").await;
    assert_eq!(
        (names(&unhealthy), unhealthy["total"].as_i64()),
        (vec!["c1".to_owned()], Some(1))
    );
    let (_, healthy) = api
        .get("/api/v1/consumers?healthy=true&size=1&order_by=name")
        .await;
    assert_eq!(
        (names(&healthy), healthy["total"].as_i64()),
        (vec!["c2".to_owned()], Some(2))
    );
    let (_, all) = api.get("/api/v1/consumers").await;
    assert_eq!(
        all["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["pending"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        [2, 0, 0]
    );

    // a reported on version 2: no longer pending, c1 still is (c).
    write(
        &*store,
        status("c1", a, 2, 2, &[("Applied", "True", "Done")], ""),
    )
    .await;
    assert_eq!(list("state=pending").await, ["c"]);
}

async fn history_keeps_transitions_newest_first_and_bounded(backend: Backend) {
    let api = api_strict_about_pending(backend).await;
    let store = api.store.clone();
    assert_eq!(
        api.post("/api/v1/consumers", json!({"name": "c1"})).await.0,
        201
    );
    let (r, _) = create(&api, "c1", "r").await;
    let history = |id: Uuid| {
        let api = &api;
        async move {
            let (code, body) = api.get(&format!("/api/v1/resources/{id}/history")).await;
            assert_eq!(code, 200, "{body}");
            assert_eq!(body["kind"], "ConditionHistory");
            body["items"].as_array().unwrap().clone()
        }
    };
    assert!(history(r).await.is_empty(), "no report yet");
    write(
        &*store,
        status("c1", r, 1, 1, &[("Applied", "False", "Invalid")], "first"),
    )
    .await;
    // Same status and reason, another message: no transition.
    write(
        &*store,
        status("c1", r, 1, 2, &[("Applied", "False", "Invalid")], "second"),
    )
    .await;
    write(
        &*store,
        status(
            "c1",
            r,
            1,
            3,
            &[("Applied", "True", "Done"), ("Available", "True", "Ready")],
            "third",
        ),
    )
    .await;
    let items = history(r).await;
    let seen: Vec<(&str, &str, &str, &str, i64)> = items
        .iter()
        .map(|i| {
            (
                i["type"].as_str().unwrap(),
                i["status"].as_str().unwrap(),
                i["reason"].as_str().unwrap(),
                i["message"].as_str().unwrap(),
                i["observed_generation"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("Available", "True", "Ready", "third", 1),
            ("Applied", "True", "Done", "third", 1),
            ("Applied", "False", "Invalid", "first", 1),
        ]
    );
    assert!(at(&items[0]["time"]) >= at(&items[2]["time"]));
    let (code, body) = api
        .get(&format!("/api/v1/resources/{}/history", Uuid::new_v4()))
        .await;
    assert_eq!(
        (code, body["code"].as_str()),
        (404, Some("not-found")),
        "{body}"
    );
    assert_eq!(api.get("/api/v1/resources/nope/history").await.0, 400);

    // 105 more transitions: the newest 100 are kept.
    for seq in 4..109_u64 {
        let reason = format!("Flip{seq}");
        write(
            &*store,
            status("c1", r, 1, seq, &[("Applied", "True", &reason)], ""),
        )
        .await;
    }
    let items = history(r).await;
    assert_eq!(items.len(), 100);
    assert_eq!(items[0]["reason"], "Flip108");
    assert_eq!(items[99]["reason"], "Flip9");
}

backend_tests!(
    status_filters_and_health_match_hand_computed_expectations,
    history_keeps_transitions_newest_first_and_bounded,
);
