//! `baton serve`'s flags ([`ServeArgs`], parsed by clap) and the checked [`HubConfig`] they
//! become: every rule on a flag is applied here, once, before anything starts, and an error
//! names the flag (never a secret's value). The rest of the hub takes the config, not the flags.
//! Must not bind, connect or spawn: `serve` does that with the config.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use super::api::auth::{self, ApiAuth, AuthConfigError, JwtSettings, JwtVerifier};
use super::instance::InstanceId;
use super::publisher::PublisherConfig;
use super::service::HubOptions;
use super::source_api::SourceApiConfig;
use super::tls::HttpTls;
use crate::broker::{BrokerConfig, BrokerError, ServerTls, TokenTable};
use crate::cloudevents::transport::mqtt::{ConfigError as MqttConfigError, MqttConfig};
use crate::hub::state::DEFAULT_SOURCE_ID;
use crate::store::{self, StoreError};
use crate::tls::{MinTlsVersion, TlsError};

/// Which transport the hub publishes over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TransportKind {
    /// The built-in gRPC broker on --grpc-addr: agents connect to the hub directly.
    Grpc,
    /// An external MQTT v5 broker described by --mqtt-config.
    Mqtt,
}

/// Arguments of `baton serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// REST API listen address.
    #[arg(long, env = "BATON_HTTP_ADDR", default_value = "127.0.0.1:8000")]
    pub http_addr: SocketAddr,

    /// A listener of its own for `/metrics` (plain HTTP, no token: bind it to the scraper's
    /// network); the API's port then has no `/metrics`. Without it `/metrics` is on the API's
    /// port, behind an unscoped admin token when the API has credentials.
    #[arg(long, env = "BATON_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,

    /// Built-in gRPC broker listen address (with --transport grpc); agents connect here.
    #[arg(long, env = "BATON_GRPC_ADDR", default_value = "127.0.0.1:8090")]
    pub grpc_addr: SocketAddr,

    /// Database URL: postgres://user:pass@host/db (production) or sqlite://path/file.db.
    /// Without it the hub keeps an embedded SQLite database in --data-dir. Never logged.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<SecretString>,

    /// Where the embedded SQLite database lives when no --database-url is given (created on
    /// first start; one hub process at a time).
    #[arg(long, env = "BATON_DATA_DIR", default_value = store::DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,

    /// Largest number of database connections.
    #[arg(long, env = "BATON_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,

    /// How specs reach agents.
    #[arg(long, value_enum, env = "BATON_TRANSPORT", default_value = "grpc")]
    pub transport: TransportKind,

    /// MQTT config file (sdk-go / Maestro format, see docs/mqtt.md); needed with --transport mqtt.
    #[arg(long, env = "BATON_MQTT_CONFIG")]
    pub mqtt_config: Option<PathBuf>,

    /// The CloudEvent source id of the hub; agents address status to it.
    #[arg(long, env = "BATON_SOURCE_ID", default_value = DEFAULT_SOURCE_ID)]
    pub source_id: String,

    /// This replica's name among the hubs on one database (a pod name, say); default: random,
    /// new on every start.
    #[arg(long, env = "BATON_INSTANCE_ID")]
    pub instance_id: Option<InstanceId>,

    /// MQTT client id of this replica (with --transport mqtt); wins over the config file's
    /// clientId. Default: SOURCE_ID-INSTANCE_ID, so replicas never share one (the broker
    /// drops a client when another connects with its id).
    #[arg(long, env = "BATON_MQTT_CLIENT_ID")]
    pub mqtt_client_id: Option<String>,

    /// File of bearer tokens for the REST API, a line each: `TOKEN [ROLE [SELECTOR]]`, ROLE
    /// read, write or admin (default), SELECTOR the consumer labels it reaches (`env=dev`).
    /// Without it (and without --api-jwks-file) the API is open.
    #[arg(long, env = "BATON_API_TOKEN_FILE")]
    pub api_token_file: Option<PathBuf>,

    /// JWK set (JSON) whose public keys sign the JWT bearer tokens the REST API accepts; with
    /// --api-jwt-issuer and --api-jwt-audience.
    #[arg(long, env = "BATON_API_JWKS_FILE", requires_all = ["api_jwt_issuer", "api_jwt_audience"])]
    pub api_jwks_file: Option<PathBuf>,

    /// The `iss` a JWT must carry.
    #[arg(long, env = "BATON_API_JWT_ISSUER")]
    pub api_jwt_issuer: Option<String>,

    /// The `aud` a JWT must carry.
    #[arg(long, env = "BATON_API_JWT_AUDIENCE")]
    pub api_jwt_audience: Option<String>,

    /// The JWT claim holding the caller's role (read, write or admin).
    #[arg(long, env = "BATON_API_JWT_ROLE_CLAIM", default_value = "baton_role")]
    pub api_jwt_role_claim: String,

    /// The JWT claim holding the caller's consumer selector (`env=dev`); absent: every consumer.
    #[arg(long, env = "BATON_API_JWT_SCOPE_CLAIM", default_value = "baton_scope")]
    pub api_jwt_scope_claim: String,

    /// HTTPS certificate chain (PEM) for the REST API; with --http-tls-key.
    #[arg(long, env = "BATON_HTTP_TLS_CERT", requires = "http_tls_key")]
    pub http_tls_cert: Option<PathBuf>,

    /// HTTPS private key (PEM) for the REST API.
    #[arg(long, env = "BATON_HTTP_TLS_KEY", requires = "http_tls_cert")]
    pub http_tls_key: Option<PathBuf>,

    /// The lowest TLS version the REST API's and the broker's listeners accept. Their
    /// certificates are reloaded on SIGHUP and when the files change.
    #[arg(long, value_enum, env = "BATON_TLS_MIN_VERSION", default_value = "1.2")]
    pub tls_min_version: MinTlsVersion,

    /// TLS certificate (PEM) of the built-in broker; with --grpc-tls-key.
    #[arg(long, env = "BATON_GRPC_TLS_CERT", requires = "grpc_tls_key")]
    pub grpc_tls_cert: Option<PathBuf>,

    /// TLS private key (PEM) of the built-in broker.
    #[arg(long, env = "BATON_GRPC_TLS_KEY", requires = "grpc_tls_cert")]
    pub grpc_tls_key: Option<PathBuf>,

    /// CA (PEM) of agents' client certificates: turns on mTLS authentication at the broker.
    #[arg(long, env = "BATON_GRPC_CLIENT_CA", requires = "grpc_tls_cert")]
    pub grpc_client_ca: Option<PathBuf>,

    /// Broker token file (tokens: [{token, user, groups}], see docs/broker.md).
    #[arg(long, env = "BATON_GRPC_TOKEN_FILE")]
    pub grpc_token_file: Option<PathBuf>,

    /// Agent statuses written to the database at once (each resource's in arrival order).
    #[arg(long, env = "BATON_STATUS_WRITERS", default_value_t = 8)]
    pub status_writers: usize,

    /// Give the heap's free pages back to the OS after a burst (a fleet connecting or
    /// resyncing at once), so the resident size does not stay at the burst's peak.
    #[arg(long, env = "BATON_HEAP_TRIM", default_value_t = true, action = clap::ArgAction::Set)]
    pub heap_trim: bool,

    /// How often the hub asks every agent for status it may have missed, Go syntax (5m, 30s);
    /// 0 turns the safety net off (resyncs on every reconnection still happen).
    #[arg(long, env = "BATON_STATUS_RESYNC_INTERVAL", default_value = "5m", value_parser = go_duration)]
    pub status_resync_interval: Duration,

    /// Publish a spec again when no agent has reported on it this long after its last change,
    /// Go syntax (30s, 2m); 0 turns it off. Covers specs lost on their way to an agent.
    #[arg(long, env = "BATON_REDELIVER_AFTER", default_value = "30s", value_parser = go_duration)]
    pub redeliver_after: Duration,

    /// Optional publish throttle in events/s (burst: twice that). Off by default.
    #[arg(long, env = "BATON_PUBLISH_RATE_LIMIT")]
    pub publish_rate_limit: Option<f64>,

    /// How long the change feed keeps changes, Go syntax (30m, 24h): a watch can resume from a
    /// position this old; older ones get 410 Gone.
    #[arg(long, env = "BATON_CHANGE_RETENTION", default_value = "1h", value_parser = go_duration)]
    pub change_retention: Duration,

    /// A consumer with a resource its agent has not reported on for this long is unhealthy
    /// (`healthy` in its view, `GET /api/v1/consumers?healthy=false`), Go syntax (90s, 10m).
    #[arg(long, env = "BATON_UNHEALTHY_PENDING_AFTER", default_value = "5m", value_parser = go_duration)]
    pub unhealthy_pending_after: Duration,
    /// Also serve the gRPC source API on this address: Maestro's `CloudEventService` for
    /// sources (sdk-go's ManifestWork source client, docs/maestro.md). Off without it. It takes
    /// the broker's --grpc-tls-cert, --grpc-tls-key, --grpc-client-ca and --grpc-token-file.
    #[arg(long, env = "BATON_SOURCE_GRPC_ADDR")]
    pub source_grpc_addr: Option<SocketAddr>,
}

