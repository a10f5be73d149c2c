//! What a person sees when something is wrong: bad YAML names the file and line, the API's
//! error names the field, an unknown consumer or resource says so, an unreachable hub names
//! the server and the flag, bad flags exit 2; and the ways to reach a hub: a bearer token
//! (file, environment, context) and an HTTPS hub's CA.

use std::sync::Arc;

use baton::hub::api;
use baton::hub::http_server::{self, HttpLimits};
use baton::hub::state::NoConnections;
use baton::hub::tls::server_config;

use super::{Cli, data};
use crate::harness::{Backend, TestApi};
use crate::support::free_port;

#[tokio::test]
async fn errors_name_the_file_line_field_consumer_and_server() {
    let api = TestApi::spawn(Backend::Sqlite).await;
    let cli = Cli::new(&api.base);
    cli.ok(&["consumers", "create", "edge-1"]).await;

    let bad = data("bad.yaml").display().to_string();
    let err = cli
        .fails(1, &["apply", "-f", &bad, "--consumer", "edge-1"])
        .await;
    assert!(
        err.contains("bad.yaml: ") && err.contains("line 5"),
        "{err}"
    );

    let web = data("web").display().to_string();
    let err = cli
        .fails(1, &["apply", "-f", &web, "--consumer", "nowhere"])
        .await;
    assert!(err.contains("consumer nowhere not found"), "{err}");

    // The API's 400 names the manifest's field.
    let dir = tempfile::tempdir().unwrap();
    let nameless = dir.path().join("nameless.yaml");
    std::fs::write(&nameless, "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n").unwrap();
    let nameless = nameless.display().to_string();
    let err = cli
        .fails(1, &["apply", "-f", &nameless, "--consumer", "edge-1"])
        .await;
    assert!(err.contains("field manifests[0].metadata.name"), "{err}");
    assert!(err.contains("HTTP 400 invalid-field"), "{err}");
    assert_eq!(
        err.lines().count(),
        2,
        "one line per failure and a summary: {err}"
    );

    let err = cli.fails(1, &["get", "resource", "edge-1/absent"]).await;
    assert_eq!(err, "baton: resource/edge-1/absent not found\n");
    cli.fails(2, &["get", "resource", "not-a-reference"]).await;
    let err = cli.fails(1, &["consumers", "get", "absent"]).await;
    assert_eq!(err, "baton: consumer \"absent\" not found\n");

    // Applied=... never arrives without an agent: wait says what it saw.
    cli.ok(&["apply", "-f", &web, "--consumer", "edge-1"]).await;
    let err = cli
        .fails(
            1,
            &[
                "wait",
                "--for=condition=Available",
                "--timeout=300ms",
                "edge-1/web",
            ],
        )
        .await;
    assert!(
        err.contains("timed out after 300ms") && err.contains("no status reported yet"),
        "{err}"
    );

    let nobody = format!("http://127.0.0.1:{}", free_port());
    let err = cli
        .fails(1, &["get", "resources", "--server", &nobody])
        .await;
    assert!(
        err.contains(&format!("cannot reach the hub at {nobody}")),
        "{err}"
    );
    assert!(err.contains("--server"), "{err}");

    let err = cli.fails(2, &["get", "resources", "--no-such-flag"]).await;
    assert!(err.contains("--no-such-flag"), "{err}");
    cli.fails(2, &["wait", "--for=Available", "edge-1/web"])
        .await;
    let help = cli.ok(&["--help"]).await;
    assert!(help.contains("Exit codes: 0 ok, 1 error"), "{help}");
}

