//! Scenario 4: sdk-go's ManifestWork source client over gRPC (as Maestro's `grpcsource` builds
//! it) against baton's gRPC source API (`--source-grpc-addr`, docs/maestro.md), with `baton
//! agent`s serving the clusters: works created, watched to Applied/Available, updated (a stale
//! version refused as a Kubernetes Conflict), deleted with the deletions confirmed, visible
//! through `/api/v1/resources`; two sources see only their own works; a restarted source's
//! status resync brings the statuses it missed (docs/protocol.md §6.6, §8.8); with tokens, a
//! source acting as another is refused and counted (§8.9).

use serde_json::{Value, json};

use super::go::GoProcess;
use crate::e2e::{Proc, Stack, Via};
use crate::harness::{Backend, configmap};
use crate::support::free_port;

/// A hub serving the source API (with `extra` flags), and the sdk-go config file pointing at
/// it.
async fn hub_with_source_api(stack: &Stack, extra: &[String]) -> (Proc, std::path::PathBuf) {
    let addr = format!("127.0.0.1:{}", free_port());
    let mut flags = vec!["--source-grpc-addr".to_owned(), addr.clone()];
    flags.extend(extra.iter().cloned());
    let hub = stack.start_hub_with(&flags).await;
    let config = stack.dir.path().join("go-source-api.yaml");
    std::fs::write(&config, format!("url: {addr}\n")).unwrap();
    (hub, config)
}

fn work(cluster: &str, name: &str, value: &str) -> Value {
    json!({
        "metadata": {"name": name, "namespace": cluster, "labels": {"app": name}},
        "spec": {"workload": {"manifests": [configmap(value)]}}
    })
}

async fn worksource(config: &std::path::Path, source: &str, state: &std::path::Path) -> GoProcess {
    let go = GoProcess::spawn(&[
        "worksource",
        config.to_str().unwrap(),
        source,
        state.to_str().unwrap(),
    ])
    .await;
    go.wait_for("Go work source ready", |l| l["kind"] == "ready")
        .await;
    go
}

/// Sends a command and returns its reply; fails on an error.
async fn ok(go: &mut GoProcess, command: Value) -> Value {
    let reply = go.request(command.clone()).await;
    assert!(reply["error"].is_null(), "{command} failed: {reply}");
    reply
}

