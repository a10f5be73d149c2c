//! The `baton` client commands, run as the real binary against a real hub (and `baton agent`
//! processes where status matters): apply/get/wait/update/delete across three consumers with
//! golden tables and YAML (`tests/data/cli/`), the errors a person sees, contexts with a token
//! and a CA, a watch that resumes across a hub restart, and a terminal session (tmux) that
//! shows the table, colours and the progress bar.

mod errors;
mod flow;
mod terminal;
mod watch;

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use tempfile::TempDir;
use tokio::process::Command;

/// `tests/data/cli/<relative>`.
pub fn data(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/cli")
        .join(relative)
}

/// The `baton` binary pointed at one hub, with a config directory of its own (so no user's
/// `~/.config/baton` leaks in).
pub struct Cli {
    pub server: String,
    pub config_home: TempDir,
}

/// What one run printed and how it exited.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Cli {
    pub fn new(server: &str) -> Self {
        Self {
            server: server.to_owned(),
            config_home: tempfile::tempdir().unwrap(),
        }
    }

    /// `baton ARGS` with the environment of this client (stdout and stderr piped).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_baton"));
        command
            .args(args)
            .env("BATON_SERVER", &self.server)
            .env("XDG_CONFIG_HOME", self.config_home.path())
            .env_remove("BATON_TOKEN")
            .env_remove("BATON_TOKEN_FILE")
            .env_remove("BATON_CONFIG")
            .env_remove("BATON_CONTEXT")
            .env_remove("BATON_CERTIFICATE_AUTHORITY")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    pub async fn run(&self, args: &[&str]) -> Run {
        Self::finish(self.command(args).output().await.unwrap())
    }

    pub fn finish(output: Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
        }
    }

    /// Runs and insists on exit 0; returns stdout.
    pub async fn ok(&self, args: &[&str]) -> String {
        let run = self.run(args).await;
        assert_eq!(run.code, 0, "baton {args:?} failed: {run:?}");
        run.stdout
    }

    /// Runs and insists on exit `code`; returns stderr.
    pub async fn fails(&self, code: i32, args: &[&str]) -> String {
        let run = self.run(args).await;
        assert_eq!(run.code, code, "baton {args:?}: {run:?}");
        run.stderr
    }
}

/// Compares `actual` with the golden file (`BATON_BLESS=1` rewrites it).
pub fn golden(relative: &str, actual: &str) {
    let path = data(relative);
    if std::env::var_os("BATON_BLESS").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (BATON_BLESS=1 writes it)", path.display()));
    assert_eq!(
        actual,
        expected,
        "output differs from {} (BATON_BLESS=1 rewrites it after review)",
        path.display()
    );
}

/// Ids, times, hashes, ages and the test's cluster suffix made stable for golden files.
pub fn normalise(text: &str, suffix: &str) -> String {
    let rules = [
        (
            r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            "<uuid>",
        ),
        (
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)",
            "<time>",
        ),
        (r"(?m)^(\s*status_hash: ).*$", "${1}<hash>"),
        (r"(?m)\b\d+[smhd](\d+s)?$", "<age>"),
    ];
    let mut text = text.replace(suffix, "SUFFIX00");
    for (pattern, replacement) in rules {
        let regex = regex::Regex::new(pattern).unwrap();
        text = regex.replace_all(&text, replacement).into_owned();
    }
    text
}

/// Copies `tests/data/cli/<from>` (a directory of manifests) into `to`.
pub fn copy_dir(from: &str, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(data(from)).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}
