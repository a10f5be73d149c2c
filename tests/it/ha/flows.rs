//! What several replicas on one database must do today: agents move between replicas' brokers
//! (by URL list or through the load balancer), and MQTT replicas sharing one config file keep
//! their broker connections.

use std::time::Duration;

use super::Fleet;
use crate::e2e::WAIT;
use crate::support::{eventually, free_port};

/// Waits until exactly replica `i`'s broker has the cluster's agent.
async fn await_connected_at(fleet: &Fleet, cluster: &str, i: usize) {
    eventually(
        &format!("agent of {cluster} on replica {i}"),
        WAIT,
        || async { fleet.connected_at(cluster).await == [i] },
    )
    .await;
}

/// Replica `i`'s own count of subscribed agents (`baton_broker_subscribed_clusters`).
async fn subscribed_at(fleet: &Fleet, i: usize) -> f64 {
    let metrics = fleet.rest_of(i).metrics().await;
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("baton_broker_subscribed_clusters "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("replica {i} has no subscribed gauge:\n{metrics}"))
}

async fn await_applied(fleet: &Fleet, ids: &[String]) {
    for id in ids {
        eventually(&format!("resource {id} applied"), WAIT, || {
            fleet.applied(id)
        })
        .await;
    }
}

/// One replica at a time: the agent starts on replica 0 (replica 1 is not up yet, the agent
/// tries it and moves on), then replica 1 comes up and replica 0 is killed; the agent must
/// end up on replica 1 and receive what is created there.
/// With `hosts`, the agent resolves names through that hosts file.
async fn agent_moves_when_its_replica_dies(
    fleet: Fleet,
    agent_via: Vec<String>,
    hosts: Option<&std::path::Path>,
) {
    let hub0 = fleet.start_hub(0).await;
    let cluster = fleet.cluster("mover");
    fleet.rest.consumer(&cluster).await;
    let agent = match hosts {
        Some(hosts) => fleet.start_agent_with_hosts(&cluster, &agent_via, hosts),
        None => fleet.start_agent(&cluster, &agent_via),
    };
    await_connected_at(&fleet, &cluster, 0).await;
    let before = fleet.create(&fleet.rest, &cluster, "before").await;
    await_applied(&fleet, std::slice::from_ref(&before)).await;

    let hub1 = fleet.start_hub(1).await;
    // Each replica counts the agents on its own broker only.
    assert_eq!(subscribed_at(&fleet, 0).await, 1.0);
    assert_eq!(subscribed_at(&fleet, 1).await, 0.0);
    hub0.kill().await;
    await_connected_at(&fleet, &cluster, 1).await;
    eventually("replica 1 counts the agent", WAIT, || async {
        subscribed_at(&fleet, 1).await == 1.0
    })
    .await;
    let after = fleet.create(&fleet.rest, &cluster, "after").await;
    await_applied(&fleet, &[before, after]).await;
    agent.stop().await;
    hub1.stop().await;
}

#[tokio::test]
async fn an_agent_given_several_grpc_urls_moves_to_the_next_replica_when_its_own_dies() {
    let fleet = Fleet::grpc(2).await;
    let urls = vec![
        "--grpc-url".into(),
        format!(
            "{},{}",
            fleet.replicas[1].grpc_url(),
            fleet.replicas[0].grpc_url()
        ),
    ];
    agent_moves_when_its_replica_dies(fleet, urls, None).await;
}

/// One host name, one address per replica (the DNS shape of a headless Kubernetes service):
/// the agent tries the name's addresses in turn on each connect, so it reaches whichever
/// replica is up.
#[tokio::test]
async fn an_agent_given_one_host_name_with_several_addresses_moves_to_the_next_replica_when_its_own_dies()
 {
    let fleet = Fleet::grpc_on_one_port(2).await;
    let name = "hubs.baton.test";
    let hosts = fleet.dir.path().join("hosts");
    let lines: String = fleet
        .replicas
        .iter()
        .map(|r| format!("{} {name}\n", r.grpc_ip))
        .collect();
    std::fs::write(&hosts, format!("127.0.0.1 localhost\n{lines}")).unwrap();
    let url = format!("http://{name}:{}", fleet.replicas[0].grpc);
    agent_moves_when_its_replica_dies(fleet, vec!["--grpc-url".into(), url], Some(&hosts)).await;
}

