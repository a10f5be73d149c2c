//! The gRPC client configuration (docs/protocol.md §8.4): sdk-go's YAML config file (`url`,
//! `caFile`/`caData`, `clientCertFile`/`clientCertData`, `clientKeyFile`/`clientKeyData`,
//! `token`/`tokenFile`, `keepAliveConfig`, `serverHealthinessTimeout`), read and checked once
//! into [`GrpcOptions`], which builds the tonic endpoint (TLS via rustls with ring).
//!
//! As in sdk-go, TLS is on iff a token or a client certificate is configured; a token needs a
//! CA. Unlike sdk-go, there is no system trust store: with TLS a CA must be given.
//! Owns no connection.

use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

use crate::backoff::BackoffPolicy;
use crate::transport::config_file;
use crate::transport::credentials::{self, PemError};
use crate::transport::go_duration;

/// The config file could not be used. Never contains a secret.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file could not be read.
    #[error("reading {what} {path}: {source}")]
    Read {
        /// What the file is for.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The config file is not valid YAML for this config.
    #[error("parsing the gRPC config: {0}")]
    Yaml(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// `url` is missing.
    #[error("url is required")]
    MissingUrl,
    /// A `*Data` item is not valid base64.
    #[error("{0} is not valid base64")]
    Base64(&'static str),
    /// Only one of client certificate and key is set.
    #[error("either both or none of clientCertFile and clientKeyFile must be set")]
    HalfIdentity,
    /// A token without a CA: it would be sent in clear text.
    #[error("setting token requires authority certificates (caFile or caData)")]
    TokenWithoutCa,
    #[error(
        "TLS is on (token or client certificate) but no CA is set; baton has no system trust store, set caFile or caData"
    )]
    /// TLS without a CA to verify the broker.
    TlsWithoutCa,
    #[error(
        "the token is not a valid header value (a tokenFile is used verbatim: remove its trailing newline)"
    )]
    /// The token cannot be an HTTP header value.
    InvalidToken,
    #[error("invalid url {url:?}: {reason}")]
    /// `url` is not a valid URI.
    Url {
        /// The url given.
        url: String,
        /// Why it is invalid.
        reason: String,
    },
}

/// `keepAliveConfig` (§8.4; grpc-go's client keepalive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepAlive {
    /// Ping the broker after this long without activity.
    pub time: Duration,
    /// Wait this long for the ping's answer.
    pub timeout: Duration,
    /// Ping even without an open stream.
    pub permit_without_stream: bool,
}

/// Client TLS material, PEM.
#[derive(Clone)]
pub struct TlsOptions {
    /// The CA certificates that verify the broker.
    pub ca_pem: Vec<u8>,
    /// Client certificate and key for mTLS.
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsOptions")
            .field("client_certificate", &self.identity.is_some())
            .finish_non_exhaustive()
    }
}

/// Everything the gRPC transport needs to reach a broker.
#[derive(Debug, Clone)]
pub struct GrpcOptions {
    /// `host:port` (or a full `http(s)://` URI). A host name with several addresses is
    /// tried address by address on each connect.
    pub url: String,
    /// Further brokers serving the same sources (hub replicas reached without a load
    /// balancer): the transport starts at one of `url` and these at random, to spread agents,
    /// and moves to the next in turn whenever its subscription fails or ends.
    pub failover_urls: Vec<String>,
    /// TLS material; `None`: plaintext (h2c).
    pub tls: Option<TlsOptions>,
    /// Sent as `authorization: Bearer <token>` on every call.
    pub token: Option<SecretString>,
    /// Client keep-alive pings (`keepAliveConfig`), if any.
    pub keep_alive: Option<KeepAlive>,
    /// No heartbeat within this window = dead stream, reconnect (§8.7). `None` = disabled.
    pub server_healthiness_timeout: Option<Duration>,
    /// Reconnect backoff.
    pub backoff: BackoffPolicy,
    /// How long a connection attempt may take.
    pub connect_timeout: Duration,
    /// Bound on one Publish call, so a publish never blocks forever.
    pub request_timeout: Duration,
    /// Keys of the config file that baton does not know (dotted paths), already logged.
    pub unknown_keys: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawConfig {
    #[serde(default)]
    url: String,
    ca_file: Option<PathBuf>,
    ca_data: Option<String>,
    client_cert_file: Option<PathBuf>,
    client_cert_data: Option<String>,
    client_key_file: Option<PathBuf>,
    client_key_data: Option<String>,
    token: Option<String>,
    token_file: Option<PathBuf>,
    #[serde(default)]
    keep_alive_config: RawKeepAlive,
    #[serde(default, deserialize_with = "go_duration::deserialize_opt")]
    server_healthiness_timeout: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawKeepAlive {
    #[serde(default)]
    enable: bool,
    #[serde(default, deserialize_with = "go_duration::deserialize_opt")]
    time: Option<Duration>,
    #[serde(default, deserialize_with = "go_duration::deserialize_opt")]
    timeout: Option<Duration>,
    #[serde(default)]
    permit_without_stream: bool,
}

impl GrpcOptions {
    /// A plaintext (h2c) connection to `url`, sdk-go defaults otherwise.
    pub fn plaintext(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            failover_urls: Vec::new(),
            tls: None,
            token: None,
            keep_alive: None,
            server_healthiness_timeout: None,
            backoff: BackoffPolicy::default(),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            unknown_keys: Vec::new(),
        }
    }

    /// Reads an sdk-go gRPC config file (§8.4). Relative paths inside are relative to the
    /// working directory, as in sdk-go.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = read("the gRPC config file", path)?;
        Self::from_yaml(&String::from_utf8_lossy(&text))
    }

