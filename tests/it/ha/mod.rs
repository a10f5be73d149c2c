//! Several `baton serve` replicas on one PostgreSQL database, behind a real load balancer
//! (HAProxy from Debian, installed by `scripts/services`, started here with a generated config:
//! HTTP mode for the REST API, TCP mode for the built-in gRPC brokers). See docs/ha.md.

mod away;
mod flows;
mod haproxy;
mod load;

use std::path::PathBuf;

use serde_json::Value;

use crate::e2e::{Proc, WAIT};
use crate::harness::{Backend, Rest, TestDb};
use crate::support::{eventually, free_port};
pub use haproxy::Haproxy;

/// One replica's listeners.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub http: u16,
    /// The loopback address the broker listens on (127.0.0.1 unless a test needs replicas
    /// behind one host name: same port, different addresses).
    pub grpc_ip: std::net::Ipv4Addr,
    pub grpc: u16,
}

impl Ports {
    fn new() -> Self {
        Self {
            http: free_port(),
            grpc_ip: std::net::Ipv4Addr::LOCALHOST,
            grpc: free_port(),
        }
    }

    pub fn grpc_addr(&self) -> String {
        format!("{}:{}", self.grpc_ip, self.grpc)
    }

    pub fn grpc_url(&self) -> String {
        format!("http://{}", self.grpc_addr())
    }
}

/// `n` replicas' worth of ports on one database, a load balancer in front, and what the test's
/// processes share (source id, MQTT config, log directory).
pub struct Fleet {
    pub db: TestDb,
    pub replicas: Vec<Ports>,
    pub lb: Haproxy,
    /// REST through the load balancer.
    pub rest: Rest,
    pub dir: tempfile::TempDir,
    pub suffix: String,
    /// `Some(host)`: the hubs use MQTT through this broker.
    mqtt: Option<String>,
    /// A connection to the database, for [`Fleet::connected_at`].
    registry: tokio::sync::OnceCell<sqlx::PgPool>,
}

impl Fleet {
    /// Ports for `n` replicas over the built-in gRPC broker, and the load balancer (started).
    pub async fn grpc(n: usize) -> Self {
        Self::new(n, None).await
    }

    /// Like [`Fleet::grpc`], the hubs sharing agents' events through `$share` on `mqtt_host`.
    pub async fn mqtt(n: usize, mqtt_host: &str) -> Self {
        Self::new(n, Some(mqtt_host.to_owned())).await
    }

    /// Like [`Fleet::grpc`], but replica `i`'s broker listens on 127.0.0.`i+1`, all on one
    /// port: one host name mapped to those addresses reaches every replica.
    pub async fn grpc_on_one_port(n: usize) -> Self {
        let port = free_port();
        let replicas = (0..n)
            .map(|i| Ports {
                grpc_ip: std::net::Ipv4Addr::new(127, 0, 0, i as u8 + 1),
                grpc: port,
                ..Ports::new()
            })
            .collect();
        Self::with_replicas(replicas, None).await
    }

    async fn new(n: usize, mqtt: Option<String>) -> Self {
        Self::with_replicas((0..n).map(|_| Ports::new()).collect(), mqtt).await
    }

    async fn with_replicas(replicas: Vec<Ports>, mqtt: Option<String>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let lb = Haproxy::start(dir.path(), &replicas).await;
        let rest = Rest::new(format!("http://127.0.0.1:{}", lb.http_port));
        let fleet = Self {
            db: TestDb::new(Backend::Postgres).await,
            replicas,
            lb,
            rest,
            dir,
            suffix: uuid::Uuid::new_v4().simple().to_string()[..8].to_owned(),
            mqtt,
            registry: tokio::sync::OnceCell::new(),
        };
        if let Some(host) = &fleet.mqtt {
            fleet.write_mqtt_config(host);
        }
        fleet
    }

    pub fn source_id(&self) -> String {
        format!("ha-{}", self.suffix)
    }

    pub fn cluster(&self, name: &str) -> String {
        format!("{name}-{}", self.suffix)
    }

