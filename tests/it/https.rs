//! The REST API over HTTPS (`--http-tls-cert` / `--http-tls-key`): a rustls client with the
//! test certificate as its only root gets answers; a plaintext client gets none; a stalled handshake
//! delays nobody else.

use std::sync::Arc;

use std::time::{Duration, Instant};

use baton::hub::http_server::{self, HttpLimits};
use baton::hub::tls::server_config;
use baton::tls::MinTlsVersion;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{Backend, TestApi};

#[tokio::test]
async fn the_api_answers_over_https_with_the_configured_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();

    let api = TestApi::spawn(Backend::Sqlite).await; // a router over a fresh database
    let app = baton::hub::api::router(api.state.clone(), None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let tls = tokio_rustls::TlsAcceptor::from(
        server_config(&cert, &key, MinTlsVersion::Tls12)
            .unwrap()
            .config,
    );
    let limits = HttpLimits::default();
    let shutdown = std::future::pending();
    tokio::spawn(http_server::serve(
        listener,
        Some(tls),
        app,
        limits,
        shutdown,
    ));
    // A client that connects and never starts its handshake holds only its own connection.
    let _stalled = tokio::net::TcpStream::connect(addr).await.unwrap();

    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(certified.cert.der().to_vec()))
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let started = Instant::now();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut stream = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "waited {:?} behind a stalled handshake",
        started.elapsed()
    );
    assert!(
        response.to_ascii_lowercase().contains("x-request-id"),
        "{response}"
    );

    // Plain HTTP on the TLS port: the handshake fails, no answer, and the listener lives on.
    let plain = reqwest::get(format!("http://{addr}/healthz")).await;
    assert!(plain.is_err());
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    assert!(
        connector
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .is_ok(),
        "still serving"
    );
}

#[test]
fn bad_certificate_files_are_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate").unwrap();
    let err = server_config(&junk, &junk, MinTlsVersion::Tls12)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("--http-tls-cert") && err.contains("junk.pem"),
        "{err}"
    );
    let missing = server_config(&dir.path().join("nope.pem"), &junk, MinTlsVersion::Tls12)
        .unwrap_err()
        .to_string();
    assert!(missing.contains("nope.pem"), "{missing}");
}
