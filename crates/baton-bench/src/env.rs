//! What a scenario runs against: the services (`scripts/services` when nothing is given), a
//! fresh database per run, the hub as a child process of this binary on free loopback ports,
//! the REST client, and simulated agents in this process (in a process of their own:
//! [`crate::agents_process`]).
//!
//! Must not measure anything itself: scenarios time what they drive.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::StreamExt;
use sqlx::{Connection, PgConnection};
use tokio::process::{Child, Command};

use crate::common::{Common, StoreKind, TransportKind};
use baton::agent::run::SimulatedAgent;
use baton_cloudevents::backoff::BackoffPolicy;
use baton_cloudevents::transport::grpc::{GrpcOptions, GrpcTransport};
use baton_cloudevents::transport::mqtt::{MqttConfig, MqttTransport};
use baton_cloudevents::{Transport, TransportRole};

/// Where PostgreSQL and Mosquitto are.
pub struct Services {
    pub database_url: String,
    pub mqtt_host: String,
}

/// From the options / environment, else from `scripts/services` (which starts them).
pub async fn services(common: &Common) -> anyhow::Result<Services> {
    let mqtt_default = common
        .mqtt_broker_host
        .clone()
        .unwrap_or_else(|| "127.0.0.1:1883".into());
    if let Some(url) = &common.database_url {
        return Ok(Services {
            database_url: url.clone(),
            mqtt_host: mqtt_default,
        });
    }
    let script = [
        PathBuf::from("scripts/services"),
        crate::go::repo_root().join("scripts/services"),
    ]
    .into_iter()
    .find(|p| p.exists())
    .context("no --database-url / DATABASE_URL, and no scripts/services to start PostgreSQL")?;
    let out = Command::new(&script)
        .stderr(Stdio::inherit())
        .output()
        .await
        .with_context(|| format!("running {}", script.display()))?;
    anyhow::ensure!(out.status.success(), "{} failed", script.display());
    let exports = String::from_utf8_lossy(&out.stdout);
    let var = |name: &str| {
        exports.lines().find_map(|l| {
            l.strip_prefix("export ")?
                .strip_prefix(name)?
                .strip_prefix('=')
                .map(str::to_owned)
        })
    };
    Ok(Services {
        database_url: var("DATABASE_URL").context("scripts/services printed no DATABASE_URL")?,
        mqtt_host: common
            .mqtt_broker_host
            .clone()
            .or_else(|| var("MQTT_BROKER_HOST"))
            .unwrap_or(mqtt_default),
    })
}

/// A database created for one run and dropped after it.
pub struct BenchDb {
    admin_url: String,
    pub url: String,
    pub name: String,
}