    /// One file for every replica (the hub side) and one for agents.
    fn write_mqtt_config(&self, host: &str) {
        let sid = self.source_id();
        let hub = format!(
            "brokerHost: {host}\ntopics:\n  sourceEvents: sources/{sid}/consumers/+/sourceevents\n  agentEvents: $share/{sid}/sources/{sid}/consumers/+/agentevents\n  sourceBroadcast: sources/{sid}/sourcebroadcast\n  agentBroadcast: $share/{sid}/consumers/+/agentbroadcast\n"
        );
        let agent = format!(
            "brokerHost: {host}\ntopics:\n  sourceEvents: sources/{sid}/consumers/+/sourceevents\n  agentEvents: sources/{sid}/consumers/+/agentevents\n  sourceBroadcast: sources/{sid}/sourcebroadcast\n  agentBroadcast: consumers/+/agentbroadcast\n"
        );
        std::fs::write(self.dir.path().join("hub-mqtt.yaml"), hub).unwrap();
        std::fs::write(self.dir.path().join("agent-mqtt.yaml"), agent).unwrap();
    }

    /// REST straight to replica `i`, past the load balancer.
    pub fn rest_of(&self, i: usize) -> Rest {
        Rest::new(format!("http://127.0.0.1:{}", self.replicas[i].http))
    }

    pub fn log(&self, name: &str) -> PathBuf {
        self.dir
            .path()
            .join(format!("{name}-{}.log", uuid::Uuid::new_v4().simple()))
    }

    /// Starts replica `i` (`baton serve`) and waits until it is ready.
    pub async fn start_hub(&self, i: usize) -> Proc {
        self.start_hub_with(i, &[]).await
    }

