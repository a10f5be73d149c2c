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
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_stream::{Stream, StreamExt};
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

/// Accepts the sockets `incoming` yields until `stop`, each handshake in a task of `tasks`;
/// the finished streams come out of the receiver (closed once `stop` fires or `incoming` ends).
pub fn accept<S, IO>(
    incoming: S,
    config: Arc<rustls::ServerConfig>,
    tasks: &TaskTracker,
    stop: CancellationToken,
) -> mpsc::Receiver<Result<TlsStream<IO>, std::io::Error>>
where
    S: Stream<Item = std::io::Result<IO>> + Send + 'static,
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (ready, streams) = mpsc::channel(64);
    let acceptor = TlsAcceptor::from(config);
    let handshakes = tasks.clone();
    tasks.spawn(async move {
        tokio::pin!(incoming);
        loop {
            let io = tokio::select! {
                () = stop.cancelled() => return,
                accepted = incoming.next() => match accepted {
                    Some(Ok(io)) => io,
                    Some(Err(err)) => {
                        // Out of descriptors, say: the next accept may work.
                        tracing::debug!(%err, "broker accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                    None => return,
                },
            };
            let (acceptor, ready, stop) = (acceptor.clone(), ready.clone(), stop.clone());
            handshakes.spawn(async move {
                let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(io));
                let stream = tokio::select! {
                    () = stop.cancelled() => return,
                    done = handshake => match done {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(err)) => {
                            tracing::debug!(%err, "broker TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!("broker TLS handshake timed out");
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
