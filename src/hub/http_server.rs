//! The REST API's HTTP server: accepts TCP (and TLS) connections and serves the router on
//! each with hyper, bounded so that clients cannot hold the hub's file descriptors: a header
//! read timeout, an idle timeout and a cap on open connections. Drains on shutdown.
//! Must not know routes or the store (`api` does).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;

use crate::cloudevents::log_limit::LogLimit;

/// The bounds on client connections.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// From the moment a connection waits for a request (its first, or the next one on a
    /// keep-alive connection) until the whole header has arrived. hyper's HTTP/1 timer runs
    /// from the wait, so this also closes idle keep-alive connections.
    pub header_read_timeout: Duration,
    /// HTTP/2: the interval of keep-alive pings; a peer that does not answer one within the
    /// same time is dropped.
    pub keepalive: Duration,
    /// A TLS handshake not finished by then is dropped.
    pub handshake_timeout: Duration,
    /// Open connections at most; at the cap, new ones wait in the kernel's backlog.
    pub max_connections: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            keepalive: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(10),
            max_connections: 4096,
        }
    }
}

/// Serves `app` on `listener` (over TLS with `tls`) until `shutdown` completes, then waits
/// for open requests to finish.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(limits.keepalive)
        .keep_alive_timeout(limits.keepalive);
    // The protocol is known before the first byte over TLS (ALPN), so the header timer
    // starts at once; in plain text hyper must first read to tell HTTP/1 from HTTP/2.
    let builders = Arc::new(Builders {
        h1: builder.clone().http1_only(),
        h2: builder.clone().http2_only(),
        detect: builder,
    });
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = admit(&permits, limits.max_connections) => permit,
        };
        let (stream, addr) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!(%err, "accepting an HTTP connection failed");
                    // e.g. out of file descriptors: retrying at once would spin
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let connection = Connection {
            builders: builders.clone(),
            app: app.clone(),
            tls: tls.clone(),
            limits,
            _permit: permit,
        };
        // The connection future is watched so that shutdown can drain it; TLS handshakes
        // run here, one per connection, so a stalled one never delays the next accept.
        let watcher = graceful.watcher();
        tokio::spawn(connection.run(stream, addr, watcher));
    }
    drop(listener);
    graceful.shutdown().await;
}

/// A connection slot; at the cap this logs once and waits for one to free up.
async fn admit(permits: &Arc<Semaphore>, max: usize) -> OwnedSemaphorePermit {
    if let Ok(permit) = permits.clone().try_acquire_owned() {
        return permit;
    }
    static LOG: LogLimit = LogLimit::per_event();
    if let Some(suppressed) = LOG.allow() {
        tracing::warn!(
            max_connections = max,
            suppressed,
            "HTTP connection cap reached: new connections wait until one closes"
        );
    }
    permits
        .clone()
        .acquire_owned()
        .await
        .expect("the semaphore is never closed")
}

/// One configuration, three ways to pick the protocol.
struct Builders {
    /// Plain text: hyper reads the first bytes to tell HTTP/1 from HTTP/2.
    detect: auto::Builder<TokioExecutor>,
    h1: auto::Builder<TokioExecutor>,
    h2: auto::Builder<TokioExecutor>,
}

struct Connection {
    builders: Arc<Builders>,
    app: Router,
    tls: Option<TlsAcceptor>,
    limits: HttpLimits,
    /// Held while the connection is open.
    _permit: OwnedSemaphorePermit,
}

impl Connection {
    async fn run(
        self,
        stream: TcpStream,
        addr: SocketAddr,
        watcher: hyper_util::server::graceful::Watcher,
    ) {
        let service = TowerToHyperService::new(self.app);
        let served = match self.tls {
            None => {
                // Nothing bounds hyper's protocol detection: a client that sends nothing
                // must be dropped here, as a slow header would be.
                let mut first = [0u8; 1];
                let first_byte = stream.peek(&mut first);
                match tokio::time::timeout(self.limits.header_read_timeout, first_byte).await {
                    Ok(Ok(n)) if n > 0 => {}
                    _ => return,
                }
                let conn = self
                    .builders
                    .detect
                    .serve_connection_with_upgrades(TokioIo::new(stream), service);
                watcher.watch(conn.into_owned()).await
            }
            Some(acceptor) => {
                let handshake = acceptor.accept(stream);
                let tls = match tokio::time::timeout(self.limits.handshake_timeout, handshake).await
                {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(err)) => {
                        tracing::debug!(%addr, %err, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%addr, "TLS handshake timed out");
                        return;
                    }
                };
                let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
                let builder = if h2 {
                    &self.builders.h2
                } else {
                    &self.builders.h1
                };
                let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
                watcher.watch(conn.into_owned()).await
            }
        };
        if let Err(err) = served {
            tracing::debug!(%addr, %err, "HTTP connection ended with an error");
        }
    }
}