fn go_duration(text: &str) -> Result<Duration, String> {
    crate::cloudevents::transport::go_duration::parse_go_duration(text).map_err(|e| e.to_string())
}

/// Why `baton serve`'s flags do not make a configuration. Each message starts with the flag.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    ApiAuth(#[from] AuthConfigError),
    #[error(transparent)]
    HttpTls(#[from] TlsError),
    #[error("{0}")]
    DatabaseUrl(#[source] StoreError),
    #[error("--db-max-connections (BATON_DB_MAX_CONNECTIONS) must be at least 1")]
    NoDbConnections,
    #[error("--mqtt-config (BATON_MQTT_CONFIG) is required with --transport=mqtt")]
    MissingMqttConfig,
    #[error("--mqtt-config {path}: {source}")]
    MqttConfig {
        path: PathBuf,
        #[source]
        source: MqttConfigError,
    },
    #[error("--grpc-tls-cert / --grpc-tls-key / --grpc-client-ca: {0}")]
    GrpcTls(#[source] BrokerError),
    #[error("--grpc-token-file {path}: {source}")]
    GrpcTokenFile {
        path: PathBuf,
        #[source]
        source: BrokerError,
    },
    #[error(
        "--http-addr and --grpc-addr are both {0}: the REST API and the broker need a port each"
    )]
    SameAddr(SocketAddr),
    #[error(
        "--source-grpc-addr {0} is also the address of --http-addr or --grpc-addr: each listener needs a port"
    )]
    SourceApiAddr(SocketAddr),
    #[error(
        "--source-id (BATON_SOURCE_ID) must be non-empty, without whitespace, '/', '+' or '#' \
         (it is an MQTT topic segment), got {0:?}"
    )]
    SourceId(String),
    #[error(
        "--metrics-addr {0} is taken by --http-addr or --grpc-addr: /metrics needs a port of its own"
    )]
    MetricsAddr(SocketAddr),
    #[error("--status-writers (BATON_STATUS_WRITERS) must be at least 1")]
    NoStatusWriters,
    #[error(
        "--publish-rate-limit (BATON_PUBLISH_RATE_LIMIT) must be a positive number of events/s, got {0}"
    )]
    RateLimit(f64),
    #[error("--change-retention (BATON_CHANGE_RETENTION) must be more than 0")]
    NoChangeRetention,
}

