//! A terminal session (tmux, 200x50): `apply` to several consumers draws its progress bar and
//! `get` its aligned table with coloured condition statuses; the same commands piped print
//! neither the bar nor colour codes.

use std::process::Stdio;

use tokio::process::Command;

use super::Cli;
use crate::e2e::{Stack, Via, WAIT};
use crate::harness::Backend;
use crate::support::eventually;

/// A tmux server of the test's own (its own socket), killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    async fn start(socket: String, cli: &Cli) -> Self {
        let status = Command::new("tmux")
            .args([
                "-L",
                &socket,
                "new-session",
                "-d",
                "-x",
                "200",
                "-y",
                "50",
                "-s",
                "cli",
                "sh",
            ])
            .env("BATON_SERVER", &cli.server)
            .env("XDG_CONFIG_HOME", cli.config_home.path())
            .env_remove("NO_COLOR")
            .env_remove("TMUX")
            .stdin(Stdio::null())
            .status()
            .await
            .expect("tmux (scripts/services installs it)");
        assert!(status.success());
        Self { socket }
    }

    async fn type_line(&self, line: &str) {
        let status = Command::new("tmux")
            .args(["-L", &self.socket, "send-keys", "-t", "cli", line, "Enter"])
            .status()
            .await
            .unwrap();
        assert!(status.success());
    }

    /// The pane's text, with escape sequences when `escapes`.
    async fn screen(&self, escapes: bool) -> String {
        let mut args = vec![
            "-L",
            self.socket.as_str(),
            "capture-pane",
            "-p",
            "-t",
            "cli",
        ];
        if escapes {
            args.push("-e");
        }
        let out = Command::new("tmux").args(args).output().await.unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    async fn await_text(&self, what: &str, text: &str) {
        eventually(what, WAIT, || async {
            self.screen(false).await.contains(text)
        })
        .await;
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = std::process::Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

#[tokio::test]
async fn a_terminal_shows_the_progress_bar_the_table_and_colours() {
    let stack = Stack::new(Via::Grpc, Backend::Sqlite).await;
    let hub = stack.start_hub().await;
    let cli = Cli::new(&stack.rest.base);
    let fleet = format!("fleet={}", stack.suffix);
    let clusters: Vec<String> = ["a", "b", "c"].iter().map(|n| stack.cluster(n)).collect();
    for cluster in &clusters {
        cli.ok(&["consumers", "create", cluster, "-l", &fleet])
            .await;
    }
    let agent = stack.start_agent(&clusters[0]);
    stack.await_connected(&clusters[0]).await;

    let baton = env!("CARGO_BIN_EXE_baton");
    let web = super::data("web").display().to_string();
    let tmux = Tmux::start(format!("baton-cli-{}", stack.suffix), &cli).await;
    tmux.type_line(&format!("{baton} apply -f {web} --selector {fleet}"))
        .await;
    tmux.await_text("the progress bar at 3/3", "3/3 consumers")
        .await;
    let screen = tmux.screen(false).await;
    for cluster in &clusters {
        assert!(
            screen.contains(&format!("resource/{cluster}/web created")),
            "{screen}"
        );
    }

    let applied = format!("{}/web", clusters[0]);
    cli.ok(&[
        "wait",
        "--for=condition=Available",
        "--timeout=60s",
        &applied,
    ])
    .await;
    tmux.type_line(&format!("{baton} get resources")).await;
    let is_row = |l: &str| l.starts_with("web") && l.contains(&clusters[0]);
    eventually("the table with a row per resource", WAIT, || async {
        let screen = tmux.screen(false).await;
        screen.lines().any(|l| l.starts_with("NAME   CONSUMER")) && screen.lines().any(is_row)
    })
    .await;
    let screen = tmux.screen(false).await;
    let header = screen.lines().find(|l| l.starts_with("NAME")).unwrap();
    let row = screen.lines().find(|l| is_row(l)).unwrap();
    // Aligned: each value starts under its header.
    for (column, value) in [("CONSUMER", clusters[0].as_str()), ("APPLIED", "True")] {
        assert_eq!(header.find(column), row.find(value), "{screen}");
    }
    let coloured = tmux.screen(true).await;
    assert!(
        coloured.contains("\u{1b}[32mTrue"),
        "no green True: {coloured:?}"
    );

    // Piped: the same commands print no bar and no colour codes.
    let run = cli.run(&["apply", "-f", &web, "--selector", &fleet]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("unchanged") && !run.stderr.contains("consumers"),
        "{run:?}"
    );
    let table = cli.ok(&["get", "resources"]).await;
    assert!(
        table.contains("True") && !table.contains('\u{1b}'),
        "{table:?}"
    );

    drop(tmux);
    agent.stop().await;
    hub.stop().await;
}
