//! The broker's configuration ([`BrokerConfig`]): heartbeats (§8.7), the per-subscriber queue,
//! optional TLS / mTLS and the bearer tokens (`auth::TokenTable`, §8.9 adapted, see
//! `docs/broker.md`).
//! Checked once by [`crate::broker::Broker::new`]; owns no socket.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::auth::TokenTable;
use super::conns::ConnLimits;
use super::error::BrokerError;
use super::parked::ParkLimits;
use crate::tls::{CertFiles, MinTlsVersion, ReloadingCert};

/// Heartbeat interval sdk-go's broker uses by default (§8.6.4, §9).
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(10);
/// Events queued per subscriber before its stream is ended as too slow.
pub const DEFAULT_QUEUE: usize = 1024;
/// How long a Publish waits for room in a full source queue before it is refused
/// (`UNAVAILABLE`: the publisher retries). Below clients' 10 s request timeout.
pub const DEFAULT_SOURCE_WAIT: Duration = Duration::from_secs(5);
/// sdk-go's broker receive limit (§8.6.4).
pub const MAX_MESSAGE: usize = 4 << 20;

/// Everything the broker needs besides its listener.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// Heartbeat period on every Subscribe stream; `None` disables heartbeats.
    pub heartbeat_interval: Option<Duration>,
    /// Bounded queue per agent subscriber (a source's is 64 times this); an agent's overflow
    /// ends that stream (the agent reconnects and resyncs), so a slow agent never blocks the
    /// others.
    pub queue_capacity: usize,
    /// A full source queue is waited on this long per Publish, then the Publish is refused;
    /// the source's stream is kept (ending it would drop every event queued for it).
    pub source_wait: Duration,
    /// Bytes of events the embedding process's own source may hold in agents' queues at once
    /// (`broker::budget`); its publishes to agents wait for room.
    pub local_agent_budget: usize,
    /// How long and how many agents' spec resync requests are kept for a source that has
    /// not subscribed yet (`broker::parked`).
    pub park: ParkLimits,
    pub tls: Option<ServerTls>,
    /// Bearer tokens; `None` = token authentication off.
    pub tokens: Option<TokenTable>,
    /// Deadlines and a cap for connections without a subscription (`broker::conns`).
    pub connections: ConnLimits,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self {
            heartbeat_interval: Some(DEFAULT_HEARTBEAT),
            queue_capacity: DEFAULT_QUEUE,
            source_wait: DEFAULT_SOURCE_WAIT,
            local_agent_budget: super::budget::DEFAULT_LOCAL_BUDGET,
            park: ParkLimits::default(),
            tls: None,
            tokens: None,
            connections: ConnLimits::default(),
        }
    }
}

impl BrokerConfig {
    /// Whether clients must authenticate (a token table or a client CA is configured).
    pub fn auth_enabled(&self) -> bool {
        self.tokens.is_some() || self.tls.as_ref().is_some_and(|t| t.client_ca_pem.is_some())
    }

    pub(crate) fn check(&self) -> Result<(), BrokerError> {
        if self.heartbeat_interval.is_some_and(|d| d.is_zero()) {
            return Err(BrokerError::ZeroHeartbeat);
        }
        if self.queue_capacity == 0 {
            return Err(BrokerError::ZeroQueue);
        }
        if self.local_agent_budget == 0 {
            return Err(BrokerError::ZeroBudget);
        }
        if self.park.ttl.is_zero() || self.park.max == 0 {
            return Err(BrokerError::ZeroPark);
        }
        Ok(())
    }
}

/// The server certificate (reloaded when its files change), the CA that signs client
/// certificates for mTLS, and the lowest TLS version accepted.
#[derive(Clone)]
pub struct ServerTls {
    pub cert: Arc<ReloadingCert>,
    pub client_ca_pem: Option<Vec<u8>>,
    pub min_version: MinTlsVersion,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("mtls", &self.client_ca_pem.is_some())
            .finish_non_exhaustive()
    }
}

impl ServerTls {
    /// Reads the PEM files; `client_ca` turns on client certificate verification. `flags`
    /// name the certificate's and the key's options in errors.
    pub fn from_files(
        cert: &Path,
        key: &Path,
        client_ca: Option<&Path>,
        flags: (&'static str, &'static str),
    ) -> Result<Self, BrokerError> {
        let files = CertFiles {
            cert: cert.to_owned(),
            key: key.to_owned(),
            cert_flag: flags.0,
            key_flag: flags.1,
        };
        Ok(Self {
            cert: ReloadingCert::load(files, crate::tls::provider())?,
            client_ca_pem: client_ca.map(|p| read("client CA", p)).transpose()?,
            min_version: MinTlsVersion::default(),
        })
    }
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, BrokerError> {
    std::fs::read(path).map_err(|source| BrokerError::Read {
        what,
        path: path.to_owned(),
        source,
    })
}