/// Where the hub keeps its data: the database `url` names, or SQLite in `data_dir`.
#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// A supported URL (checked), or `None` for the embedded SQLite database.
    pub url: Option<SecretString>,
    pub data_dir: PathBuf,
    pub max_connections: u32,
}

impl DatabaseConfig {
    /// Checks the URL's scheme (an empty URL counts as none, as `store::open` reads it).
    pub fn new(
        url: Option<SecretString>,
        data_dir: PathBuf,
        max_connections: u32,
    ) -> Result<Self, ConfigError> {
        let url = url.filter(|url| !url.expose_secret().trim().is_empty());
        if let Some(url) = &url {
            store::check_url(url.expose_secret().trim()).map_err(ConfigError::DatabaseUrl)?;
        }
        if max_connections == 0 {
            return Err(ConfigError::NoDbConnections);
        }
        Ok(Self {
            url,
            data_dir,
            max_connections,
        })
    }
}

/// How specs reach agents.
#[derive(Debug, Clone)]
pub enum TransportConfig {
    /// The built-in broker, listening on `addr`.
    Grpc {
        addr: SocketAddr,
        broker: BrokerConfig,
    },
    /// An external MQTT broker.
    Mqtt(MqttConfig),
}

/// Everything `baton serve` runs with, checked.
pub struct HubConfig {
    pub http_addr: SocketAddr,
    /// `/metrics` on its own listener; `None`: on the API's port.
    pub metrics_addr: Option<SocketAddr>,
    /// HTTPS for the REST API; `None` = plain HTTP.
    pub http_tls: Option<HttpTls>,
    /// The REST API's credentials; `None` = the API is open.
    pub api_tokens: Option<Arc<ApiAuth>>,
    pub database: DatabaseConfig,
    pub transport: TransportConfig,
    /// The gRPC source API's address and settings, when it is on.
    pub source_api: Option<(SocketAddr, SourceApiConfig)>,
    /// Give freed heap back to the OS after a burst (`hub::heap_trim`).
    pub heap_trim: bool,
    /// The source client's behaviour, source id included.
    pub hub: HubOptions,
    /// This replica's name among the hubs on one database (docs/ha.md).
    pub instance: InstanceId,
}