#[tokio::test]
async fn an_agent_behind_haproxy_reconnects_to_another_replica_when_its_own_dies() {
    let fleet = Fleet::grpc(2).await;
    let via = vec!["--grpc-url".into(), fleet.lb.grpc_url()];
    agent_moves_when_its_replica_dies(fleet, via, None).await;
}

#[tokio::test]
async fn rest_calls_through_haproxy_reach_every_replica() {
    let fleet = Fleet::grpc(2).await;
    let hubs = [fleet.start_hub(0).await, fleet.start_hub(1).await];
    let cluster = fleet.cluster("rr");
    fleet.rest.consumer(&cluster).await;
    for i in 0..6 {
        fleet.create(&fleet.rest, &cluster, &format!("r{i}")).await;
    }
    // Round robin: each replica served some of the creates (their own HTTP metrics say so).
    for i in 0..2 {
        let metrics = fleet.rest_of(i).metrics().await;
        let posts: f64 = metrics
            .lines()
            .filter(|l| {
                l.contains("method=\"POST\"")
                    && l.contains("/api/v1/resources")
                    && !l.starts_with('#')
            })
            .filter(|l| l.contains("_count"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        assert!(posts >= 1.0, "replica {i} served no create:\n{metrics}");
    }
    for hub in hubs {
        hub.stop().await;
    }
}

/// Two replicas on one MQTT config file, the default client ids: each connects once under
/// its own id and stays connected while changes flow (one shared id made the broker drop
/// each in turn). One replica at a time publishes (the lease), so each change is published
/// once; when it stops, the other one takes over.
#[tokio::test]
async fn mqtt_replicas_on_one_config_file_connect_once_each_and_publish_each_change_once() {
    let mosquitto = crate::mqtt::broker::Mosquitto::start().await;
    let fleet = Fleet::mqtt(2, &mosquitto.host()).await;
    let mut hubs = vec![fleet.start_hub(0).await, fleet.start_hub(1).await];
    let cluster = fleet.cluster("mq");
    fleet.rest.consumer(&cluster).await;
    let agent = fleet.start_agent(&cluster, &fleet.agent_mqtt());
    eventually("agent subscribed", WAIT, || async {
        mosquitto
            .log()
            .contains(&format!("as {cluster}-work-agent-client"))
    })
    .await;
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(fleet.create(&fleet.rest, &cluster, &format!("r{i}")).await);
    }
    await_applied(&fleet, &ids).await;

    let log = mosquitto.log();
    let prefix = format!("as {}-", fleet.source_id());
    let hub_ids: Vec<&str> = log
        .lines()
        .filter_map(|l| l.split(&prefix).nth(1)?.split([' ', '\t']).next())
        .collect();
    assert_eq!(hub_ids.len(), 2, "each replica connects once:\n{log}");
    assert_ne!(hub_ids[0], hub_ids[1], "replicas share a client id:\n{log}");
    assert!(!log.contains("already connected"), "{log}");
    for hub in &hubs {
        let text = std::fs::read_to_string(&hub.log).unwrap();
        assert!(!text.contains("MQTT connection down"), "{text}");
    }
    let each = [fleet.publishes_of(0).await, fleet.publishes_of(1).await];
    assert_eq!(
        each.iter().sum::<u64>(),
        20,
        "each change published once: {each:?}"
    );
    assert!(each.contains(&0), "one replica publishes: {each:?}");

    let holder = if each[0] > 0 { 0 } else { 1 };
    hubs.remove(holder).stop().await;
    let mut later = Vec::new();
    for i in 0..5 {
        later.push(
            fleet
                .create(&fleet.rest, &cluster, &format!("later{i}"))
                .await,
        );
    }
    await_applied(&fleet, &later).await;
    assert_eq!(
        fleet.publishes_of(1 - holder).await,
        5,
        "the other replica took over"
    );
    agent.stop().await;
    for hub in hubs {
        hub.stop().await;
    }
}

/// The embedded SQLite store serves one process: a second `baton serve` on the same data
/// directory exits at once, saying why and what to use instead, and the first one keeps serving.
#[tokio::test]
async fn a_second_replica_on_the_same_sqlite_data_dir_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let (first_http, second_http) = (free_port(), free_port());
    let serve = |http: u16| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_baton"));
        command
            .args(["serve", "--http-addr", &format!("127.0.0.1:{http}")])
            .args(["--grpc-addr", &format!("127.0.0.1:{}", free_port())])
            .arg("--data-dir")
            .arg(dir.path())
            .env_remove("DATABASE_URL")
            .env_remove("BATON_TRANSPORT")
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        command
    };
    let first = crate::harness::Rest::new(format!("http://127.0.0.1:{first_http}"));
    let mut first_hub = serve(first_http)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    eventually("first hub ready", WAIT, || async {
        first
            .http
            .get(first.url("/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;

    let second = tokio::time::timeout(WAIT, serve(second_http).output())
        .await
        .expect("the second hub exits by itself")
        .unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "{stderr}");
    let pid = first_hub.id().unwrap();
    for part in [
        "in use by another baton process".to_owned(),
        format!("pid {pid}"),
        "several replicas need PostgreSQL".to_owned(),
    ] {
        assert!(stderr.contains(&part), "no {part:?} in: {stderr}");
    }
    assert_eq!(
        first.get("/readyz").await.0,
        200,
        "the first hub still serves"
    );
    first_hub.kill().await.unwrap();
}

/// The compose stack's load balancer config (deploy/haproxy/haproxy.cfg) is one HAProxy
/// accepts: checked by the same HAProxy series the official image runs.
#[tokio::test]
async fn the_compose_stack_s_haproxy_config_is_valid() {
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/haproxy/haproxy.cfg");
    let output = tokio::process::Command::new(super::haproxy::haproxy_bin())
        .args(["-c", "-f", config])
        .output()
        .await
        .expect("haproxy runs (scripts/services installs it)");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The first report: an agent on one replica, changes made through another. Each
/// change reaches the agent well before the 30 s redelivery, is published once (by the replica
/// the agent is on), and every replica answers `connected` for the agent with its replica.
#[tokio::test]
async fn a_change_made_through_one_replica_reaches_an_agent_connected_to_another() {
    let fleet = Fleet::grpc(2).await;
    let hubs = [fleet.start_hub(0).await, fleet.start_hub(1).await];
    let cluster = fleet.cluster("across");
    fleet.rest.consumer(&cluster).await;
    let agent = fleet.start_agent(
        &cluster,
        &["--grpc-url".into(), fleet.replicas[0].grpc_url()],
    );
    await_connected_at(&fleet, &cluster, 0).await;
    eventually("replica 1 shows the agent on replica 0", WAIT, || async {
        let (_, view) = fleet
            .rest_of(1)
            .get(&format!("/api/v1/consumers/{cluster}"))
            .await;
        view["connected"] == true
            && view["replica"] == "hub0"
            && view["connected_since"].is_string()
    })
    .await;

    let started = std::time::Instant::now();
    let mut ids = Vec::new();
    for i in 0..10 {
        ids.push(
            fleet
                .create(&fleet.rest_of(1), &cluster, &format!("r{i}"))
                .await,
        );
    }
    await_applied(&fleet, &ids).await;
    // The statuses reached replica 0; replica 1 shows when the agent was last heard from.
    eventually("replica 1 shows the agent's last event", WAIT, || async {
        let (_, view) = fleet
            .rest_of(1)
            .get(&format!("/api/v1/consumers/{cluster}"))
            .await;
        view["last_seen_at"].is_string()
    })
    .await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "took {took:?}: delivered by redelivery, not by the agent's replica"
    );
    assert_eq!(fleet.publishes().await, 10, "each change published once");
    agent.stop().await;
    for hub in hubs {
        hub.stop().await;
    }
}
