//! The broker's errors: why a request was refused ([`RequestError`], the one place gRPC status
//! codes are chosen) and why the broker could not start ([`BrokerError`]).

use std::path::PathBuf;

/// A refused Publish or Subscribe.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// Malformed or unroutable input (sdk-go: `InvalidArgument`, §8.6.2).
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Denied(String),
}

impl From<RequestError> for tonic::Status {
    fn from(err: RequestError) -> Self {
        match err {
            RequestError::Invalid(m) => tonic::Status::invalid_argument(m),
            RequestError::Unauthenticated(m) => tonic::Status::unauthenticated(m),
            RequestError::Denied(m) => tonic::Status::permission_denied(m),
        }
    }
}

/// The broker could not be configured or served.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("reading {what} {path}: {source}")]
    Read {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("parsing the token file: {0}")]
    TokenFile(#[source] serde_yaml_ng::Error),
    #[error("the token file has an empty token (entry for user {0:?})")]
    EmptyToken(String),
    #[error("the token file lists the same token twice (users {0:?} and {1:?})")]
    DuplicateToken(String, String),
    #[error("--tls-cert and --tls-key must be given together")]
    HalfTls,
    #[error("--client-ca needs --tls-cert and --tls-key (mTLS runs over TLS)")]
    ClientCaWithoutTls,
    #[error("the heartbeat interval must be positive")]
    ZeroHeartbeat,
    #[error("the subscriber queue capacity must be at least 1")]
    ZeroQueue,
    #[error("the local source's budget in agents' queues must be at least 1 byte")]
    ZeroBudget,
    #[error("parked resync requests need a non-zero time to live and limit")]
    ZeroPark,
    #[error("client CA: {0}")]
    ClientCa(String),
    #[error(transparent)]
    Certificate(#[from] crate::tls::TlsError),
    #[error("TLS configuration: {0}")]
    Tls(#[source] rustls::Error),
    #[error("gRPC server: {0}")]
    Serve(#[from] tonic::transport::Error),
}