    /// Parses the YAML text of a config file; referenced files are read now.
    pub fn from_yaml(text: &str) -> Result<Self, ConfigError> {
        let (raw, unknown_keys) = config_file::parse::<RawConfig>(text)
            .map_err(|err| ConfigError::Yaml(Box::new(err)))?;
        config_file::warn_unknown("gRPC", &unknown_keys);
        if raw.url.trim().is_empty() {
            return Err(ConfigError::MissingUrl);
        }
        let ca = credentials::load(
            credentials::CA,
            raw.ca_data.as_deref(),
            raw.ca_file.as_deref(),
        )?;
        let cert = credentials::load(
            credentials::CLIENT_CERT,
            raw.client_cert_data.as_deref(),
            raw.client_cert_file.as_deref(),
        )?;
        let key = credentials::load(
            credentials::CLIENT_KEY,
            raw.client_key_data.as_deref(),
            raw.client_key_file.as_deref(),
        )?;
        let identity = match (cert, key) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => return Err(ConfigError::HalfIdentity),
        };
        // The token file is used verbatim: sdk-go does not strip a trailing newline (§8.4).
        let token = match (raw.token.filter(|t| !t.is_empty()), raw.token_file) {
            (Some(token), _) => Some(token),
            (None, Some(path)) => {
                Some(String::from_utf8_lossy(&read("the token file", &path)?).into_owned())
            }
            (None, None) => None,
        }
        .filter(|t| !t.is_empty());
        if token.is_some() && ca.is_none() {
            return Err(ConfigError::TokenWithoutCa);
        }
        let tls = if token.is_some() || identity.is_some() {
            let ca_pem = ca.ok_or(ConfigError::TlsWithoutCa)?;
            Some(TlsOptions { ca_pem, identity })
        } else {
            None
        };
        let keep = raw.keep_alive_config;
        let mut options = Self::plaintext(raw.url.trim());
        options.tls = tls;
        options.token = token.map(SecretString::from);
        options.keep_alive = keep.enable.then(|| KeepAlive {
            time: keep.time.unwrap_or(Duration::from_secs(30)),
            timeout: keep.timeout.unwrap_or(Duration::from_secs(10)),
            permit_without_stream: keep.permit_without_stream,
        });
        options.server_healthiness_timeout = raw.server_healthiness_timeout;
        options.unknown_keys = unknown_keys;
        Ok(options)
    }

    /// The `authorization` metadata value, if a token is configured.
    pub(crate) fn bearer(&self) -> Option<String> {
        self.token
            .as_ref()
            .map(|t| format!("Bearer {}", t.expose_secret()))
    }

    /// The tonic endpoint of `url`: scheme from the TLS setting, TLS config, keepalive,
    /// timeouts. For callers of the generated client in [`super::proto`]; a tonic 0.14 type,
    /// like that module.
    pub fn endpoint(&self) -> Result<Endpoint, ConfigError> {
        self.endpoint_for(&self.url)
    }

    /// The endpoints of `url` and then of each failover URL, in that order.
    pub fn endpoints(&self) -> Result<Vec<Endpoint>, ConfigError> {
        std::iter::once(&self.url)
            .chain(&self.failover_urls)
            .map(|url| self.endpoint_for(url))
            .collect()
    }

    fn endpoint_for(&self, url: &str) -> Result<Endpoint, ConfigError> {
        let bad = |reason: String| ConfigError::Url {
            url: url.to_owned(),
            reason,
        };
        let uri = if url.contains("://") {
            url.to_owned()
        } else if self.tls.is_some() {
            format!("https://{url}")
        } else {
            format!("http://{url}")
        };
        let mut endpoint = Endpoint::from_shared(uri)
            .map_err(|e| bad(e.to_string()))?
            .connect_timeout(self.connect_timeout)
            .tcp_nodelay(true);
        if let Some(keep) = self.keep_alive {
            endpoint = endpoint
                .http2_keep_alive_interval(keep.time)
                .keep_alive_timeout(keep.timeout)
                .keep_alive_while_idle(keep.permit_without_stream);
        }
        if let Some(tls) = &self.tls {
            let mut config =
                ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&tls.ca_pem));
            if let Some((cert, key)) = &tls.identity {
                config = config.identity(Identity::from_pem(cert, key));
            }
            endpoint = endpoint
                .tls_config(config)
                .map_err(|e| bad(e.to_string()))?;
        }
        Ok(endpoint)
    }
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|source| ConfigError::Read {
        what,
        path: path.to_owned(),
        source,
    })
}