fn condition<'w>(work: &'w Value, type_: &str) -> Option<&'w Value> {
    work["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

/// Waits for a watch event of `uid` whose conditions `type_` is True at `generation`.
async fn condition_true(go: &GoProcess, uid: &str, type_: &str, generation: i64) {
    go.wait_for(&format!("{uid} {type_} at generation {generation}"), |l| {
        l["kind"] == "watch"
            && l["work"]["metadata"]["uid"] == uid
            && condition(&l["work"], type_)
                .is_some_and(|c| c["status"] == "True" && c["observedGeneration"] == generation)
    })
    .await;
}

async fn deleted(go: &GoProcess, uid: &str) {
    go.wait_for(&format!("{uid} deleted"), |l| {
        l["kind"] == "watch" && l["type"] == "deleted" && l["work"]["metadata"]["uid"] == uid
    })
    .await;
}

fn uids_seen(go: &GoProcess) -> std::collections::BTreeSet<String> {
    go.matching(|l| l["kind"] == "watch")
        .iter()
        .filter_map(|l| l["work"]["metadata"]["uid"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_work_source_client_drives_works_through_the_source_api() {
    let stack = Stack::new(Via::Grpc, Backend::Postgres).await;
    let (hub, config) = hub_with_source_api(&stack, &[]).await;
    let clusters = [stack.cluster("wsa"), stack.cluster("wsb")];
    let mut agents = Vec::new();
    for cluster in &clusters {
        stack.rest.consumer(cluster).await;
        agents.push(stack.start_agent(cluster));
        stack.await_connected(cluster).await;
    }
    let source = format!("maestro-{}", stack.suffix);
    let mut go = worksource(&config, &source, &stack.dir.path().join("a.json")).await;

    // 20 works over the two clusters, each Applied and Available.
    let mut uids = Vec::new();
    for i in 0..20 {
        let cluster = &clusters[i % 2];
        let reply = ok(
            &mut go,
            json!({"cmd": "create", "work": work(cluster, &format!("w{i}"), "v1")}),
        )
        .await;
        uids.push((
            cluster.clone(),
            format!("w{i}"),
            reply["uid"].as_str().unwrap().to_owned(),
        ));
    }
    for (_, _, uid) in &uids {
        condition_true(&go, uid, "Applied", 1).await;
        condition_true(&go, uid, "Available", 1).await;
    }
    // The works' ids, as a page lists them and as the source made them on one cluster.
    let ids_of = |page: &serde_json::Value| -> std::collections::BTreeSet<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let uids_on = |cluster: &str| -> std::collections::BTreeSet<String> {
        uids.iter()
            .filter(|(c, _, _)| c == cluster)
            .map(|(_, _, uid)| uid.clone())
            .collect()
    };
    // The same works through baton's REST API, under the ids the source gave them.
    for cluster in &clusters {
        let (status, page) = stack
            .rest
            .get(&format!("/api/v1/resources?consumer_name={cluster}"))
            .await;
        assert_eq!(status, 200, "{page}");
        let listed = ids_of(&page);
        let expected = uids_on(cluster);
        assert_eq!(listed, expected);
    }
    // And through Maestro's REST API, selected by Maestro's search on the owning source and
    // the consumer, as a Maestro user would find them.
    for cluster in &clusters {
        let search = format!("source = '{source}' and consumer_name = '{cluster}'");
        let url = format!(
            "/api/maestro/v1/resource-bundles?search={}",
            search.replace(' ', "%20").replace('\'', "%27")
        );
        let (status, page) = stack.rest.get(&url).await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["kind"], "ResourceBundleList", "{page}");
        let listed = ids_of(&page);
        let expected = uids_on(cluster);
        assert_eq!(listed, expected, "{search}");
        assert_eq!(page["total"], 10, "{page}");
    }

    // A second source on the same hub sees its own work only, and the first never sees it.
    let other = format!("other-{}", stack.suffix);
    let mut go_b = worksource(&config, &other, &stack.dir.path().join("b.json")).await;
    let theirs = ok(
        &mut go_b,
        json!({"cmd": "create", "work": work(&clusters[0], "theirs", "b")}),
    )
    .await;
    let theirs = theirs["uid"].as_str().unwrap().to_owned();
    condition_true(&go_b, &theirs, "Applied", 1).await;

    // Update one (Maestro's clients patch; version 0 takes the stored one): generation 2.
    let (cluster, name, uid) = uids[3].clone();
    let patch = json!({"spec": {"workload": {"manifests": [configmap("v2")]}}});
    ok(
        &mut go,
        json!({"cmd": "patch", "namespace": cluster, "name": name, "patch": patch}),
    )
    .await;
    condition_true(&go, &uid, "Applied", 2).await;
    // A stale version is refused, and the client reads it as a Kubernetes Conflict.
    let stale = json!({"metadata": {"annotations": {"cloudevents.open-cluster-management.io/resourceversion": "1"}},
                       "spec": {"workload": {"manifests": [configmap("v3")]}}});
    let refused = go
        .request(json!({"cmd": "patch", "namespace": cluster, "name": name, "patch": stale}))
        .await;
    assert_eq!(refused["reason"], "Conflict", "{refused}");

    // Delete all: each deletion is confirmed by its agent and reaches the source.
    for (cluster, name, _) in &uids {
        ok(
            &mut go,
            json!({"cmd": "delete", "namespace": cluster, "name": name}),
        )
        .await;
    }
    for (_, _, uid) in &uids {
        deleted(&go, uid).await;
        assert!(stack.resource(uid).await.is_none(), "{uid} still stored");
    }
    assert!(
        !uids_seen(&go).contains(&theirs),
        "source A saw source B's work"
    );
    let mine: std::collections::BTreeSet<String> = uids.iter().map(|(_, _, u)| u.clone()).collect();
    assert!(
        uids_seen(&go_b).iter().all(|u| !mine.contains(u)),
        "source B saw source A's works"
    );
    assert!(
        stack.resource(&theirs).await.is_some(),
        "B's work is untouched"
    );

    go.stop().await;
    go_b.stop().await;
    for agent in agents {
        agent.stop().await;
    }
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_go_source_resyncs_the_statuses_it_missed() {
    let stack = Stack::new(Via::Grpc, Backend::Sqlite).await;
    let (hub, config) = hub_with_source_api(&stack, &[]).await;
    let cluster = stack.cluster("wsr");
    stack.rest.consumer(&cluster).await;
    let agent = stack.start_agent(&cluster);
    stack.await_connected(&cluster).await;
    let source = format!("maestro-{}", stack.suffix);
    let state = stack.dir.path().join("source-state.json");
    let mut go = worksource(&config, &source, &state).await;
    let kept = ok(
        &mut go,
        json!({"cmd": "create", "work": work(&cluster, "kept", "v1")}),
    )
    .await;
    let gone = ok(
        &mut go,
        json!({"cmd": "create", "work": work(&cluster, "gone", "v1")}),
    )
    .await;
    let (kept, gone) = (
        kept["uid"].as_str().unwrap().to_owned(),
        gone["uid"].as_str().unwrap().to_owned(),
    );
    condition_true(&go, &kept, "Applied", 1).await;
    condition_true(&go, &gone, "Applied", 1).await;
    ok(&mut go, json!({"cmd": "save"})).await;
    go.stop().await;

    // While the source is away: one work changes (through REST) and is applied again, the
    // other is deleted and its deletion confirmed.
    let (status, body) = stack
        .rest
        .put(
            &format!("/api/v1/resources/{kept}"),
            json!({"version": 1, "manifests": [configmap("v2")]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = stack
        .rest
        .delete(&format!("/api/v1/resources/{gone}"))
        .await;
    assert_eq!(status, 202, "{body}");
    crate::support::eventually(
        "update applied, deletion confirmed",
        super::go::WAIT,
        || async { stack.applied(&kept, "True").await && stack.resource(&gone).await.is_none() },
    )
    .await;

    // Restarted with the works it held: its resync brings both.
    let go = worksource(&config, &source, &state).await;
    let ready = go.matching(|l| l["kind"] == "ready");
    assert_eq!(ready[0]["preloaded"], 2, "{ready:?}");
    condition_true(&go, &kept, "Applied", 2).await;
    deleted(&go, &gone).await;

    go.stop().await;
    agent.stop().await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_acting_as_another_is_refused() {
    let stack = Stack::new(Via::Grpc, Backend::Sqlite).await;
    let dir = stack.dir.path();
    let pki = crate::grpc_auth::Pki::new();
    let (cert, key) = pki.issue(&["localhost", "127.0.0.1"], "hub", None);
    let source = format!("maestro-{}", stack.suffix);
    let tokens = format!(
        "tokens:\n  - token: source-token\n    user: {source}\n    groups: [\"baton:sources\"]\n"
    );
    for (file, text) in [
        ("tls.crt", &cert),
        ("tls.key", &key),
        ("ca.pem", &pki.ca_pem),
        ("tokens.yaml", &tokens),
    ] {
        std::fs::write(dir.join(file), text).unwrap();
    }
    let path = |file: &str| dir.join(file).display().to_string();
    let (hub, config) = hub_with_source_api(
        &stack,
        &[
            "--grpc-tls-cert".into(),
            path("tls.crt"),
            "--grpc-tls-key".into(),
            path("tls.key"),
            "--grpc-token-file".into(),
            path("tokens.yaml"),
        ],
    )
    .await;
    let url = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!("{url}caFile: {}\ntoken: source-token\n", path("ca.pem")),
    )
    .unwrap();
    let cluster = stack.cluster("wsauth");
    stack.rest.consumer(&cluster).await;

    // As itself: stored, owned by it.
    let mut go = worksource(&config, &source, &dir.join("own.json")).await;
    let own = ok(
        &mut go,
        json!({"cmd": "create", "work": work(&cluster, "own", "v1")}),
    )
    .await;
    assert!(stack.resource(own["uid"].as_str().unwrap()).await.is_some());

    // The same token, claiming another source id: its publish and its subscription are refused.
    let mut impostor = worksource(
        &config,
        &format!("other-{}", stack.suffix),
        &dir.join("other.json"),
    )
    .await;
    let refused = impostor
        .request(json!({"cmd": "create", "work": work(&cluster, "forged", "v1")}))
        .await;
    assert!(
        refused["error"]
            .as_str()
            .is_some_and(|e| e.contains("PermissionDenied")),
        "{refused}"
    );
    let (_, page) = stack
        .rest
        .get(&format!("/api/v1/resources?consumer_name={cluster}"))
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
    crate::support::eventually("refusals counted", super::go::WAIT, || async {
        let metrics = stack.rest.metrics().await;
        metrics.contains(r#"baton_source_api_requests_total{call="publish",outcome="denied"} 1"#)
            && metrics
                .contains(r#"baton_source_api_requests_total{call="subscribe",outcome="denied"}"#)
    })
    .await;

    go.stop().await;
    impostor.stop().await;
    hub.stop().await;
}

/// Two replicas on one PostgreSQL: the source on replica 0's source API, the agent on replica 1's
/// broker. Replica 1 publishes the spec and writes the agent's status; the change feed brings
/// it (and the confirmed deletion) to the source subscribed on replica 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_written_by_another_replica_reaches_the_source() {
    let fleet = crate::ha::Fleet::grpc(2).await;
    let addr = format!("127.0.0.1:{}", free_port());
    let hub0 = fleet
        .start_hub_with(0, &["--source-grpc-addr".into(), addr.clone()])
        .await;
    let hub1 = fleet.start_hub(1).await;
    let cluster = fleet.cluster("wsha");
    fleet.rest.consumer(&cluster).await;
    let agent = fleet.start_agent(
        &cluster,
        &["--grpc-url".into(), fleet.replicas[1].grpc_url()],
    );
    crate::support::eventually("agent on replica 1", super::go::WAIT, || async {
        fleet.connected_at(&cluster).await == [1]
    })
    .await;
    let config = fleet.dir.path().join("go-source-api.yaml");
    std::fs::write(&config, format!("url: {addr}\n")).unwrap();
    let source = format!("maestro-{}", fleet.suffix);
    let mut go = worksource(&config, &source, &fleet.dir.path().join("state.json")).await;
    let created = ok(
        &mut go,
        json!({"cmd": "create", "work": work(&cluster, "far", "v1")}),
    )
    .await;
    let uid = created["uid"].as_str().unwrap().to_owned();
    condition_true(&go, &uid, "Applied", 1).await;
    ok(
        &mut go,
        json!({"cmd": "delete", "namespace": cluster, "name": "far"}),
    )
    .await;
    deleted(&go, &uid).await;

    go.stop().await;
    agent.stop().await;
    hub0.stop().await;
    hub1.stop().await;
}
