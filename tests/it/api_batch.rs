//! Concurrent creates through the hub's create batcher (group commit): requests that land in
//! the same batch still get their own answer (201 with their own spec, 404, 409), on both
//! store backends.

use serde_json::Value;

use crate::harness::{Backend, TestApi, backend_tests, resource_body};

async fn concurrent_creates_each_get_their_own_answer(backend: Backend) {
    let api = TestApi::spawn(backend).await;
    api.consumer("c1").await;
    let bodies: Vec<Value> = (0..32)
        .map(|i| match i % 4 {
            0 => resource_body("c1", Some("same"), &format!("same-{i}")),
            1 => resource_body("nobody", None, "x"),
            _ => resource_body("c1", Some(&format!("r{i}")), &format!("value-{i}")),
        })
        .collect();
    let answers = futures::future::join_all(
        bodies
            .iter()
            .map(|b| api.post("/api/v1/resources", b.clone())),
    )
    .await;
    let mut counts = [0; 3];
    for (body, (status, answer)) in bodies.iter().zip(&answers) {
        match status {
            201 => {
                counts[0] += 1;
                assert_eq!(answer["name"], body["name"], "{answer}");
                assert_eq!(answer["manifests"], body["manifests"], "its own spec");
                assert_eq!(answer["version"], 1);
                let (got, stored) = api.get(answer["href"].as_str().unwrap()).await;
                assert_eq!((got, &stored["manifests"]), (200, &body["manifests"]));
            }
            404 => counts[1] += 1,
            409 => counts[2] += 1,
            other => panic!("unexpected {other}: {answer}"),
        }
    }
    assert_eq!(counts, [16 + 1, 8, 7], "201s, 404s, 409s");
    assert_eq!(
        baton::store::Outbox::pending_count(&*api.store)
            .await
            .unwrap(),
        17,
        "nothing half-written"
    );
}

backend_tests!(concurrent_creates_each_get_their_own_answer);
