//! The load tests: three replicas on one database, 50 simulated clusters spread over
//! them (each agent given the three brokers, starting at one at random), creates, updates and
//! deletes sent round-robin through HAProxy by 4 clients, and one replica killed with SIGKILL
//! or all of them restarted with SIGTERM in the middle.
//!
//! The load comes in units of five changes on two resources of one cluster: create A and B,
//! update both to v2, delete B. A unit whose change failed (no answer: the replica died under
//! it) is not checked; every acknowledged unit must end with A applied at version 2 and B gone.
//!
//! A 503 `unavailable` (the hub's database pool stayed busy past its timeout: nothing was
//! done) is retried, as its status says, a few times; on a loaded test machine it is overload,
//! not the restart. Every other failure counts.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::Mutex;

use super::Fleet;
use crate::e2e::Proc;
use crate::harness::{Rest, configmap, resource_body};
use crate::support::eventually;

const CLUSTERS: usize = 50;
const UNITS: usize = 400; // 2,000 changes
const CLIENTS: usize = 4;
const CONVERGE: Duration = Duration::from_secs(120);

/// What the load did.
#[derive(Default)]
struct Outcome {
    /// A ids of acknowledged units: must be applied at version 2.
    kept: Vec<String>,
    /// B ids of acknowledged units: must be gone.
    deleted: Vec<String>,
    failed_requests: usize,
    /// What the first failures answered, for the assertion message.
    failures: Vec<String>,
}

struct Load {
    rest: Rest,
    prefix: String,
    next: AtomicUsize,
    done: AtomicUsize,
    /// 503 `unavailable` answers retried.
    overloaded: AtomicUsize,
    outcome: Mutex<Outcome>,
}

impl Load {
    /// `answer` if it has status `want`; else notes the failure.
    async fn expect(
        &self,
        what: &str,
        want: u16,
        answer: Result<(u16, serde_json::Value), String>,
    ) -> Option<serde_json::Value> {
        match answer {
            Ok((status, body)) if status == want => Some(body),
            other => {
                let mut outcome = self.outcome.lock().await;
                if outcome.failures.len() < 10 {
                    outcome.failures.push(format!("{what}: {other:?}"));
                }
                None
            }
        }
    }

    /// `send` again while it answers 503 `unavailable`, up to five times.
    async fn retrying<F, Fut>(&self, send: F) -> Result<(u16, serde_json::Value), String>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<(u16, serde_json::Value), String>>,
    {
        let mut answer = send().await;
        for attempt in 1..=5 {
            match &answer {
                Ok((503, body)) if body["code"] == "unavailable" => {
                    self.overloaded.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
                    answer = send().await;
                }
                _ => break,
            }
        }
        answer
    }

    async fn create(&self, cluster: &str, name: &str) -> Option<String> {
        let body = resource_body(cluster, Some(name), "v1");
        let answer = self
            .retrying(|| self.rest.try_post("/api/v1/resources", body.clone()))
            .await;
        let body = self.expect("create", 201, answer).await?;
        Some(body["id"].as_str()?.to_owned())
    }

    async fn update(&self, id: &str) -> bool {
        let body = json!({"version": 1, "manifests": [configmap("v2")]});
        let path = format!("/api/v1/resources/{id}");
        let answer = self
            .retrying(|| self.rest.try_put(&path, body.clone()))
            .await;
        self.expect("update", 200, answer).await.is_some()
    }

    async fn delete(&self, id: &str) -> bool {
        let path = format!("/api/v1/resources/{id}");
        let answer = self.retrying(|| self.rest.try_delete(&path)).await;
        self.expect("delete", 202, answer).await.is_some()
    }

    /// One unit; `None` if a change was not acknowledged.
    async fn unit(&self, n: usize) -> Option<(String, String)> {
        let cluster = format!("{}{}", self.prefix, n % CLUSTERS + 1);
        let a = self.create(&cluster, &format!("a{n}")).await?;
        let b = self.create(&cluster, &format!("b{n}")).await?;
        (self.update(&a).await && self.update(&b).await && self.delete(&b).await).then_some((a, b))
    }

