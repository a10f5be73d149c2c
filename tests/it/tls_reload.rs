//! TLS on every listener (issue 20): the REST API and the built-in broker serve a certificate
//! that rotates on disk during the test without a restart (on file change; on SIGHUP for a
//! real `baton serve`), and refuse TLS 1.2 clients with `--tls-min-version 1.3`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use baton::broker::{BrokerConfig, ServerTls};
use baton::hub::http_server::{self, HttpLimits};
use baton::hub::tls::server_config;
use baton::tls::MinTlsVersion;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::grpc_harness::TestBroker;
use crate::harness::{Backend, TestApi};
use crate::support::{eventually, free_port};

/// A self-signed certificate for localhost, written over `dir`'s cert.pem and key.pem;
/// returns the certificate (DER) a client must trust to accept it.
fn rotate(dir: &Path) -> CertificateDer<'static> {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    // Written aside and renamed: a reader never sees half a file.
    for (name, text) in [
        ("cert.pem", certified.cert.pem()),
        ("key.pem", certified.signing_key.serialize_pem()),
    ] {
        let partial = dir.join(format!("{name}.new"));
        std::fs::write(&partial, text).unwrap();
        std::fs::rename(&partial, dir.join(name)).unwrap();
    }
    CertificateDer::from(certified.cert.der().to_vec())
}

fn files(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join("cert.pem"), dir.join("key.pem"))
}

/// A TLS handshake with `addr` by a client that trusts only `root` and speaks `versions`.
async fn handshake(
    addr: std::net::SocketAddr,
    root: &CertificateDer<'static>,
    versions: &[&'static rustls::SupportedProtocolVersion],
    alpn: &[u8],
) -> Result<(), String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut client = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.alpn_protocols = vec![alpn.to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let name = ServerName::try_from("localhost").unwrap();
    tokio::time::timeout(Duration::from_secs(5), connector.connect(name, tcp))
        .await
        .map_err(|_| "handshake timed out".to_owned())?
        .map(drop)
        .map_err(|e| e.to_string())
}

const BOTH: &[&rustls::SupportedProtocolVersion] = rustls::DEFAULT_VERSIONS;
const TLS12: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];

#[tokio::test]
async fn the_api_serves_a_rotated_certificate_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let first = rotate(dir.path());
    let (cert, key) = files(dir.path());
    let tls = server_config(&cert, &key, MinTlsVersion::Tls13).unwrap();
    let (tasks, stop) = (TaskTracker::new(), CancellationToken::new());
    tls.cert.spawn_watcher(&tasks, &stop);
    let api = TestApi::spawn(Backend::Sqlite).await;
    let app = baton::hub::api::router(api.state.clone(), None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.config);
    tokio::spawn(http_server::serve(
        listener,
        Some(acceptor),
        app,
        HttpLimits::default(),
        std::future::pending(),
    ));
    handshake(addr, &first, BOTH, b"http/1.1").await.unwrap();
    let refused = handshake(addr, &first, TLS12, b"http/1.1").await;
    assert!(refused.is_err(), "a TLS 1.2 client got in: {refused:?}");

    let second = rotate(dir.path());
    eventually(
        "the API serves the rotated certificate",
        Duration::from_secs(10),
        || {
            let second = second.clone();
            async move { handshake(addr, &second, BOTH, b"http/1.1").await.is_ok() }
        },
    )
    .await;
    assert!(handshake(addr, &first, BOTH, b"http/1.1").await.is_err());
    stop.cancel();
}

