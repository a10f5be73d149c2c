//! Bounds on the broker's connections, below gRPC: a connection must make its first call
//! (TLS and HTTP/2 handshakes included) within [`ConnLimits::first_call`], and one that has no
//! subscription is closed once it has made no call for [`ConnLimits::idle_unsubscribed`]; at
//! most [`ConnLimits::max_unsubscribed`] such connections are open at once, others are closed
//! on accept. A subscriber is never closed here (HTTP/2 keep-alive finds dead ones). Each
//! refusal is logged at a bounded rate and counted.
//!
//! Owns the accepted sockets' wrapper ([`Guarded`]) and the table the service marks calls and
//! subscriptions in (by peer address: tonic's connection info, and with it client
//! certificates, stays tonic's own). Must not authenticate, route or know any event.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};
use tonic::transport::server::{Connected, TcpConnectInfo};
use tracing::warn;

use super::stats::BrokerStats;
use crate::cloudevents::log_limit::LogLimit;

static AT_CAP: LogLimit = LogLimit::per_event();
static CLOSED_IDLE: LogLimit = LogLimit::per_event();

/// The connection bounds of one broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// From accept to the first call (Publish or Subscribe).
    pub first_call: Duration,
    /// Without a subscription, from the last call to the close.
    pub idle_unsubscribed: Duration,
    /// Connections without a subscription open at once.
    pub max_unsubscribed: usize,
}

impl Default for ConnLimits {
    fn default() -> Self {
        Self {
            first_call: Duration::from_secs(10),
            idle_unsubscribed: Duration::from_secs(60),
            // As many as the listen backlog holds: a fleet reconnecting at once has that many
            // connections between accept and Subscribe, and must not be refused for it.
            max_unsubscribed: super::listen::BACKLOG as usize,
        }
    }
}

/// One connection as the service marks it.
#[derive(Debug)]
struct ConnState {
    opened: Instant,
    last_call: Mutex<Option<Instant>>,
    subscribed: AtomicBool,
}

impl ConnState {
    /// When the connection is closed unless it calls or subscribes first.
    fn deadline(&self, limits: &ConnLimits) -> Instant {
        match *self.last_call.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(at) => at + limits.idle_unsubscribed,
            None => self.opened + limits.first_call,
        }
    }
}

/// The open connections by peer address, and how many have no subscription.
#[derive(Debug, Default)]
pub struct ConnTable {
    by_peer: Mutex<HashMap<SocketAddr, Arc<ConnState>>>,
    unsubscribed: AtomicUsize,
}

impl ConnTable {
    fn state(&self, peer: Option<SocketAddr>) -> Option<Arc<ConnState>> {
        let by_peer = self.by_peer.lock().unwrap_or_else(|e| e.into_inner());
        by_peer.get(&peer?).cloned()
    }

    /// A call arrived on the connection of `peer`.
    pub fn called(&self, peer: Option<SocketAddr>) {
        if let Some(state) = self.state(peer) {
            *state.last_call.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        }
    }

    /// The connection of `peer` opened a subscription: it is no longer bounded here.
    pub fn subscribed(&self, peer: Option<SocketAddr>) {
        if let Some(state) = self.state(peer)
            && !state.subscribed.swap(true, Ordering::SeqCst)
        {
            self.unsubscribed.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Connections open now without a subscription.
    pub fn unsubscribed(&self) -> usize {
        self.unsubscribed.load(Ordering::SeqCst)
    }

    /// Admits an accepted socket, or closes it (`None`) when the cap is reached.
    pub fn admit(
        self: &Arc<Self>,
        io: TcpStream,
        limits: ConnLimits,
        stats: &Arc<BrokerStats>,
    ) -> Option<Guarded> {
        let peer = io.peer_addr().ok()?;
        if self.unsubscribed.fetch_add(1, Ordering::SeqCst) >= limits.max_unsubscribed {
            self.unsubscribed.fetch_sub(1, Ordering::SeqCst);
            BrokerStats::bump(&stats.connections_refused);
            if let Some(suppressed) = AT_CAP.allow() {
                warn!(%peer, cap = limits.max_unsubscribed, suppressed,
                    "gRPC connection refused: the cap of connections without a subscription is reached");
            }
            return None;
        }
        let state = Arc::new(ConnState {
            opened: Instant::now(),
            last_call: Mutex::new(None),
            subscribed: AtomicBool::new(false),
        });
        let deadline = state.deadline(&limits);
        self.by_peer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(peer, state.clone());
        Some(Guarded {
            io,
            peer,
            state,
            table: self.clone(),
            limits,
            check: Box::pin(tokio::time::sleep_until(deadline)),
            stats: stats.clone(),
        })
    }
}

/// An accepted socket that ends itself when its connection breaks the [`ConnLimits`]: reads
/// fail with `TimedOut`, and the HTTP/2 server closes the connection.
pub struct Guarded {
    io: TcpStream,
    peer: SocketAddr,
    state: Arc<ConnState>,
    table: Arc<ConnTable>,
    limits: ConnLimits,
    check: Pin<Box<Sleep>>,
    stats: Arc<BrokerStats>,
}

impl Guarded {
    /// `Err` once the connection is past its deadline; otherwise arms the timer (the server
    /// always has a read pending, so the timer's wake-up reaches this check).
    fn expired(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        if self.state.subscribed.load(Ordering::SeqCst) {
            return Ok(());
        }
        while self.check.as_mut().poll(cx).is_ready() {
            let deadline = self.state.deadline(&self.limits);
            if Instant::now() < deadline {
                self.check.as_mut().reset(deadline);
                continue;
            }
            let first = self
                .state
                .last_call
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_none();
            BrokerStats::bump(&self.stats.connections_timed_out);
            if let Some(suppressed) = CLOSED_IDLE.allow() {
                let (why, after) = if first {
                    ("made no call", self.limits.first_call)
                } else {
                    (
                        "has no subscription and made no call",
                        self.limits.idle_unsubscribed,
                    )
                };
                warn!(peer = %self.peer, ?after, suppressed, "closing a gRPC connection that {why}");
            }
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "gRPC connection closed: no subscription",
            ));
        }
        Ok(())
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        let mut by_peer = self.table.by_peer.lock().unwrap_or_else(|e| e.into_inner());
        if by_peer
            .get(&self.peer)
            .is_some_and(|s| Arc::ptr_eq(s, &self.state))
        {
            by_peer.remove(&self.peer);
        }
        if !self.state.subscribed.swap(true, Ordering::SeqCst) {
            self.table.unsubscribed.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.expired(cx)?;
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

impl Connected for Guarded {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.io.connect_info()
    }
}
