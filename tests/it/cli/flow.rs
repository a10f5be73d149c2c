//! The end-to-end flow: a directory of YAML applied to three consumers chosen by a
//! label selector, every output format, wait, update (`configured`), re-apply (`unchanged`),
//! `--condition`, describe, watch and `delete --wait`.

use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, BufReader};

use super::{Cli, copy_dir, data, golden, normalise};
use crate::e2e::{Proc, Stack, Via, WAIT};
use crate::harness::Backend;

fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}

async fn wait_available(cli: &Cli, resources: &[&str]) -> String {
    let mut args = vec!["wait", "--for=condition=Available", "--timeout=60s"];
    args.extend(resources);
    cli.ok(&args).await
}

#[tokio::test]
async fn apply_get_wait_update_and_delete_on_three_consumers() {
    let stack = Stack::new(Via::Grpc, Backend::Postgres).await;
    let hub = stack.start_hub().await;
    let cli = Cli::new(&stack.rest.base);
    let fleet = format!("fleet={}", stack.suffix);
    let clusters: Vec<String> = ["one", "two", "three"]
        .iter()
        .map(|n| stack.cluster(n))
        .collect();
    for cluster in &clusters {
        let out = cli
            .ok(&["consumers", "create", cluster, "-l", &fleet])
            .await;
        assert_eq!(out, format!("consumer/{cluster} created\n"));
    }
    let agents: Vec<Proc> = clusters.iter().map(|c| stack.start_agent(c)).collect();
    for cluster in &clusters {
        stack.await_connected(cluster).await;
    }
    // `get` sorts by consumer and name: one, three, two.
    let mut sorted = clusters.clone();
    sorted.sort();
    let web: Vec<String> = sorted.iter().map(|c| format!("{c}/web")).collect();
    let web: Vec<&str> = web.iter().map(String::as_str).collect();

    // Every change from the start of the feed, as JSON lines.
    let mut watch = cli
        .command(&[
            "watch",
            "resources",
            "--consumer",
            &clusters[0],
            "--since",
            "0",
            "-o",
            "json",
        ])
        .spawn()
        .unwrap();
    let mut events = BufReader::new(watch.stdout.take().unwrap()).lines();

    let dir = stack.dir.path().join("web");
    copy_dir("web", &dir);
    let dir = dir.display().to_string();
    let out = cli.ok(&["apply", "-f", &dir, "--selector", &fleet]).await;
    let created: Vec<String> = clusters
        .iter()
        .map(|c| format!("resource/{c}/web created"))
        .collect();
    assert_eq!(lines(&out), created);

    let out = wait_available(&cli, &web).await;
    assert_eq!(out.lines().count(), 3, "{out}");
    assert!(out.contains("condition met (Available=True)"), "{out}");

    // Every output format.
    let table = cli.ok(&["get", "resources"]).await;
    golden("get-resources.table", &normalise(&table, &stack.suffix));
    let wide = cli.ok(&["get", "resources", "-o", "wide"]).await;
    assert!(wide.starts_with("NAME "), "{wide}");
    assert!(
        wide.lines()
            .next()
            .unwrap()
            .ends_with("ID                                     MANIFESTS   DELETING"),
        "{wide}"
    );
    let yaml = cli.ok(&["get", "resource", web[0], "-o", "yaml"]).await;
    golden("get-resource.yaml", &normalise(&yaml, &stack.suffix));
    let json: Value =
        serde_json::from_str(&cli.ok(&["get", "resources", "-o", "json"]).await).unwrap();
    assert_eq!(json["kind"], "ResourceList");
    assert_eq!(json["total"], 3);
    for (item, cluster) in json["items"].as_array().unwrap().iter().zip(&sorted) {
        assert_eq!(item["consumer_name"], cluster.as_str());
        assert_eq!(item["name"], "web");
        assert_eq!(item["labels"]["app"], "web");
        assert_eq!(item["manifests"].as_array().unwrap().len(), 2);
        assert_eq!(item["status"]["conditions"][0]["type"], "Applied");
    }
    let names = cli.ok(&["get", "resources", "-o", "name"]).await;
    let expected: Vec<String> = web.iter().map(|w| format!("resource/{w}")).collect();
    assert_eq!(lines(&names), expected);
    // `-o name` output names resources for the other commands.
    let by_name = cli
        .ok(&["get", "resource", &expected[1], "-o", "json"])
        .await;
    let id = serde_json::from_str::<Value>(&by_name).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let by_id = cli.ok(&["get", "resource", &id]).await;
    assert!(by_id.contains(&sorted[1]), "{by_id}");

    // Update one document: every consumer's resource is configured to version 2.
    let config = format!("{dir}/01-config.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("color: blue", "color: green")).unwrap();
    let mut args = vec!["apply", "-f", &dir];
    for cluster in &clusters {
        args.extend(["--consumer", cluster.as_str()]);
    }
    let out = cli.ok(&args).await;
    let configured: Vec<String> = clusters
        .iter()
        .map(|c| format!("resource/{c}/web configured"))
        .collect();
    assert_eq!(lines(&out), configured);
    wait_available(&cli, &web).await;
    let versions = cli.ok(&["get", "resources", "-o", "json"]).await;
    let versions: Value = serde_json::from_str(&versions).unwrap();
    assert!(
        versions["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["version"] == 2)
    );

    // The same files again: nothing changes.
    let out = cli.ok(&args).await;
    let unchanged: Vec<String> = clusters
        .iter()
        .map(|c| format!("resource/{c}/web unchanged"))
        .collect();
    assert_eq!(lines(&out), unchanged);

    // The watch saw the create and the update of the first consumer's resource.
    let mut seen = Vec::new();
    tokio::time::timeout(WAIT, async {
        while let Some(line) = events.next_line().await.unwrap() {
            let event: Value = serde_json::from_str(&line).unwrap();
            seen.push((
                event["type"].as_str().unwrap().to_owned(),
                event["object"]["version"].clone(),
            ));
            if event["type"] == "MODIFIED" && event["object"]["version"] == 2 {
                break;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no MODIFIED event of version 2; saw {seen:?}"));
    assert_eq!(seen[0].0, "ADDED", "{seen:?}");
    watch.kill().await.unwrap();

    // A failing bundle on one consumer: wait for its failure, then filter by condition.
    let broken = data("broken.yaml").display().to_string();
    cli.ok(&["apply", "-f", &broken, "--consumer", &clusters[1]])
        .await;
    let broken_ref = format!("{}/broken", clusters[1]);
    cli.ok(&[
        "wait",
        "--for=condition=Applied=False",
        "--timeout=60s",
        &broken_ref,
    ])
    .await;
    let failed = cli
        .ok(&[
            "get",
            "resources",
            "--condition",
            "Applied=False",
            "-o",
            "name",
        ])
        .await;
    assert_eq!(failed, format!("resource/{broken_ref}\n"));
    let timed_out = cli
        .fails(
            1,
            &[
                "wait",
                "--for=condition=Available",
                "--timeout=1s",
                &broken_ref,
            ],
        )
        .await;
    assert!(
        timed_out.contains("timed out after 1s waiting for condition Available=True"),
        "{timed_out}"
    );

    let described = cli.ok(&["describe", "resource", &broken_ref]).await;
    for expected in [
        "Consumer:     ",
        "Conditions:",
        "[0] v1 ConfigMap default/broken",
        "admission webhook denied the request",
        "History:",
    ] {
        assert!(
            described.contains(expected),
            "{expected:?} missing from:\n{described}"
        );
    }

    // Delete with --wait returns once the agent confirmed: the resource is gone.
    let out = cli
        .ok(&["delete", "resource", web[2], "--wait", "--timeout=60s"])
        .await;
    assert_eq!(out, format!("resource/{} deleted\n", web[2]));
    let gone = cli.fails(1, &["get", "resource", web[2]]).await;
    assert!(
        gone.contains(&format!("resource/{} not found", web[2])),
        "{gone}"
    );

    for agent in agents {
        agent.stop().await;
    }
    hub.stop().await;
}
