//! The Go side: builds `interop/` once per test run into `target/interop-bin/`
//! ([`baton_bench::go::build`]; the Go build and module caches make later runs quick) and
//! runs it as a child process speaking JSON lines.
//! A missing Go toolchain or module download FAILS the tests with the reason; never a skip.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::OnceCell;

/// Bound for one wait on the Go side (connects, deliveries).
pub const WAIT: Duration = Duration::from_secs(30);
/// The build's outcome, kept either way: a failed build is not retried by every test.
static BINARY: OnceCell<Result<PathBuf, String>> = OnceCell::const_new();

/// The built Go program; the first caller builds it, the others wait. Fails the calling test
/// when the build failed.
pub async fn binary() -> PathBuf {
    match BINARY.get_or_init(build).await {
        Ok(path) => path.clone(),
        Err(reason) => panic!("{reason}"),
    }
}

async fn build() -> Result<PathBuf, String> {
    baton_bench::go::build()
        .await
        .map_err(|e| format!("{e} (these tests need Go and never skip)"))
}

/// A running Go program: stdin for commands, every stdout line kept in order.
pub struct GoProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Arc<Mutex<Vec<Value>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    next_id: u64,
}

impl GoProcess {
    pub async fn spawn(args: &[&str]) -> Self {
        let mut child = Command::new(binary().await)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start the Go interop program");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().expect("piped stdout");
        let sink = lines.clone();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                let value = serde_json::from_str(&line)
                    .unwrap_or_else(|_| serde_json::json!({"kind": "unparsed", "line": line}));
                sink.lock().unwrap().push(value);
            }
        });
        let err = child.stderr.take().expect("piped stderr");
        let sink = stderr.clone();
        tokio::spawn(async move {
            let mut reader = BufReader::new(err).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                let mut kept = sink.lock().unwrap();
                if kept.len() >= 200 {
                    kept.remove(0);
                }
                kept.push(line);
            }
        });
        let stdin = child.stdin.take();
        Self {
            child,
            stdin,
            lines,
            stderr,
            next_id: 0,
        }
    }

    pub async fn send(&mut self, command: &Value) {
        let mut line = serde_json::to_vec(command).unwrap();
        line.push(b'\n');
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin
            .write_all(&line)
            .await
            .expect("write to the Go program");
        stdin.flush().await.expect("flush to the Go program");
    }

    /// Every line printed so far.
    pub fn lines(&self) -> Vec<Value> {
        self.lines.lock().unwrap().clone()
    }

    /// The lines printed so far that satisfy `pred`.
    pub fn matching(&self, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
        self.lines().into_iter().filter(|l| pred(l)).collect()
    }

    /// Waits (bounded) for the first line satisfying `pred`; fails early on a fatal line.
    pub async fn wait_for(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let lines = self.lines();
            if let Some(found) = lines.iter().find(|l| pred(l)) {
                return found.clone();
            }
            if let Some(fatal) = lines.iter().find(|l| l["kind"] == "fatal") {
                panic!(
                    "Go side failed while waiting for {what}: {fatal}\n{}",
                    self.log()
                );
            }
            if tokio::time::Instant::now() >= deadline {
                panic!(
                    "timed out after {WAIT:?} waiting for {what}; Go printed:\n{}\n{}",
                    lines
                        .iter()
                        .map(Value::to_string)
                        .collect::<Vec<_>>()
                        .join("\n"),
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends `request` with a fresh `id` and waits for the reply carrying it.
    pub async fn request(&mut self, mut request: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id.to_string();
        request["id"] = id.clone().into();
        self.send(&request).await;
        self.wait_for(&format!("reply to {}", request["op"]), |l| {
            l["id"] == id.as_str()
        })
        .await
    }

    /// Sends a command and waits (bounded) for its `result` line (the Go side handles commands
    /// in order); fails on an error result.
    pub async fn command(&mut self, command: Value) -> Value {
        let before = self.matching(|l| l["kind"] == "result").len();
        self.send(&command).await;
        let what = format!("result of {command}");
        self.wait_for(&what, |_| {
            self.lines
                .lock()
                .unwrap()
                .iter()
                .filter(|l| l["kind"] == "result")
                .count()
                > before
        })
        .await;
        let result = self.matching(|l| l["kind"] == "result")[before].clone();
        assert!(result["error"].is_null(), "{what} failed: {result}");
        result
    }

    /// The Go program's stderr (klog), last lines.
    pub fn log(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    /// Asks the program to quit and waits (bounded) for it; kills it otherwise.
    pub async fn stop(mut self) {
        if self.stdin.is_some() {
            let _ = self.send(&serde_json::json!({"cmd": "quit"})).await;
        }
        drop(self.stdin.take());
        if tokio::time::timeout(WAIT, self.child.wait()).await.is_err() {
            let _ = self.child.kill().await;
        }
    }
}