impl std::fmt::Debug for HubConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the tokens, keys or the database password.
        f.debug_struct("HubConfig")
            .field("http_addr", &self.http_addr)
            .field("metrics_addr", &self.metrics_addr)
            .field("https", &self.http_tls.is_some())
            .field("api_auth", &self.api_tokens)
            .field("database", &self.database)
            .field("transport", &self.transport)
            .field("source_api", &self.source_api)
            .field("heap_trim", &self.heap_trim)
            .field("hub", &self.hub)
            .field("instance", &self.instance)
            .finish()
    }
}

impl TryFrom<ServeArgs> for HubConfig {
    type Error = ConfigError;

    fn try_from(args: ServeArgs) -> Result<Self, ConfigError> {
        let api_tokens = api_auth(&args)?;
        let http_tls = match (&args.http_tls_cert, &args.http_tls_key) {
            (Some(cert), Some(key)) => {
                Some(super::tls::server_config(cert, key, args.tls_min_version)?)
            }
            _ => None,
        };
        let database =
            DatabaseConfig::new(args.database_url, args.data_dir, args.db_max_connections)?;
        let instance = args.instance_id.unwrap_or_else(InstanceId::random);
        let source_api = args
            .source_grpc_addr
            .map(|addr| {
                let taken = [args.http_addr, args.grpc_addr];
                if addr.port() != 0 && taken.contains(&addr) {
                    return Err(ConfigError::SourceApiAddr(addr));
                }
                let server = broker_config(
                    args.grpc_tls_cert
                        .as_deref()
                        .zip(args.grpc_tls_key.as_deref()),
                    args.grpc_client_ca.as_deref(),
                    args.grpc_token_file.as_deref(),
                    args.tls_min_version,
                )?;
                Ok((
                    addr,
                    SourceApiConfig {
                        tls: server.tls,
                        tokens: server.tokens,
                        heartbeat: Some(super::source_api::HEARTBEAT),
                    },
                ))
            })
            .transpose()?;
        let transport = match args.transport {
            TransportKind::Grpc => {
                if args.http_addr == args.grpc_addr && args.http_addr.port() != 0 {
                    return Err(ConfigError::SameAddr(args.http_addr));
                }
                TransportConfig::Grpc {
                    addr: args.grpc_addr,
                    broker: broker_config(
                        args.grpc_tls_cert
                            .as_deref()
                            .zip(args.grpc_tls_key.as_deref()),
                        args.grpc_client_ca.as_deref(),
                        args.grpc_token_file.as_deref(),
                        args.tls_min_version,
                    )?,
                }
            }
            TransportKind::Mqtt => {
                let path = args.mqtt_config.ok_or(ConfigError::MissingMqttConfig)?;
                let mut config = MqttConfig::load(&path)
                    .map_err(|source| ConfigError::MqttConfig { path, source })?;
                config.client_id = Some(instance.mqtt_client_id(
                    args.mqtt_client_id.as_deref(),
                    config.client_id.as_deref(),
                    &args.source_id,
                ));
                TransportConfig::Mqtt(config)
            }
        };
        if !valid_source_id(&args.source_id) {
            return Err(ConfigError::SourceId(args.source_id));
        }
        if args.status_writers == 0 {
            return Err(ConfigError::NoStatusWriters);
        }
        if args.change_retention.is_zero() {
            return Err(ConfigError::NoChangeRetention);
        }
        let rate_limit = match args.publish_rate_limit {
            Some(qps) if !(qps.is_finite() && qps > 0.0) => {
                return Err(ConfigError::RateLimit(qps));
            }
            // Burst: twice the rate, at least one event.
            Some(qps) => Some((qps, (qps * 2.0).ceil().max(1.0) as u32)),
            None => None,
        };
        // 0 turns a periodic safety net off.
        let nonzero = |d: Duration| (!d.is_zero()).then_some(d);
        if let Some(metrics) = args.metrics_addr
            && metrics.port() != 0
            && (metrics == args.http_addr
                || (args.transport == TransportKind::Grpc && metrics == args.grpc_addr))
        {
            return Err(ConfigError::MetricsAddr(metrics));
        }
        Ok(Self {
            http_addr: args.http_addr,
            metrics_addr: args.metrics_addr,
            http_tls,
            api_tokens,
            database,
            transport,
            source_api,
            heap_trim: args.heap_trim,
            hub: HubOptions {
                source_id: args.source_id,
                rate_limit,
                publisher: PublisherConfig::default(),
                status_writers: args.status_writers,
                status_resync_every: nonzero(args.status_resync_interval),
                redeliver_unreported_after: nonzero(args.redeliver_after),
                replica: None,
                lease: None,
                watch: super::watch::WatchConfig {
                    retention: args.change_retention,
                    unhealthy_pending_after: args.unhealthy_pending_after,
                },
            },
            instance,
        })
    }
}

