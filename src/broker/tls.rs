//! TLS on the broker's listener: the rustls configuration (lowest version, the reloadable
//! certificate of `crate::tls`, the client CA for mTLS) and the accept loop that runs each
//! handshake on its own, bounded by [`HANDSHAKE_TIMEOUT`], handing finished TLS streams to
//! tonic. Clients' certificates reach the service as tonic's `TlsConnectInfo` (`peer_certs`).
//! Must not serve gRPC (`Broker::serve` does) nor authenticate (`auth`).

use std::sync::Arc;
use std::time::Duration;

use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::config::ServerTls;
use super::error::BrokerError;

/// A handshake not finished by then is dropped: a client that connects and stalls holds a
/// socket for this long at most.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The rustls configuration of the broker's listener.
pub fn server_config(tls: &ServerTls) -> Result<Arc<rustls::ServerConfig>, BrokerError> {
    let provider = crate::tls::provider();
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(tls.min_version.versions())
        .map_err(BrokerError::Tls)?;
    let builder = match &tls.client_ca_pem {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(ca) {
                let cert = cert.map_err(|e| BrokerError::ClientCa(e.to_string()))?;
                roots
                    .add(cert)
                    .map_err(|e| BrokerError::ClientCa(e.to_string()))?;
            }
            // Optional at the TLS layer so that token clients get in too; a request with
            // neither is refused as Unauthenticated.
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .allow_unauthenticated()
                .build()
                .map_err(|e| BrokerError::ClientCa(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_cert_resolver(tls.cert.clone());
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// Accepts on `listener` until `stop`, each handshake in a task of `tasks`; the finished
/// streams come out of the receiver (closed once `stop` fires).
pub fn accept(
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
    tasks: &TaskTracker,
    stop: CancellationToken,
) -> mpsc::Receiver<Result<TlsStream<TcpStream>, std::io::Error>> {
    let (ready, streams) = mpsc::channel(64);
    let acceptor = TlsAcceptor::from(config);
    let handshakes = tasks.clone();
    tasks.spawn(async move {
        loop {
            let (tcp, addr) = tokio::select! {
                () = stop.cancelled() => return,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        // Out of descriptors, say: the next accept may work.
                        tracing::debug!(%err, "broker accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            // Without it, a response written in several frames waits for the peer's
            // delayed ACK (~40 ms) whenever two calls share the connection.
            let _ = tcp.set_nodelay(true);
            let (acceptor, ready, stop) = (acceptor.clone(), ready.clone(), stop.clone());
            handshakes.spawn(async move {
                let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp));
                let stream = tokio::select! {
                    () = stop.cancelled() => return,
                    done = handshake => match done {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(err)) => {
                            tracing::debug!(%addr, %err, "broker TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%addr, "broker TLS handshake timed out");
                            return;
                        }
                    },
                };
                let _ = ready.send(Ok(stream)).await;
            });
        }
    });
    streams
}
