//! `baton watch resources` across a hub crash and restart: the stream drops, the client reconnects with
//! `Last-Event-ID` and prints the change made while it was away, once, after what it had.

use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, BufReader, Lines};
use tokio::process::ChildStdout;

use super::{Cli, data};
use crate::e2e::{Stack, Via, WAIT};
use crate::harness::Backend;

async fn next_event(lines: &mut Lines<BufReader<ChildStdout>>) -> Value {
    let line = tokio::time::timeout(WAIT, lines.next_line())
        .await
        .expect("a watch event in time")
        .unwrap()
        .expect("the watch ended");
    serde_json::from_str(&line).unwrap()
}

#[tokio::test]
async fn watch_resumes_after_a_hub_restart_without_repeating_or_skipping() {
    let stack = Stack::new(Via::Grpc, Backend::Sqlite).await;
    let hub = stack.start_hub().await;
    let cli = Cli::new(&stack.rest.base);
    let cluster = stack.cluster("watched");
    cli.ok(&["consumers", "create", &cluster]).await;

    let mut watch = cli
        .command(&["watch", "resources", "--since", "0", "-o", "json"])
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    let web = data("web").display().to_string();
    cli.ok(&["apply", "-f", &web, "--consumer", &cluster]).await;
    let added = next_event(&mut lines).await;
    assert_eq!(added["type"], "ADDED", "{added}");

    // A crash: SIGTERM would wait for the open watch stream to end (the hub's drain does
    // not end watches).
    hub.kill().await;
    let hub = stack.start_hub().await;
    cli.ok(&[
        "apply",
        "-f",
        &web,
        "--consumer",
        &cluster,
        "--label",
        "v=2",
    ])
    .await;
    let modified = next_event(&mut lines).await;
    assert_eq!(modified["type"], "MODIFIED", "{modified}");
    assert_eq!(modified["object"]["version"], 2, "{modified}");
    assert!(
        modified["position"].as_i64() > added["position"].as_i64(),
        "{added} then {modified}"
    );

    watch.kill().await.unwrap();
    hub.stop().await;
}