    async fn client(self: Arc<Self>) {
        loop {
            let n = self.next.fetch_add(1, Ordering::Relaxed);
            if n >= UNITS {
                return;
            }
            let result = self.unit(n).await;
            let mut outcome = self.outcome.lock().await;
            match result {
                Some((a, b)) => {
                    outcome.kept.push(a);
                    outcome.deleted.push(b);
                }
                None => outcome.failed_requests += 1,
            }
            drop(outcome);
            self.done.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Starts the three replicas and the 50 simulated clusters, registered and connected.
async fn fleet_with_agents() -> (Fleet, Vec<Option<Proc>>, Proc, String) {
    let fleet = Fleet::grpc(3).await;
    let mut hubs = Vec::new();
    for i in 0..3 {
        hubs.push(Some(fleet.start_hub(i).await));
    }
    let prefix = format!("ld-{}-", fleet.suffix);
    for i in 1..=CLUSTERS {
        fleet.rest.consumer(&format!("{prefix}{i}")).await;
    }
    let urls: Vec<String> = fleet.replicas.iter().map(|r| r.grpc_url()).collect();
    let agents = Proc::spawn(
        &[
            "agent".into(),
            "--simulate".into(),
            CLUSTERS.to_string(),
            "--cluster-prefix".into(),
            prefix.clone(),
            "--grpc-url".into(),
            urls.join(","),
        ],
        fleet.log("agents"),
    );
    eventually("every simulated cluster connected", CONVERGE, || async {
        let (_, list) = fleet.rest.get("/api/v1/consumers?size=100").await;
        list["items"].as_array().is_some_and(|items| {
            items.iter().filter(|c| c["connected"] == true).count() == CLUSTERS
        })
    })
    .await;
    (fleet, hubs, agents, prefix)
}

/// Every resource of the test, by id: (version, Applied=True for that version).
async fn resources(fleet: &Fleet) -> std::collections::HashMap<String, (i64, bool)> {
    let mut all = std::collections::HashMap::new();
    for page in 1.. {
        let (status, list) = fleet
            .rest
            .get(&format!("/api/v1/resources?size=500&page={page}"))
            .await;
        if status != 200 {
            return std::collections::HashMap::new(); // a replica going away: ask again
        }
        let items = list["items"].as_array().cloned().unwrap_or_default();
        for r in &items {
            let version = r["version"].as_i64().unwrap_or_default();
            let applied = r["status"]["conditions"].as_array().is_some_and(|cs| {
                cs.iter().any(|c| {
                    c["type"] == "Applied"
                        && c["status"] == "True"
                        && c["observedGeneration"].as_i64() == Some(version)
                })
            });
            all.insert(r["id"].as_str().unwrap().to_owned(), (version, applied));
        }
        if items.len() < 500 {
            break;
        }
    }
    all
}

async fn converged(fleet: &Fleet, outcome: &Outcome) -> bool {
    let all = resources(fleet).await;
    if all.is_empty() {
        return false;
    }
    let gone: HashSet<&String> = outcome.deleted.iter().collect();
    outcome
        .kept
        .iter()
        .all(|id| all.get(id) == Some(&(2, true)))
        && all.keys().all(|id| !gone.contains(id))
}

/// Runs the load; `disrupt` runs once half of it is acknowledged. Returns the outcome and how
/// long after `disrupt` returned everything had converged.
async fn load_with<F, Fut>(fleet: &Fleet, prefix: &str, disrupt: F) -> (Outcome, Duration)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let load = Arc::new(Load {
        rest: Rest::without_keep_alive(fleet.rest.url("")),
        prefix: prefix.to_owned(),
        next: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
        overloaded: AtomicUsize::new(0),
        outcome: Mutex::new(Outcome::default()),
    });
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| tokio::spawn(load.clone().client()))
        .collect();
    eventually("half of the load acknowledged", CONVERGE, || {
        let half = load.done.load(Ordering::Relaxed) >= UNITS / 2;
        async move { half }
    })
    .await;
    disrupt().await;
    let disrupted = Instant::now();
    for client in clients {
        client.await.unwrap();
    }
    let outcome = std::mem::take(&mut *load.outcome.lock().await);
    let retried = load.overloaded.load(Ordering::Relaxed);
    if retried > 0 {
        eprintln!("{retried} answers 503 unavailable (database pool busy) retried");
    }
    eventually("every acknowledged change applied", CONVERGE, || {
        converged(fleet, &outcome)
    })
    .await;
    (outcome, disrupted.elapsed())
}

#[tokio::test]
async fn three_replicas_fifty_clusters_one_killed_with_sigkill_lose_no_acknowledged_change() {
    let (fleet, mut hubs, agents, prefix) = fleet_with_agents().await;
    let victim = hubs[1].take().unwrap();
    let (outcome, took) = load_with(&fleet, &prefix, || async {
        victim.kill().await;
        for i in [0, 2] {
            assert_eq!(
                fleet.rest_of(i).get("/readyz").await.0,
                200,
                "replica {i} stays ready"
            );
        }
    })
    .await;
    eprintln!(
        "SIGKILL of one of 3 replicas under load: {} units acknowledged, {} failed; converged {took:?} after the kill",
        outcome.kept.len(),
        outcome.failed_requests
    );
    assert!(
        outcome.kept.len() >= UNITS / 2,
        "most of the load acknowledged"
    );
    agents.stop().await;
    for hub in hubs.into_iter().flatten() {
        hub.stop().await;
    }
}

#[tokio::test]
async fn three_replicas_restarted_one_by_one_with_sigterm_under_load_fail_no_request() {
    let (fleet, mut hubs, agents, prefix) = fleet_with_agents().await;
    let (outcome, _) = load_with(&fleet, &prefix, || async {
        for (i, hub) in hubs.iter_mut().enumerate() {
            hub.take().unwrap().stop().await;
            *hub = Some(fleet.start_hub(i).await);
        }
    })
    .await;
    assert_eq!(
        outcome.failed_requests, 0,
        "requests failed during the rolling restart: {:#?}",
        outcome.failures
    );
    assert_eq!(outcome.kept.len(), UNITS);
    agents.stop().await;
    for hub in hubs.into_iter().flatten() {
        hub.stop().await;
    }
}
