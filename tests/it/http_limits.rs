//! Clients cannot hold the hub's connections: a header that never completes and an idle
//! keep-alive connection are closed within their timeouts, and at the connection cap new
//! clients wait for a slot instead of failing, while normal requests keep answering.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use baton::hub::http_server::{self, HttpLimits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{Backend, TestApi};

const LIMITS: HttpLimits = HttpLimits {
    header_read_timeout: Duration::from_secs(1),
    keepalive: Duration::from_secs(1),
    handshake_timeout: Duration::from_secs(1),
    max_connections: 3,
};

/// The REST API served by the hub's HTTP server with [`LIMITS`].
async fn serve() -> (TestApi, SocketAddr) {
    let api = TestApi::spawn(Backend::Sqlite).await;
    let app = baton::hub::api::router(api.state.clone(), None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = std::future::pending();
    tokio::spawn(http_server::serve(listener, None, app, LIMITS, shutdown));
    (api, addr)
}

/// How long until the server closes `stream` (reading and discarding what it sends).
async fn closed_after(stream: &mut TcpStream) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    let read = async {
        while let Ok(n) = stream.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("the server closes the connection");
    started.elapsed()
}

async fn healthz(addr: SocketAddr) -> u16 {
    let response = reqwest::Client::new()
        .get(format!("http://{addr}/healthz"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap();
    response.status().as_u16()
}

#[tokio::test]
async fn a_header_that_never_completes_is_closed_while_others_are_answered() {
    let (_api, addr) = serve().await;
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    assert_eq!(healthz(addr).await, 200, "others are answered meanwhile");
    let took = closed_after(&mut slow).await;
    assert!(took < Duration::from_secs(3), "slow header held {took:?}");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let (_api, addr) = serve().await;
    let mut idle = TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut head = [0u8; 12];
    idle.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    let took = closed_after(&mut idle).await;
    assert!(
        took < Duration::from_secs(3),
        "idle connection held {took:?}"
    );
}

#[tokio::test]
async fn at_the_connection_cap_new_clients_wait_for_a_slot() {
    let (_api, addr) = serve().await;
    let mut silent = Vec::new();
    for _ in 0..LIMITS.max_connections {
        silent.push(TcpStream::connect(addr).await.unwrap());
    }
    let started = Instant::now();
    assert_eq!(healthz(addr).await, 200, "answered once a slot is free");
    let waited = started.elapsed();
    assert!(
        waited >= LIMITS.header_read_timeout / 2 && waited < Duration::from_secs(4),
        "waited {waited:?} for a slot"
    );
    for mut stream in silent {
        let took = closed_after(&mut stream).await;
        assert!(
            took < Duration::from_secs(1),
            "a silent client outlived its timeout"
        );
    }
}