#[tokio::test]
async fn the_broker_serves_a_rotated_certificate_and_honours_the_minimum_version() {
    let dir = tempfile::tempdir().unwrap();
    let first = rotate(dir.path());
    let (cert, key) = files(dir.path());
    let mut tls = ServerTls::from_files(&cert, &key, None, ("--cert", "--key")).unwrap();
    tls.min_version = MinTlsVersion::Tls13;
    let broker = TestBroker::start(BrokerConfig {
        tls: Some(tls),
        ..BrokerConfig::default()
    })
    .await;
    handshake(broker.addr, &first, BOTH, b"h2").await.unwrap();
    let refused = handshake(broker.addr, &first, TLS12, b"h2").await;
    assert!(refused.is_err(), "a TLS 1.2 client got in: {refused:?}");
    // A client that connects and never says hello delays nobody.
    let _stalled = tokio::net::TcpStream::connect(broker.addr).await.unwrap();

    let second = rotate(dir.path());
    eventually(
        "the broker serves the rotated certificate",
        Duration::from_secs(10),
        || {
            let second = second.clone();
            async move { handshake(broker.addr, &second, BOTH, b"h2").await.is_ok() }
        },
    )
    .await;
    assert!(handshake(broker.addr, &first, BOTH, b"h2").await.is_err());
}

/// The same mtime and lengths as before: the watcher's poll cannot see the change, only a
/// SIGHUP makes the hub read the files.
fn rotate_unseen(dir: &Path) -> CertificateDer<'static> {
    let (cert, key) = files(dir);
    let stamp = |p: &Path| {
        let meta = std::fs::metadata(p).unwrap();
        (meta.modified().unwrap(), meta.len())
    };
    let (cert_before, key_before) = (stamp(&cert), stamp(&key));
    let aside = tempfile::tempdir().unwrap();
    loop {
        let root = rotate(aside.path());
        let (new_cert, new_key) = files(aside.path());
        if stamp(&new_cert).1 == cert_before.1 && stamp(&new_key).1 == key_before.1 {
            for (from, to, mtime) in [
                (new_cert, &cert, cert_before.0),
                (new_key, &key, key_before.0),
            ] {
                std::fs::write(to, std::fs::read(from).unwrap()).unwrap();
                std::fs::File::options()
                    .write(true)
                    .open(to)
                    .unwrap()
                    .set_modified(mtime)
                    .unwrap();
            }
            return root;
        }
    }
}

#[tokio::test]
async fn a_running_hub_reloads_its_certificates_on_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let first = rotate(dir.path());
    let (cert, key) = files(dir.path());
    let (http, grpc) = (free_port(), free_port());
    let hub = tokio::process::Command::new(env!("CARGO_BIN_EXE_baton"))
        .arg("serve")
        .args(["--http-addr", &format!("127.0.0.1:{http}")])
        .args(["--grpc-addr", &format!("127.0.0.1:{grpc}")])
        .args(["--tls-min-version", "1.3"])
        .arg("--http-tls-cert")
        .arg(&cert)
        .arg("--http-tls-key")
        .arg(&key)
        .arg("--grpc-tls-cert")
        .arg(&cert)
        .arg("--grpc-tls-key")
        .arg(&key)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env_remove("DATABASE_URL")
        .env_remove("BATON_TRANSPORT")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let http: std::net::SocketAddr = format!("127.0.0.1:{http}").parse().unwrap();
    let grpc: std::net::SocketAddr = format!("127.0.0.1:{grpc}").parse().unwrap();
    eventually("the hub answers over TLS", Duration::from_secs(30), || {
        let first = first.clone();
        async move {
            handshake(http, &first, BOTH, b"http/1.1").await.is_ok()
                && handshake(grpc, &first, BOTH, b"h2").await.is_ok()
        }
    })
    .await;
    assert!(handshake(http, &first, TLS12, b"http/1.1").await.is_err());
    assert!(handshake(grpc, &first, TLS12, b"h2").await.is_err());

    let second = rotate_unseen(dir.path());
    let pid = hub.id().unwrap().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap();
    assert!(sent.success());
    eventually(
        "both listeners serve the new certificate",
        Duration::from_secs(10),
        || {
            let second = second.clone();
            async move {
                handshake(http, &second, BOTH, b"http/1.1").await.is_ok()
                    && handshake(grpc, &second, BOTH, b"h2").await.is_ok()
            }
        },
    )
    .await;
    drop(hub);
}
