//! `baton broker`: the command-line arguments of the stand-alone broker and the function that
//! runs it until the shutdown future it is given resolves (the CLI owns the signals).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::auth::TokenTable;
use super::config::{BrokerConfig, DEFAULT_QUEUE, ServerTls};
use super::{Broker, BrokerError};
use crate::cloudevents::transport::go_duration::parse_go_duration;

/// Arguments of `baton broker` (the long help is on `cli::Command::Broker`).
#[derive(Debug, clap::Args)]
pub struct BrokerArgs {
    /// Address to listen on (sdk-go's broker uses port 8090).
    #[arg(long, default_value = "127.0.0.1:8090", env = "BATON_BROKER_ADDR")]
    pub addr: SocketAddr,

    /// Heartbeat interval on every subscribe stream, Go syntax (10s, 1m); 0 disables.
    #[arg(long, default_value = "10s", value_parser = duration, env = "BATON_BROKER_HEARTBEAT_INTERVAL")]
    pub heartbeat_interval: Duration,

    /// Events queued per agent subscriber (a source gets 64 times this); a subscriber that
    /// falls further behind is disconnected (it reconnects and resyncs).
    #[arg(long, default_value_t = DEFAULT_QUEUE, env = "BATON_BROKER_QUEUE_CAPACITY")]
    pub queue_capacity: usize,

    /// Server certificate (PEM); with --tls-key turns TLS on.
    #[arg(long, requires = "tls_key", env = "BATON_BROKER_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,

    /// Server private key (PEM).
    #[arg(long, requires = "tls_cert", env = "BATON_BROKER_TLS_KEY")]
    pub tls_key: Option<PathBuf>,

    /// The lowest TLS version accepted.
    #[arg(
        long,
        value_enum,
        default_value = "1.2",
        env = "BATON_BROKER_TLS_MIN_VERSION"
    )]
    pub tls_min_version: crate::tls::MinTlsVersion,

    /// CA (PEM) that signs client certificates: turns on mTLS authentication (needs TLS).
    #[arg(long, requires = "tls_cert", env = "BATON_BROKER_CLIENT_CA")]
    pub client_ca: Option<PathBuf>,

    /// YAML file mapping bearer tokens to identities (tokens: [{token, user, groups}]).
    #[arg(long, env = "BATON_BROKER_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
}

fn duration(text: &str) -> Result<Duration, String> {
    parse_go_duration(text).map_err(|e| e.to_string())
}

impl TryFrom<BrokerArgs> for BrokerConfig {
    type Error = BrokerError;

    fn try_from(args: BrokerArgs) -> Result<Self, Self::Error> {
        let tls = match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => {
                let mut tls = ServerTls::from_files(
                    cert,
                    key,
                    args.client_ca.as_deref(),
                    ("--tls-cert", "--tls-key"),
                )?;
                tls.min_version = args.tls_min_version;
                Some(tls)
            }
            (None, None) if args.client_ca.is_some() => {
                return Err(BrokerError::ClientCaWithoutTls);
            }
            (None, None) => None,
            _ => return Err(BrokerError::HalfTls),
        };
        Ok(Self {
            heartbeat_interval: (!args.heartbeat_interval.is_zero())
                .then_some(args.heartbeat_interval),
            queue_capacity: args.queue_capacity,
            source_wait: super::config::DEFAULT_SOURCE_WAIT,
            local_agent_budget: super::budget::DEFAULT_LOCAL_BUDGET,
            park: super::parked::ParkLimits::default(),
            tls,
            tokens: args
                .token_file
                .as_deref()
                .map(TokenTable::load)
                .transpose()?,
            connections: super::conns::ConnLimits::default(),
        })
    }
}

/// Binds, serves until `shutdown` resolves, then drains. The caller owns the signals.
pub async fn run(args: BrokerArgs, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let addr = args.addr;
    let broker = Broker::new(BrokerConfig::try_from(args)?)?;
    let listener = super::listen::bind(addr).map_err(|e| anyhow::anyhow!("binding {addr}: {e}"))?;
    let stop = CancellationToken::new();
    let serving = broker.serve(listener, stop.clone());
    tokio::pin!(serving);
    tokio::select! {
        // Stopped before any shutdown: an error (or a listener that closed).
        served = &mut serving => return Ok(served?),
        () = shutdown => stop.cancel(),
    }
    serving.await?;
    Ok(())
}