/// A source id is the second segment of the hub's MQTT topics (`sources/<id>/...`, §7.3).
fn valid_source_id(id: &str) -> bool {
    !id.is_empty()
        && !id
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '/' | '+' | '#'))
}

/// The built-in broker's configuration: TLS (`cert`, `key`), mTLS and the token file.
fn broker_config(
    tls: Option<(&Path, &Path)>,
    client_ca: Option<&Path>,
    token_file: Option<&Path>,
    min_version: MinTlsVersion,
) -> Result<BrokerConfig, ConfigError> {
    let flags = ("--grpc-tls-cert", "--grpc-tls-key");
    let tls = tls
        .map(|(cert, key)| {
            ServerTls::from_files(cert, key, client_ca, flags)
                .map(|tls| ServerTls { min_version, ..tls })
        })
        .transpose()
        .map_err(ConfigError::GrpcTls)?;
    let tokens = token_file
        .map(|path| {
            TokenTable::load(path).map_err(|source| ConfigError::GrpcTokenFile {
                path: path.to_owned(),
                source,
            })
        })
        .transpose()?;
    Ok(BrokerConfig {
        tls,
        tokens,
        ..BrokerConfig::default()
    })
}

/// The REST API's credentials from --api-token-file and --api-jwks-file; `None`: open.
fn api_auth(args: &ServeArgs) -> Result<Option<Arc<ApiAuth>>, ConfigError> {
    let tokens = args
        .api_token_file
        .as_deref()
        .map(auth::load_token_file)
        .transpose()?;
    let jwt = args
        .api_jwks_file
        .as_ref()
        .map(|jwks_file| {
            JwtVerifier::load(&JwtSettings {
                jwks_file: jwks_file.clone(),
                issuer: args.api_jwt_issuer.clone().unwrap_or_default(),
                audience: args.api_jwt_audience.clone().unwrap_or_default(),
                role_claim: args.api_jwt_role_claim.clone(),
                scope_claim: args.api_jwt_scope_claim.clone(),
            })
        })
        .transpose()?;
    if tokens.is_none() && jwt.is_none() {
        return Ok(None);
    }
    Ok(Some(Arc::new(ApiAuth {
        tokens: tokens.unwrap_or_default(),
        jwt,
    })))
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
