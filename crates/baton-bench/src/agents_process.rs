//! Simulated agents in a child process of their own: `baton agent --simulate N`, run by this
//! binary as `baton-bench hub agent ...` (main.rs), so that /proc shows their CPU time apart
//! from the hub's and the load generator's. Ready once the hub sees every agent: over gRPC,
//! its replicas' `baton_connected_clusters` sum to N; over MQTT, where the broker is not the
//! hub's to count, it has answered one spec resync per agent (`baton_resync_runs_total`: each
//! agent asks for its specs once subscribed, §6.2).
//!
//! Owns the child process and its log (`agents.log` in the hub's directory), and [`Agents`]: a
//! run's agents in that process or in this one. Must not measure anything: scenarios read its
//! [`Proc`].

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

use crate::env::{self, HubProcess};
use crate::procstat::Proc;
use crate::scrape;
use baton::agent::run::SimulatedAgent;

/// How long the agents' process may take until the hub sees every agent.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A scenario's simulated agents.
pub enum Agents {
    None,
    InProcess(Vec<SimulatedAgent>),
    Process(AgentsProcess),
}

impl Agents {
    /// Agents for clusters `<prefix>-1 ..= <prefix>-<n>` ([`env::cluster_names`]), in a process
    /// of their own unless `in_process`.
    pub async fn start(
        hub: &HubProcess,
        prefix: &str,
        n: usize,
        in_process: bool,
    ) -> anyhow::Result<Self> {
        Ok(if in_process {
            Self::InProcess(env::start_agents(hub, &env::cluster_names(prefix, n)).await?)
        } else {
            let deadline = Instant::now() + READY_TIMEOUT;
            Self::Process(AgentsProcess::spawn(hub, &format!("{prefix}-"), n, deadline).await?)
        })
    }

    /// The agents' process, when they have one of their own.
    pub fn proc(&self) -> Option<Proc> {
        match self {
            Self::Process(process) => process.proc(),
            Self::None | Self::InProcess(_) => None,
        }
    }

    pub async fn stop(self) {
        match self {
            Self::None => {}
            Self::InProcess(agents) => env::stop_agents(agents).await,
            Self::Process(process) => process.stop().await,
        }
    }
}

/// The hub's count of answered resyncs (spec resyncs of agents, and its own status resyncs).
const RESYNC_RUNS: &str = "baton_resync_runs_total";

/// The agents' process; killed on drop.
pub struct AgentsProcess {
    child: Child,
    log: PathBuf,
}

impl AgentsProcess {
    /// Starts agents `<prefix>1 ..= <prefix><clusters>` against `hub` and waits (until
    /// `deadline`) for the hub to see all of them.
    pub async fn spawn(
        hub: &HubProcess,
        prefix: &str,
        clusters: usize,
        deadline: Instant,
    ) -> anyhow::Result<Self> {
        let http = reqwest::Client::new();
        let resyncs_before = sum(&http, hub, RESYNC_RUNS).await.unwrap_or(0.0);
        let log = hub.dir.join("agents.log");
        let file = std::fs::File::create(&log)?;
        let mut command = Command::new(std::env::current_exe()?);
        command
            .args(["hub", "agent"])
            .arg(format!("--simulate={clusters}"))
            .arg(format!("--cluster-prefix={prefix}"));
        match &hub.agent_mqtt_config {
            Some(path) => command.arg(format!("--mqtt-config={}", path.display())),
            None => command.arg(format!("--grpc-url={}", hub.grpc_urls.join(","))),
        };
        let child = command
            .env(
                "RUST_LOG",
                std::env::var("BATON_BENCH_HUB_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::from(file.try_clone()?))
            .stderr(Stdio::from(file))
            .kill_on_drop(true)
            .spawn()
            .context("starting the agents (baton agent --simulate)")?;
        let mut agents = Self { child, log };
        let ready = agents
            .wait_ready(hub, &http, clusters, resyncs_before, deadline)
            .await;
        if let Err(err) = ready {
            agents.stop().await;
            return Err(err);
        }
        Ok(agents)
    }

    async fn wait_ready(
        &mut self,
        hub: &HubProcess,
        http: &reqwest::Client,
        clusters: usize,
        resyncs_before: f64,
        deadline: Instant,
    ) -> anyhow::Result<()> {
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "the agents' process exited during start-up ({status}); its log:\n{}",
                    env::log_tail(&self.log, 5)
                );
            }
            let seen = match hub.agent_mqtt_config {
                None => sum(http, hub, "baton_connected_clusters").await,
                Some(_) => sum(http, hub, RESYNC_RUNS)
                    .await
                    .map(|n| n - resyncs_before),
            };
            if seen.is_some_and(|n| n >= clusters as f64) {
                return Ok(());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "the hub saw {seen:?} of {clusters} agents at the deadline (log: {})",
                self.log.display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The agents' process, for [`crate::procstat`].
    pub fn proc(&self) -> Option<Proc> {
        self.child.id().map(Proc::pid)
    }

    /// SIGTERM (each agent shuts down), then SIGKILL if it has not exited within 10 s.
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let term = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
            if term.await.is_ok_and(|s| s.success()) {
                let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
            }
        }
        let _ = self.child.kill().await;
    }
}

/// `series` summed over the hub's replicas; `None` if one does not answer.
async fn sum(http: &reqwest::Client, hub: &HubProcess, series: &str) -> Option<f64> {
    let mut total = 0.0;
    for base in &hub.bases {
        total += scrape::unlabelled(http, base, series).await?;
    }
    Some(total)
}
