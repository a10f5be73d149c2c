//! `/metrics` on a listener of its own (`--metrics-addr`, issue 20): a real `baton serve` with
//! API tokens serves `/metrics` there without a token and no longer on the API's port, while
//! `/healthz` and `/readyz` stay open on the API's port.

use std::process::Stdio;
use std::time::Duration;

use crate::support::{eventually, free_port};

#[tokio::test]
async fn with_a_metrics_addr_metrics_leave_the_api_port() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, "admin-token\n").unwrap();
    let (http, grpc, metrics) = (free_port(), free_port(), free_port());
    let _hub = tokio::process::Command::new(env!("CARGO_BIN_EXE_baton"))
        .arg("serve")
        .args(["--http-addr", &format!("127.0.0.1:{http}")])
        .args(["--grpc-addr", &format!("127.0.0.1:{grpc}")])
        .args(["--metrics-addr", &format!("127.0.0.1:{metrics}")])
        .arg("--api-token-file")
        .arg(&tokens)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env_remove("DATABASE_URL")
        .env_remove("BATON_TRANSPORT")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let get = |url: String, token: Option<&'static str>| {
        let client = client.clone();
        async move {
            let mut request = client.get(url);
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    Some((status, response.text().await.unwrap_or_default()))
                }
                Err(_) => None,
            }
        }
    };
    let api = format!("http://127.0.0.1:{http}");
    let scrape = format!("http://127.0.0.1:{metrics}/metrics");
    eventually(
        "the hub and its metrics listener answer",
        Duration::from_secs(30),
        || {
            let (health, scrape) = (
                get(format!("{api}/healthz"), None),
                get(scrape.clone(), None),
            );
            async move { health.await.is_some() && scrape.await.is_some() }
        },
    )
    .await;

    let (status, body) = get(scrape.clone(), None).await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("baton_"), "{body}");
    // The metrics listener serves nothing else.
    let (status, _) = get(format!("http://127.0.0.1:{metrics}/api/v1/consumers"), None)
        .await
        .unwrap();
    assert_eq!(status, 404);
    // The API's port: no /metrics even for an admin; the API itself needs the token.
    let (status, _) = get(format!("{api}/metrics"), Some("admin-token"))
        .await
        .unwrap();
    assert_eq!(status, 404);
    assert_eq!(
        get(format!("{api}/api/v1/consumers"), None)
            .await
            .unwrap()
            .0,
        401
    );
    let (status, _) = get(format!("{api}/api/v1/consumers"), Some("admin-token"))
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(get(format!("{api}/healthz"), None).await.unwrap().0, 200);
    assert_ne!(get(format!("{api}/readyz"), None).await.unwrap().0, 401);
}