impl From<PemError> for ConfigError {
    fn from(err: PemError) -> Self {
        match err {
            PemError::Base64 { key } => Self::Base64(key),
            PemError::Read { key, path, source } => Self::Read {
                what: key,
                path,
                source,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_config_with_keepalive_and_healthiness_timeout() {
        let options = GrpcOptions::from_yaml(
            "url: broker:8090\nkeepAliveConfig:\n  enable: true\n  time: 20s\nserverHealthinessTimeout: 30s\n",
        )
        .unwrap();
        assert!(options.tls.is_none());
        assert_eq!(
            options.server_healthiness_timeout,
            Some(Duration::from_secs(30))
        );
        assert!(options.unknown_keys.is_empty());
        let keep = options.keep_alive.unwrap();
        assert_eq!(
            (keep.time, keep.timeout),
            (Duration::from_secs(20), Duration::from_secs(10))
        );
        assert_eq!(
            options.endpoint().unwrap().uri().to_string(),
            "http://broker:8090/"
        );
    }

    #[test]
    fn unknown_keys_are_named() {
        let options =
            GrpcOptions::from_yaml("url: a:1\nURL: b:2\nkeepAliveConfig:\n  enabled: true\n")
                .unwrap();
        assert_eq!(options.unknown_keys, ["URL", "keepAliveConfig.enabled"]);
    }

    #[test]
    fn clear_errors_for_bad_configs() {
        let err = |yaml: &str| GrpcOptions::from_yaml(yaml).unwrap_err();
        assert!(matches!(err("caFile: x\n"), ConfigError::MissingUrl));
        assert!(matches!(
            err("url: a:1\ntoken: t\n"),
            ConfigError::TokenWithoutCa
        ));
        assert!(matches!(
            err("url: a:1\nclientCertData: YQ==\n"),
            ConfigError::HalfIdentity
        ));
        assert!(matches!(
            err("url: a:1\ncaData: '%%'\n"),
            ConfigError::Base64("caData")
        ));
        assert!(matches!(
            err("url: a:1\ncaFile: /nonexistent/ca.pem\n"),
            ConfigError::Read { what: "caFile", .. }
        ));
        assert!(matches!(
            err("url: a:1\nserverHealthinessTimeout: soon\n"),
            ConfigError::Yaml(_)
        ));
    }

    #[test]
    fn token_file_is_used_verbatim_and_turns_tls_on() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "abc\n").unwrap();
        let yaml = format!("url: a:1\ncaData: YQ==\ntokenFile: {}\n", token.display());
        let options = GrpcOptions::from_yaml(&yaml).unwrap();
        assert_eq!(options.bearer().as_deref(), Some("Bearer abc\n"));
        assert_eq!(options.tls.unwrap().ca_pem, b"a");
    }
}