    /// [`Fleet::start_hub`] with `extra` flags.
    pub async fn start_hub_with(&self, i: usize, extra: &[String]) -> Proc {
        let ports = self.replicas[i];
        let mut args: Vec<String> = [
            "serve",
            "--database-url",
            &self.db.url,
            "--http-addr",
            &format!("127.0.0.1:{}", ports.http),
            "--grpc-addr",
            &ports.grpc_addr(),
            "--source-id",
            &self.source_id(),
            "--instance-id",
            &format!("hub{i}"),
            // A status a replica could not write (its database pool busy past the timeout, on a
            // loaded test machine) comes back with the periodic status resync: every 15 s here
            // instead of 5 min, so that it comes back within a test's deadline.
            "--status-resync-interval",
            "15s",
        ]
        .map(str::to_owned)
        .to_vec();
        args.extend(extra.iter().cloned());
        if self.mqtt.is_some() {
            args.extend(["--transport".into(), "mqtt".into(), "--mqtt-config".into()]);
            args.push(self.dir.path().join("hub-mqtt.yaml").display().to_string());
        }
        let hub = Proc::spawn(&args, self.log(&format!("hub{i}")));
        let rest = self.rest_of(i);
        eventually(&format!("replica {i} ready"), WAIT, || async {
            rest.http
                .get(rest.url("/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
        })
        .await;
        let served_by = format!("hub{i}");
        eventually(
            &format!("replica {i} in the balancer's rotation"),
            WAIT,
            || async {
                self.rest
                    .http
                    .get(self.rest.url("/readyz"))
                    .send()
                    .await
                    .is_ok_and(|r| {
                        r.headers()
                            .get(haproxy::SERVED_BY)
                            .is_some_and(|v| v.as_bytes() == served_by.as_bytes())
                    })
            },
        )
        .await;
        hub
    }

    /// `baton agent` for `cluster` with the given transport arguments.
    pub fn start_agent(&self, cluster: &str, via: &[String]) -> Proc {
        let mut args: Vec<String> = ["agent", "--cluster", cluster, "--state-dir"]
            .map(str::to_owned)
            .to_vec();
        args.push(self.dir.path().join(cluster).display().to_string());
        args.extend_from_slice(via);
        Proc::spawn(&args, self.log(&format!("agent-{cluster}")))
    }

    /// Like [`Fleet::start_agent`], in a mount namespace of its own whose `/etc/hosts` is
    /// `hosts`: a host name with several addresses without touching the machine's resolver.
    /// Needs root (the tests run as root, like `scripts/services`).
    pub fn start_agent_with_hosts(
        &self,
        cluster: &str,
        via: &[String],
        hosts: &std::path::Path,
    ) -> Proc {
        let wrapper = [
            "unshare",
            "--mount",
            "--",
            "sh",
            "-c",
            r#"mount --bind "$1" /etc/hosts && shift && exec "$@""#,
            "sh",
        ]
        .map(str::to_owned)
        .into_iter()
        .chain([hosts.display().to_string()])
        .collect::<Vec<_>>();
        let mut args: Vec<String> = ["agent", "--cluster", cluster, "--state-dir"]
            .map(str::to_owned)
            .to_vec();
        args.push(self.dir.path().join(cluster).display().to_string());
        args.extend_from_slice(via);
        Proc::spawn_via(&wrapper, &args, self.log(&format!("agent-{cluster}")))
    }

    /// Agent arguments for MQTT.
    pub fn agent_mqtt(&self) -> Vec<String> {
        vec![
            "--mqtt-config".into(),
            self.dir
                .path()
                .join("agent-mqtt.yaml")
                .display()
                .to_string(),
        ]
    }

    /// Which running replica holds the cluster's agent, as the connection registry says (a
    /// replica claims a cluster within its scan, 100 ms, of the agent subscribing to its
    /// broker). Not the consumer view: its `connected` is fleet-wide, and what one replica
    /// knows of the others is only as fresh as its last heartbeat.
    pub async fn connected_at(&self, cluster: &str) -> Vec<usize> {
        let registry = self
            .registry
            .get_or_init(|| async {
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(1)
                    .connect(&self.db.url)
                    .await
                    .unwrap()
            })
            .await;
        let holder: Option<String> = sqlx::query_scalar(
            "SELECT instance_id FROM consumer_connections WHERE consumer_name = $1",
        )
        .bind(cluster)
        .fetch_optional(registry)
        .await
        .unwrap()
        .flatten();
        let mut at = Vec::new();
        for i in 0..self.replicas.len() {
            if holder.as_deref() != Some(format!("hub{i}").as_str()) {
                continue;
            }
            let rest = self.rest_of(i);
            let url = rest.url(&format!("/api/v1/consumers/{cluster}"));
            let Ok(response) = rest.http.get(url).send().await else {
                continue; // not running: a claim left by a replica that was killed
            };
            if Rest::read(response).await.0 == 200 {
                at.push(i);
            }
        }
        at
    }

    /// `baton_publishes_total{outcome="ok"}` summed over the running replicas.
    pub async fn publishes(&self) -> u64 {
        let mut total = 0;
        for i in 0..self.replicas.len() {
            total += self.publishes_of(i).await;
        }
        total
    }

    /// `baton_publishes_total{outcome="ok"}` of replica `i` (0 when it is not running).
    pub async fn publishes_of(&self, i: usize) -> u64 {
        let rest = self.rest_of(i);
        let Ok(response) = rest.http.get(rest.url("/metrics")).send().await else {
            return 0;
        };
        let text = response.text().await.unwrap_or_default();
        text.lines()
            .filter_map(|l| l.strip_prefix("baton_publishes_total{outcome=\"ok\"} "))
            .filter_map(|n| n.trim().parse::<u64>().ok())
            .sum()
    }

    pub async fn create(&self, rest: &Rest, cluster: &str, name: &str) -> String {
        let (status, body) = rest
            .post(
                "/api/v1/resources",
                crate::harness::resource_body(cluster, Some(name), "v1"),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    /// Applied=True reported for the resource's current version (read through the balancer).
    pub async fn applied(&self, id: &str) -> bool {
        let (status, r) = self.rest.get(&format!("/api/v1/resources/{id}")).await;
        if status != 200 {
            return false;
        }
        let version = r["version"].as_i64();
        r["status"]["conditions"].as_array().is_some_and(|cs| {
            cs.iter().any(|c: &Value| {
                c["type"] == "Applied"
                    && c["status"] == "True"
                    && c["observedGeneration"].as_i64() == version
            })
        })
    }
}

/// A failing test leaves its process logs behind for the post-mortem (the temp dir goes).
impl Drop for Fleet {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let keep = std::env::temp_dir().join(format!("baton-ha-failed-{}", self.suffix));
        if std::fs::create_dir_all(&keep).is_err() {
            return;
        }
        for entry in std::fs::read_dir(self.dir.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            if entry.path().extension().is_some_and(|e| e == "log") {
                let _ = std::fs::copy(entry.path(), keep.join(entry.file_name()));
            }
        }
        eprintln!("process logs of the failed test kept in {}", keep.display());
    }
}
