//! End-to-end tests of the whole path with the real binaries: `baton serve` and `baton agent`
//! processes, a real PostgreSQL or the embedded SQLite store (a data directory the hub owns), and
//! either the hub's built-in gRPC broker or the Mosquitto that `scripts/services` runs. Each test gets its own database, ports, source id and cluster names,
//! so tests can share one Mosquitto without hearing each other.

mod flows;

use crate::support::free_port;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::process::{Child, Command};

use crate::harness::{Backend, Rest, TestDb};
use crate::support::eventually;

pub const WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Grpc,
    Mqtt,
}

/// A `baton` child process whose output goes to a log file; killed on drop.
pub struct Proc {
    child: Child,
    pub log: PathBuf,
}

impl Proc {
    pub fn spawn(args: &[String], log: PathBuf) -> Self {
        Self::spawn_via(&[], args, log)
    }

    /// `baton` run by `wrapper` (a command line that ends by exec'ing the arguments after it),
    /// e.g. in a namespace of its own.
    pub fn spawn_via(wrapper: &[String], args: &[String], log: PathBuf) -> Self {
        let out = std::fs::File::create(&log).unwrap();
        let baton = env!("CARGO_BIN_EXE_baton").to_owned();
        let mut line = wrapper.iter().chain(std::iter::once(&baton)).chain(args);
        let child = Command::new(line.next().unwrap())
            .args(line)
            .env("RUST_LOG", "info")
            .env_remove("DATABASE_URL")
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        Self { child, log }
    }

    /// SIGTERM, then wait for a graceful exit.
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
        }
        match tokio::time::timeout(Duration::from_secs(15), self.child.wait()).await {
            Ok(status) => assert!(
                status.unwrap().success(),
                "unclean exit; log: {}",
                self.log.display()
            ),
            Err(_) => panic!(
                "did not stop within 15 s after SIGTERM; log: {}",
                self.log.display()
            ),
        }
    }

    /// SIGKILL: a crash.
    pub async fn kill(mut self) {
        self.child.kill().await.unwrap();
    }
}

/// One hub, its agents and everything they share.
pub struct Stack {
    pub via: Via,
    pub db: TestDb,
    pub rest: Rest,
    pub dir: tempfile::TempDir,
    pub suffix: String,
    http_port: u16,
    grpc_port: u16,
}

impl Stack {
    pub async fn new(via: Via, backend: Backend) -> Self {
        let host = std::env::var("MQTT_BROKER_HOST").unwrap_or_else(|_| "127.0.0.1:1883".into());
        Self::with_mqtt_host(via, backend, &host).await
    }

    /// Like [`Stack::new`], with MQTT through the broker at `mqtt_host`.
    pub async fn with_mqtt_host(via: Via, backend: Backend, mqtt_host: &str) -> Self {
        // An empty database; the hub migrates it on start. No store is opened here: a SQLite
        // data directory admits the hub process only.
        let db = TestDb::new(backend).await;
        let suffix = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
        let http_port = free_port();
        let rest = Rest::new(format!("http://127.0.0.1:{http_port}"));
        let stack = Self {
            via,
            db,
            rest,
            dir: tempfile::tempdir().unwrap(),
            suffix,
            http_port,
            grpc_port: free_port(),
        };
        if via == Via::Mqtt {
            stack.write_mqtt_configs(mqtt_host);
        }
        stack
    }

    /// The hub's built-in broker (`--grpc-addr`), as host:port.
    pub fn grpc_addr(&self) -> String {
        format!("127.0.0.1:{}", self.grpc_port)
    }

    pub fn source_id(&self) -> String {
        format!("e2e-{}", self.suffix)
    }

    /// A cluster name unique to this test.
    pub fn cluster(&self, name: &str) -> String {
        format!("{name}-{}", self.suffix)
    }

    /// The MQTT client config (topics for [`Stack::source_id`]) the hub and agents use.
    pub fn mqtt_config(&self) -> PathBuf {
        self.dir.path().join("mqtt.yaml")
    }

    fn write_mqtt_configs(&self, host: &str) {
        let sid = self.source_id();
        let yaml = format!(
            "brokerHost: {host}\ntopics:\n  sourceEvents: sources/{sid}/consumers/+/sourceevents\n  agentEvents: sources/{sid}/consumers/+/agentevents\n  sourceBroadcast: sources/{sid}/sourcebroadcast\n"
        );
        std::fs::write(self.mqtt_config(), yaml).unwrap();
    }

    pub async fn start_hub(&self) -> Proc {
        self.start_hub_with(&[]).await
    }