impl BenchDb {
    pub async fn create(admin_url: &str) -> anyhow::Result<Self> {
        let mut admin = PgConnection::connect(admin_url)
            .await
            .context("connecting to PostgreSQL")?;
        let name = format!(
            "baton_bench_{}_{}",
            chrono::Utc::now().timestamp(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let create = format!("CREATE DATABASE \"{name}\"");
        sqlx::query(sqlx::AssertSqlSafe(create))
            .execute(&mut admin)
            .await?;
        let base = admin_url
            .rsplit_once('/')
            .map(|(base, _)| base)
            .context("the database URL has no /database part")?;
        Ok(Self {
            admin_url: admin_url.to_owned(),
            url: format!("{base}/{name}"),
            name,
        })
    }

    /// Drops the database (forcing out leftover connections).
    pub async fn drop_db(self) {
        if let Ok(mut admin) = PgConnection::connect(&self.admin_url).await {
            let drop = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
            let _ = sqlx::query(sqlx::AssertSqlSafe(drop))
                .execute(&mut admin)
                .await;
        }
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// `baton serve` as a child process (or `--replicas` of them on one database); killed on
/// drop. `base` and `grpc_url` are the first replica's.
pub struct HubProcess {
    child: Child,
    /// The other replicas.
    others: Vec<Child>,
    pub base: String,
    pub grpc_url: String,
    /// Every replica's REST base and broker, in order.
    pub bases: Vec<String>,
    pub grpc_urls: Vec<String>,
    pub source_id: String,
    pub mqtt: Option<MqttConfig>,
    /// The agents' MQTT config file (unshared topics), for an agent process.
    pub agent_mqtt_config: Option<PathBuf>,
    pub dir: PathBuf,
}

/// Attempts at starting the hub: its ports are picked free, then bound by the hub a moment
/// later, and another process (a parallel test's listener) may take one in between.
const SPAWN_ATTEMPTS: usize = 3;

impl HubProcess {
    /// Starts the hub on free ports; picks new ones if a port was taken before the hub bound it.
    pub async fn spawn(common: &Common, db: &BenchDb, services: &Services) -> anyhow::Result<Self> {
        Self::spawn_with(common, db, services, &[]).await
    }

    /// [`HubProcess::spawn`] with `extra` flags for every replica.
    pub async fn spawn_with(
        common: &Common,
        db: &BenchDb,
        services: &Services,
        extra: &[String],
    ) -> anyhow::Result<Self> {
        let mut attempt = 1;
        loop {
            match Self::spawn_once(common, db, services, extra).await {
                Err(err)
                    if attempt < SPAWN_ATTEMPTS
                        && format!("{err:#}").contains("Address already in use") =>
                {
                    eprintln!("the hub's port was taken before it bound it; new ports ({err:#})");
                    attempt += 1;
                }
                started => return started,
            }
        }
    }

    async fn spawn_once(
        common: &Common,
        db: &BenchDb,
        services: &Services,
        extra: &[String],
    ) -> anyhow::Result<Self> {
        let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
        let source_id = format!("bench-{suffix}");
        let dir = std::env::temp_dir().join(format!("baton-bench-{suffix}"));
        std::fs::create_dir_all(&dir)?;
        let replicas = usize::from(common.replicas.max(1));
        if replicas > 1 && common.store != StoreKind::Postgres {
            bail!("--replicas {replicas} needs --store postgres (SQLite serves one process)");
        }
        let ports: Vec<(u16, u16)> = (0..replicas)
            .map(|_| Ok((free_port()?, free_port()?)))
            .collect::<anyhow::Result<_>>()?;
        let database_url = match common.store {
            StoreKind::Postgres => db.url.clone(),
            StoreKind::Sqlite => format!("sqlite://{}", dir.join("hub.db").display()),
        };
        let mut args: Vec<String> = vec![
            "serve".into(),
            format!("--source-id={source_id}"),
            format!("--db-max-connections={}", common.hub_db_connections),
            format!("--status-writers={}", common.hub_status_writers),
        ];
        args.extend(extra.iter().cloned());
        let mut mqtt = None;
        let mut agent_mqtt_config = None;
        if common.transport == TransportKind::Mqtt {
            let topics = |share: &str| {
                format!(
                    "brokerHost: {}\ntopics:\n  sourceEvents: sources/{source_id}/consumers/+/sourceevents\n  agentEvents: {share}sources/{source_id}/consumers/+/agentevents\n  sourceBroadcast: sources/{source_id}/sourcebroadcast\n",
                    services.mqtt_host
                )
            };
            // Replicas share the agents' events (docs/mqtt.md); agents publish unshared.
            let shared = if replicas > 1 {
                format!("$share/{source_id}/")
            } else {
                String::new()
            };
            let path = dir.join("mqtt.yaml");
            std::fs::write(&path, topics(&shared))?;
            mqtt = Some(MqttConfig::from_yaml(&topics(""))?);
            let agents = dir.join("agents-mqtt.yaml");
            std::fs::write(&agents, topics(""))?;
            agent_mqtt_config = Some(agents);
            args.extend([
                "--transport=mqtt".into(),
                format!("--mqtt-config={}", path.display()),
            ]);
        }
        let mut children = Vec::with_capacity(replicas);
        for (i, (http_port, grpc_port)) in ports.iter().enumerate() {
            let log_name = if i == 0 {
                "hub.log".to_owned()
            } else {
                format!("hub{i}.log")
            };
            let log = std::fs::File::create(dir.join(log_name))?;
            // This binary runs the hub too (`baton-bench hub serve ...`, see main.rs).
            let child = Command::new(std::env::current_exe()?)
                .arg("hub")
                .args(&args)
                .arg(format!("--http-addr=127.0.0.1:{http_port}"))
                .arg(format!("--grpc-addr=127.0.0.1:{grpc_port}"))
                .arg(format!("--instance-id=replica-{i}"))
                .env("DATABASE_URL", &database_url) // through the environment: never on a command line
                .env(
                    "RUST_LOG",
                    std::env::var("BATON_BENCH_HUB_LOG").unwrap_or_else(|_| "warn".into()),
                )
                .stdout(Stdio::from(log.try_clone()?))
                .stderr(Stdio::from(log))
                .kill_on_drop(true)
                .spawn()
                .context("starting the hub (baton serve)")?;
            children.push(child);
        }
        let mut children = children.into_iter();
        let child = children.next().context("no replica")?;
        let bases: Vec<String> = ports
            .iter()
            .map(|(http, _)| format!("http://127.0.0.1:{http}"))
            .collect();
        let grpc_urls: Vec<String> = ports
            .iter()
            .map(|(_, grpc)| format!("http://127.0.0.1:{grpc}"))
            .collect();
        let mut hub = Self {
            child,
            others: children.collect(),
            base: bases[0].clone(),
            grpc_url: grpc_urls[0].clone(),
            bases,
            grpc_urls,
            source_id,
            mqtt,
            agent_mqtt_config,
            dir,
        };
        if let Err(err) = hub.wait_ready().await {
            hub.stop().await;
            return Err(err);
        }
        Ok(hub)
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        for base in self.bases.clone() {
            loop {
                if Instant::now() > deadline {
                    bail!(
                        "{base} was not ready within 60 s (logs in {})",
                        self.dir.display()
                    );
                }
                if let Some(status) = self.child.try_wait()? {
                    let tail = log_tail(&self.dir.join("hub.log"), 5);
                    bail!("the hub exited during start-up ({status}); its log:\n{tail}");
                }
                let ready = http.get(format!("{base}/readyz")).send().await;
                if ready.is_ok_and(|r| r.status().is_success()) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(())
    }

    /// SIGKILL of replica `i` (0 is the first), for the failover figure.
    pub async fn kill_replica(&mut self, i: usize) -> anyhow::Result<()> {
        match i {
            0 => self.child.kill().await?,
            i => {
                self.others
                    .get_mut(i - 1)
                    .context("no such replica")?
                    .kill()
                    .await?
            }
        }
        Ok(())
    }

    /// The hub's process, for [`crate::procstat`].
    pub fn proc(&self) -> Option<crate::procstat::Proc> {
        self.child.id().map(crate::procstat::Proc::pid)
    }

    /// Every replica's process, for [`crate::procstat`].
    pub fn procs(&self) -> Vec<crate::procstat::Proc> {
        std::iter::once(&self.child)
            .chain(&self.others)
            .filter_map(Child::id)
            .map(crate::procstat::Proc::pid)
            .collect()
    }

    /// Resident set size of the hub process (VmRSS), in KiB.
    pub fn rss_kib(&self) -> anyhow::Result<u64> {
        self.proc()
            .context("the hub has exited")?
            .rss_kib()
            .context("no VmRSS in /proc/<pid>/status")
    }

    /// A transport for the agent of `cluster`, to this hub.
    pub fn agent_transport(&self, cluster: &str) -> anyhow::Result<Arc<dyn Transport>> {
        let role = TransportRole::agent(cluster);
        let backoff = BackoffPolicy {
            initial: Duration::from_millis(200),
            factor: 2.0,
            max: Duration::from_secs(5),
            ..BackoffPolicy::default()
        };
        Ok(match &self.mqtt {
            Some(config) => Arc::new(
                MqttTransport::builder(config.clone(), role)
                    .backoff(backoff)
                    .build()?,
            ),
            None => {
                let mut options = GrpcOptions::plaintext(&self.grpc_url);
                options.failover_urls = self.grpc_urls[1..].to_vec();
                options.backoff = backoff;
                Arc::new(GrpcTransport::new(role, options)?)
            }
        })
    }

    /// Stops the hub and removes its directory, unless BATON_BENCH_HUB_LOG asked for a log.
    pub async fn stop(mut self) {
        for mut other in std::mem::take(&mut self.others) {
            let _ = other.kill().await;
        }
        // SIGTERM first: the hub drains, and a profiler attached to it (heaptrack -p) finishes.
        if let Some(pid) = self.child.id() {
            let term = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
            if term.await.is_ok_and(|s| s.success()) {
                let _ = tokio::time::timeout(Duration::from_secs(15), self.child.wait()).await;
            }
        }
        let _ = self.child.kill().await;
        if std::env::var_os("BATON_BENCH_HUB_LOG").is_some() {
            eprintln!("hub log kept: {}", self.dir.join("hub.log").display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Starts one simulated agent per cluster name, 32 at a time, without state.
pub async fn start_agents(
    hub: &HubProcess,
    clusters: &[String],
) -> anyhow::Result<Vec<SimulatedAgent>> {
    let started: Vec<anyhow::Result<SimulatedAgent>> = futures::stream::iter(clusters)
        .map(|name| async move {
            let transport = hub.agent_transport(name)?;
            SimulatedAgent::start(name, transport, None)
                .await
                .with_context(|| format!("starting the agent of {name}"))
        })
        .buffered(32)
        .collect()
        .await;
    started.into_iter().collect()
}

/// Like [`start_agents`], in waves of `wave`: each wave starts once the hub counts every agent
/// of the waves before it as connected (gRPC; over MQTT the broker is not the hub's to count,
/// so waves only pace the starts). Thousands of agents dialling at once overflow listen
/// backlogs and turn into connect retries with backoff; a ramp is how a fleet reconnects.
pub async fn start_agents_in_waves(
    hub: &HubProcess,
    clusters: &[String],
    wave: usize,
    deadline: Instant,
) -> anyhow::Result<Vec<SimulatedAgent>> {
    let http = reqwest::Client::new();
    let mut agents = Vec::with_capacity(clusters.len());
    for names in clusters.chunks(wave.max(1)) {
        agents.extend(start_agents(hub, names).await?);
        if hub.mqtt.is_none() {
            wait_connected_count(&http, hub, |n| n >= agents.len(), deadline).await?;
        }
    }
    Ok(agents)
}

/// Until the agents subscribed to the hub's brokers ([`crate::scrape::connected`]) satisfy
/// `enough`; an error at `deadline`.
pub async fn wait_connected_count(
    http: &reqwest::Client,
    hub: &HubProcess,
    enough: impl Fn(usize) -> bool,
    deadline: Instant,
) -> anyhow::Result<()> {
    loop {
        let count = crate::scrape::connected(http, &hub.bases).await;
        if count.is_some_and(&enough) {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the hub counts {count:?} connected clusters at the deadline"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The last `lines` lines of the log at `path`, newest first (empty if it cannot be read).
pub fn log_tail(path: &std::path::Path, lines: usize) -> String {
    let log = std::fs::read_to_string(path).unwrap_or_default();
    log.lines().rev().take(lines).collect::<Vec<_>>().join("\n")
}

/// The soft limit on open files (`ulimit -n`) of this process; its children inherit it.
pub fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Stops agents, 64 at a time.
pub async fn stop_agents(agents: Vec<SimulatedAgent>) {
    futures::stream::iter(agents)
        .for_each_concurrent(64, |a| async move { a.shutdown().await })
        .await;
}

/// Cluster names `<prefix>-1 .. <prefix>-n`.
pub fn cluster_names(prefix: &str, n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("{prefix}-{i}")).collect()
}
