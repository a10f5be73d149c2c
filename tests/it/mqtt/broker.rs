//! A private Mosquitto per test: its own config file and port in a temp dir, so a test can stop
//! and restart it. Killed on drop. Mosquitto started as root drops to the `mosquitto` user, so
//! the dir and files are world-readable and it logs to stderr (captured to a file).

use crate::support::free_port;
use std::fs::{self, File};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use baton::cloudevents::backoff::BackoffPolicy;
use baton::cloudevents::transport::TransportRole;
use baton::cloudevents::transport::mqtt::{MqttConfig, MqttTransport};
use tempfile::TempDir;
use tokio::process::{Child, Command};

use crate::support::{eventually, mosquitto_bin};

/// The vectors' topic layout (§7.3), with broadcast topics.
pub const TOPICS: &str = "topics:
  sourceEvents: sources/maestro/consumers/+/sourceevents
  agentEvents: sources/maestro/consumers/+/agentevents
  sourceBroadcast: sources/+/sourcebroadcast
  agentBroadcast: consumers/+/agentbroadcast
";

pub struct Mosquitto {
    dir: TempDir,
    pub port: u16,
    /// Extra listener lines (TLS).
    listener: String,
    /// Who may connect and what they may do: anyone and anything, unless [`Mosquitto::start_secured`].
    access: String,
    child: Option<Child>,
}

impl Mosquitto {
    pub async fn start() -> Self {
        Self::start_with(|_| String::new()).await
    }

    /// Starts with extra listener settings, written by `listener` given the temp dir (where it
    /// may put certificate files).
    pub async fn start_with(listener: impl FnOnce(&Path) -> String) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
        let listener = listener(dir.path());
        let port = free_port();
        let mut broker = Self {
            dir,
            port,
            listener,
            access: "allow_anonymous true\n".into(),
            child: None,
        };
        broker.spawn().await;
        broker
    }

    /// A broker that admits only `users` (name, password) and gives each what the ACL file
    /// `acl` allows (`%u` patterns: per-cluster topics).
    pub async fn start_secured(acl: &str, users: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
        let passwords = dir.path().join("passwd");
        for (i, (user, password)) in users.iter().enumerate() {
            let create: &[&str] = if i == 0 { &["-c"] } else { &[] };
            let done = Command::new("mosquitto_passwd")
                .args(create)
                .arg("-b")
                .arg(&passwords)
                .args([user, password])
                .status()
                .await
                .expect("mosquitto_passwd runs");
            assert!(done.success(), "mosquitto_passwd for {user}");
        }
        fs::set_permissions(&passwords, fs::Permissions::from_mode(0o644)).expect("chmod");
        let acl_file = dir.path().join("acl");
        write_readable(&acl_file, acl.as_bytes());
        let access = format!(
            "allow_anonymous false\npassword_file {}\nacl_file {}\n",
            passwords.display(),
            acl_file.display()
        );
        let mut broker = Self {
            dir,
            port: free_port(),
            listener: String::new(),
            access,
            child: None,
        };
        broker.spawn().await;
        broker
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A config file's text for this broker with the vectors' topics, plus `extra` keys.
    pub fn config_text(&self, extra: &str) -> String {
        format!("brokerHost: {}\n{extra}{TOPICS}", self.host())
    }

    pub fn config(&self, extra: &str) -> MqttConfig {
        MqttConfig::from_yaml(&self.config_text(extra)).expect("test config is valid")
    }

    async fn spawn(&mut self) {
        let conf = self.dir.path().join("mosquitto.conf");
        let text = format!(
            "listener {} 127.0.0.1\n{}persistence false\nlog_dest stderr\n\
             log_type error\nlog_type warning\nlog_type notice\nmax_queued_messages 100000\n{}",
            self.port, self.access, self.listener
        );
        write_readable(&conf, text.as_bytes());
        let log = File::create(self.log_path()).expect("log file");
        let child = Command::new(mosquitto_bin())
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("mosquitto starts (set MOSQUITTO_BIN)");
        self.child = Some(child);
        let port = self.port;
        let log = self.log_path();
        eventually(
            &format!("mosquitto listening on {port}"),
            Duration::from_secs(10),
            || {
                let log = log.clone();
                async move {
                    let up = tokio::net::TcpStream::connect(("127.0.0.1", port))
                        .await
                        .is_ok();
                    if !up && fs::read_to_string(&log).is_ok_and(|l| l.contains("Error")) {
                        panic!(
                            "mosquitto failed: {}",
                            fs::read_to_string(&log).unwrap_or_default()
                        );
                    }
                    up
                }
            },
        )
        .await;
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("mosquitto.log")
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Kills the broker (no clean shutdown: clients see the connection drop).
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.expect("kill mosquitto");
        }
    }

    /// Starts it again on the same port with the same config.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.spawn().await;
    }

    /// A transport for `role` against this broker, with fast reconnects.
    pub fn transport(&self, role: TransportRole, extra: &str) -> MqttTransport {
        self.transport_with(role, extra, BackoffPolicy::fast())
    }

    pub fn transport_with(
        &self,
        role: TransportRole,
        extra: &str,
        backoff: BackoffPolicy,
    ) -> MqttTransport {
        MqttTransport::builder(self.config(extra), role)
            .backoff(backoff)
            .publish_timeout(Duration::from_secs(10))
            .build()
            .expect("transport builds")
    }
}

/// Writes a file the broker's unprivileged user can read.
pub fn write_readable(path: &Path, contents: &[u8]) {
    fs::write(path, contents).expect("write file");
    fs::set_permissions(path, fs::Permissions::from_mode(0o644)).expect("chmod");
}