    /// [`Stack::start_hub`] with more `baton serve` flags.
    pub async fn start_hub_with(&self, extra: &[String]) -> Proc {
        let database = match self.db.data_dir() {
            Some(dir) => ["--data-dir".into(), dir.display().to_string()],
            None => ["--database-url".into(), self.db.url.clone()],
        };
        let mut args: Vec<String> = vec![
            "serve".into(),
            database[0].clone(),
            database[1].clone(),
            "--http-addr".into(),
            format!("127.0.0.1:{}", self.http_port),
            "--grpc-addr".into(),
            format!("127.0.0.1:{}", self.grpc_port),
            "--source-id".into(),
            self.source_id(),
        ];
        args.extend(extra.iter().cloned());
        if self.via == Via::Mqtt {
            args.extend([
                "--transport".into(),
                "mqtt".into(),
                "--mqtt-config".into(),
                self.mqtt_config().display().to_string(),
            ]);
        }
        let log = self
            .dir
            .path()
            .join(format!("hub-{}.log", uuid::Uuid::new_v4().simple()));
        let hub = Proc::spawn(&args, log);
        eventually("hub ready (/readyz 200)", WAIT, || async {
            self.rest
                .http
                .get(self.rest.url("/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
        })
        .await;
        hub
    }

    fn agent_args(&self) -> Vec<String> {
        match self.via {
            Via::Grpc => vec![
                "--grpc-url".into(),
                format!("http://127.0.0.1:{}", self.grpc_port),
            ],
            Via::Mqtt => vec![
                "--mqtt-config".into(),
                self.mqtt_config().display().to_string(),
            ],
        }
    }

    /// `baton agent --cluster <cluster>` with a state directory kept across restarts.
    pub fn start_agent(&self, cluster: &str) -> Proc {
        let mut args = vec![
            "agent".into(),
            "--cluster".into(),
            cluster.to_owned(),
            "--state-dir".into(),
            self.dir.path().join(cluster).display().to_string(),
        ];
        args.extend(self.agent_args());
        Proc::spawn(
            &args,
            self.dir.path().join(format!(
                "agent-{cluster}-{}.log",
                uuid::Uuid::new_v4().simple()
            )),
        )
    }

    /// `baton agent --simulate n --cluster-prefix <prefix>`.
    pub fn start_simulated(&self, n: usize, prefix: &str) -> Proc {
        let mut args = vec![
            "agent".into(),
            "--simulate".into(),
            n.to_string(),
            "--cluster-prefix".into(),
            prefix.to_owned(),
        ];
        args.extend(self.agent_args());
        Proc::spawn(&args, self.dir.path().join(format!("agents-{prefix}.log")))
    }

    /// Waits until the cluster's agent is subscribed: the hub sees it (built-in broker), or
    /// (MQTT, where the hub cannot tell) the agent's newest log says so. A spec published to
    /// MQTT before the agent subscribes is dropped by the broker (clean sessions); creating
    /// resources only after this keeps the tests about what they test.
    pub async fn await_connected(&self, cluster: &str) {
        match self.via {
            Via::Grpc => {
                eventually(&format!("agent of {cluster} connected"), WAIT, || async {
                    self.rest
                        .get(&format!("/api/v1/consumers/{cluster}"))
                        .await
                        .1["connected"]
                        == true
                })
                .await
            }
            Via::Mqtt => {
                eventually(&format!("agent of {cluster} subscribed"), WAIT, || async {
                    self.newest_agent_log(cluster)
                        .is_some_and(|log| log.contains("subscribed; sending spec resync"))
                })
                .await
            }
        }
    }

    fn newest_agent_log(&self, cluster: &str) -> Option<String> {
        let prefix = format!("agent-{cluster}-");
        let newest = std::fs::read_dir(self.dir.path())
            .ok()?
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
            .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok())?;
        std::fs::read_to_string(newest.path()).ok()
    }

    pub async fn resource(&self, id: &str) -> Option<Value> {
        let (status, body) = self.rest.get(&format!("/api/v1/resources/{id}")).await;
        match status {
            200 => Some(body),
            404 => None,
            other => panic!("GET resource {id}: {other} {body}"),
        }
    }

    /// Applied=`want` reported for the resource's current version.
    pub async fn applied(&self, id: &str, want: &str) -> bool {
        let Some(r) = self.resource(id).await else {
            return false;
        };
        let version = r["version"].as_i64();
        r["status"]["conditions"].as_array().is_some_and(|cs| {
            cs.iter().any(|c| {
                c["type"] == "Applied"
                    && c["status"] == want
                    && c["observedGeneration"].as_i64() == version
            })
        })
    }
}

/// A failing test leaves its process logs behind for the post-mortem (the temp dir goes).
impl Drop for Stack {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let keep = std::env::temp_dir().join(format!("baton-e2e-failed-{}", self.suffix));
        if std::fs::create_dir_all(&keep).is_err() {
            return;
        }
        if let Ok(entries) = std::fs::read_dir(self.dir.path()) {
            for entry in entries.flatten() {
                if entry.path().extension().is_some_and(|e| e == "log") {
                    let _ = std::fs::copy(entry.path(), keep.join(entry.file_name()));
                }
            }
        }
        eprintln!("process logs of the failed test kept in {}", keep.display());
    }
}