#[tokio::test]
async fn token_and_certificate_authority_from_flags_environment_and_contexts() {
    let tokens: api::ApiTokens = Some(Arc::new(api::auth::ApiAuth::admin_tokens([
        "s3cret".to_owned()
    ])));
    let api = TestApi::spawn_with(Backend::Sqlite, Arc::new(NoConnections), tokens.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "s3cret\n").unwrap();
    let token_file = token_file.display().to_string();

    let cli = Cli::new(&api.base);
    let err = cli.fails(1, &["consumers", "list"]).await;
    assert!(err.contains("HTTP 401 unauthorized"), "{err}");
    cli.ok(&["consumers", "create", "edge-1", "--token-file", &token_file])
        .await;
    let out = cli
        .command(&["consumers", "list", "-o", "name"])
        .env("BATON_TOKEN", "s3cret")
        .output()
        .await
        .unwrap();
    assert_eq!(Cli::finish(out).stdout, "consumer/edge-1\n");

    // The same API over HTTPS with a self-signed certificate.
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let https = format!(
        "https://localhost:{}",
        listener.local_addr().unwrap().port()
    );
    let tls = tokio_rustls::TlsAcceptor::from(
        server_config(&cert, &key, baton::tls::MinTlsVersion::default())
            .unwrap()
            .config,
    );
    tokio::spawn(http_server::serve(
        listener,
        Some(tls),
        api::router(api.state.clone(), tokens),
        HttpLimits::default(),
        std::future::pending(),
    ));
    let cert = cert.display().to_string();
    let err = cli
        .fails(
            1,
            &[
                "consumers",
                "list",
                "--server",
                &https,
                "--token-file",
                &token_file,
            ],
        )
        .await;
    assert!(
        err.contains(&https) && err.to_lowercase().contains("certificate"),
        "{err}"
    );

    // A context holds server, token file and CA; flags and BATON_SERVER are not needed.
    let config = dir.path().join("config.yaml").display().to_string();
    cli.ok(&[
        "config",
        "set-context",
        "secure",
        "--config",
        &config,
        "--server",
        &https,
        "--token-file",
        &token_file,
        "--certificate-authority",
        &cert,
    ])
    .await;
    cli.ok(&[
        "config",
        "set-context",
        "plain",
        "--config",
        &config,
        "--server",
        &api.base,
    ])
    .await;
    cli.ok(&["config", "use-context", "secure", "--config", &config])
        .await;
    let contexts = cli
        .ok(&["config", "get-contexts", "--config", &config])
        .await;
    assert!(
        contexts
            .lines()
            .any(|l| l.starts_with('*') && l.contains("secure")),
        "{contexts}"
    );
    let out = cli
        .command(&["consumers", "list", "-o", "name"])
        .env_remove("BATON_SERVER")
        .env("BATON_CONFIG", &config)
        .output()
        .await
        .unwrap();
    let run = Cli::finish(out);
    assert_eq!(run.stdout, "consumer/edge-1\n", "{run:?}");
    // `--context` picks another one (the plain API needs the token too: none there).
    let out = cli
        .command(&["consumers", "list", "--context", "plain"])
        .env_remove("BATON_SERVER")
        .env("BATON_CONFIG", &config)
        .output()
        .await
        .unwrap();
    assert!(Cli::finish(out).stderr.contains("HTTP 401"));
}

#[tokio::test]
async fn flags_and_stdin_set_the_bundle_and_win_over_the_wrapper_document() {
    let api = TestApi::spawn(Backend::Sqlite).await;
    let cli = Cli::new(&api.base);
    cli.ok(&["consumers", "create", "edge-1", "-l", "env=prod"])
        .await;
    cli.ok(&["consumers", "label", "edge-1", "tier=gold", "env-"])
        .await;
    let labels = cli.ok(&["consumers", "get", "edge-1", "-o", "json"]).await;
    let labels: serde_json::Value = serde_json::from_str(&labels).unwrap();
    assert_eq!(labels["labels"], serde_json::json!({"tier": "gold"}));

    let web = data("web").display().to_string();
    cli.ok(&[
        "apply",
        "-f",
        &web,
        "--consumer",
        "edge-1",
        "--name",
        "custom",
        "--label",
        "app=other",
        "--annotation",
        "owner=team-a",
        "--delete-option",
        "{propagationPolicy: Orphan}",
    ])
    .await;
    let json = cli
        .ok(&["get", "resource", "edge-1/custom", "-o", "json"])
        .await;
    let resource: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(resource["labels"], serde_json::json!({"app": "other"}));
    assert_eq!(
        resource["annotations"],
        serde_json::json!({"owner": "team-a"})
    );
    assert_eq!(resource["delete_option"]["propagationPolicy"], "Orphan");
    assert_eq!(resource["manifests"][0]["kind"], "ConfigMap");

    // stdin has no file name to default to.
    let manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: piped, namespace: default}\n";
    let mut command = cli.command(&["apply", "-f", "-", "--consumer", "edge-1"]);
    let run = pipe(&mut command, manifest).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("--name"), "{run:?}");
    let mut command = cli.command(&[
        "apply",
        "-f",
        "-",
        "--consumer",
        "edge-1",
        "--name",
        "piped",
    ]);
    let run = pipe(&mut command, manifest).await;
    assert_eq!(run.stdout, "resource/edge-1/piped created\n", "{run:?}");
    let run = pipe(&mut command, manifest).await;
    assert_eq!(run.stdout, "resource/edge-1/piped unchanged\n", "{run:?}");

    let err = cli.fails(1, &["consumers", "delete", "edge-1"]).await;
    assert!(err.contains("HTTP 409"), "{err}");
}

async fn pipe(command: &mut tokio::process::Command, stdin: &str) -> super::Run {
    use tokio::io::AsyncWriteExt as _;
    let mut child = command.stdin(std::process::Stdio::piped()).spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).await.unwrap();
    drop(input);
    Cli::finish(child.wait_with_output().await.unwrap())
}

#[tokio::test]
async fn completion_scripts_name_the_client_commands() {
    let cli = Cli::new("http://127.0.0.1:1");
    for shell in ["bash", "zsh", "fish"] {
        let script = cli.ok(&["completion", shell]).await;
        for word in ["apply", "consumers", "certificate-authority"] {
            assert!(script.contains(word), "{shell}: {word} missing");
        }
    }
}
