//! The README's first run, as processes: `baton serve` with no database URL (SQLite in a data
//! directory, built-in gRPC broker), `baton agent` connected to it, a resource created over
//! REST reaches Applied; the hub is stopped and started again on the same data directory and
//! still has it, and keeps delivering.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use tokio::process::{Child, Command};

use crate::harness::{TestApi, resource_body};
use crate::support::eventually;

const WAIT: Duration = Duration::from_secs(30);

/// A loopback port nobody listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs the baton binary with `args`, its output appended to `log`.
fn baton(args: &[&str], log: &Path) -> Child {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    Command::new(env!("CARGO_BIN_EXE_baton"))
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("BATON_TRANSPORT")
        .env("RUST_LOG", "baton=info")
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

struct Hub {
    child: Child,
    api: reqwest::Client,
    base: String,
}

impl Hub {
    async fn start(data_dir: &Path, http: u16, grpc: u16, log: &Path) -> Self {
        let (http_addr, grpc_addr) = (format!("127.0.0.1:{http}"), format!("127.0.0.1:{grpc}"));
        let data_dir = data_dir.to_str().unwrap();
        let child = baton(
            &[
                "serve",
                "--http-addr",
                &http_addr,
                "--grpc-addr",
                &grpc_addr,
                "--data-dir",
                data_dir,
            ],
            log,
        );
        let hub = Self {
            child,
            api: reqwest::Client::new(),
            base: format!("http://{http_addr}"),
        };
        eventually("the hub answers /readyz", WAIT, || async {
            hub.api
                .get(format!("{}/readyz", hub.base))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        })
        .await;
        hub
    }

    async fn post(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        let response = self
            .api
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        TestApi::read(response).await
    }

    async fn applied(&self, id: &str) -> bool {
        let Ok(response) = self
            .api
            .get(format!("{}/api/v1/resources/{id}", self.base))
            .send()
            .await
        else {
            return false;
        };
        let (_, body) = TestApi::read(response).await;
        body["status"]["conditions"].as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Applied" && c["status"] == "True")
        })
    }

    /// SIGTERM, then wait for a clean exit: the graceful path `baton serve` takes on Ctrl-C.
    async fn stop(mut self) {
        let pid = self.child.id().unwrap().to_string();
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("the hub stops after SIGTERM")
            .unwrap();
        assert!(status.success(), "hub exit status {status}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_hub_applies_a_resource_and_keeps_it_across_a_restart() {
    let work = tempfile::tempdir().unwrap();
    let (data_dir, log) = (
        work.path().join("baton-data"),
        work.path().join("baton.log"),
    );
    let (http, grpc) = (free_port(), free_port());
    let hub = Hub::start(&data_dir, http, grpc, &log).await;
    let grpc_url = format!("http://127.0.0.1:{grpc}");
    let state_dir = work.path().join("agent-state");
    let _agent = baton(
        &[
            "agent",
            "--cluster",
            "c1",
            "--grpc-url",
            &grpc_url,
            "--state-dir",
            state_dir.to_str().unwrap(),
        ],
        &log,
    );
    let (status, body) = hub.post("/api/v1/consumers", json!({"name": "c1"})).await;
    assert_eq!(status, 201, "{body}");
    let (status, created) = hub
        .post("/api/v1/resources", resource_body("c1", Some("web"), "v1"))
        .await;
    assert_eq!(status, 201, "{created}");
    let first = created["id"].as_str().unwrap().to_owned();
    eventually("Applied=True (log: baton.log)", WAIT, || {
        hub.applied(&first)
    })
    .await;
    assert!(data_dir.join("baton.db").is_file());
    hub.stop().await;

    let hub = Hub::start(&data_dir, http, grpc, &log).await;
    assert!(hub.applied(&first).await, "the restarted hub still has it");
    let (status, created) = hub
        .post("/api/v1/resources", resource_body("c1", Some("api"), "v1"))
        .await;
    assert_eq!(status, 201, "{created}");
    let second = created["id"].as_str().unwrap().to_owned();
    eventually(
        "the agent reconnected and applied the next one",
        WAIT,
        || hub.applied(&second),
    )
    .await;
    hub.stop().await;
}
