//! Shared test helpers: vector loading, deadlines, service URLs.

#![allow(dead_code)]

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

/// Path of a file under `tests/data/vectors/`.
pub fn vector_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/vectors")
        .join(relative)
}

/// Reads a vector file as text.
pub fn vector_text(relative: &str) -> String {
    let path = vector_path(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Reads a vector file as JSON.
pub fn vector_json(relative: &str) -> serde_json::Value {
    serde_json::from_str(&vector_text(relative))
        .unwrap_or_else(|e| panic!("parsing {relative}: {e}"))
}

/// Polls `condition` until it holds; panics naming `what` when `limit` passes first.
pub async fn eventually<F, Fut>(what: &str, limit: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if condition().await {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {limit:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The Postgres URL the test command exports (`scripts/services`), with a local default.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/baton".to_owned())
}

/// The mosquitto binary (`scripts/services` exports it).
pub fn mosquitto_bin() -> String {
    std::env::var("MOSQUITTO_BIN").unwrap_or_else(|_| "/usr/sbin/mosquitto".to_owned())
}

/// A free port for a server another process will bind (a `baton` or `mosquitto` child), picked
/// outside Linux's ephemeral range (32768–60999): `bind(0)` would hand out a port from that
/// range, which any parallel test's outgoing connection may take before the child binds it.
pub fn free_port() -> u16 {
    loop {
        let port = 20_000 + (uuid::Uuid::new_v4().as_u128() % 12_000) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}
