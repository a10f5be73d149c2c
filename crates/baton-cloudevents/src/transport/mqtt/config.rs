//! The MQTT config file sdk-go and Maestro read (`mqtt.BuildMQTTOptionsFromFlags`, docs/protocol.md
//! §7.2): YAML (or JSON), camelCase keys, sdk-go's defaults and checks, plus baton's `clientId`.
//! Unknown keys are ignored as sdk-go does, but logged and kept in
//! [`MqttConfig::unknown_keys`]. Parsed once into [`MqttConfig`]; the password never appears
//! in `Debug` or in an error.

use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Deserializer};

use super::tls::{TlsError, TlsSettings};
use super::topics::{InvalidTopics, Topics};
use crate::transport::config_file;
use crate::transport::credentials::{self, PemError};
use crate::transport::go_duration::{InvalidDuration, RawDuration};

/// The smallest keep alive rumqttc accepts (it panics below 5 s).
const MIN_KEEP_ALIVE: u16 = 5;

/// Why a config file was refused. Messages name the offending key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("reading MQTT config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A `*Data`/`*File` item could not be read.
    #[error(transparent)]
    Pem(#[from] PemError),
    /// The file is not valid YAML or JSON for this config.
    #[error("parsing MQTT config: {0}")]
    Parse(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// `brokerHost` is missing.
    #[error("brokerHost is required")]
    MissingBrokerHost,
    /// `brokerHost` is not `host:port`.
    #[error("brokerHost {0:?} must be host:port")]
    BadBrokerHost(String),
    #[error(
        "clientCertFile/clientCertData is set but clientKeyFile/clientKeyData is not: set both or neither"
    )]
    /// A client certificate without its key.
    CertWithoutKey,
    #[error(
        "clientKeyFile/clientKeyData is set but clientCertFile/clientCertData is not: set both or neither"
    )]
    /// A client key without its certificate.
    KeyWithoutCert,
    /// `keepAlive` is too short.
    #[error("keepAlive {0} is below the {MIN_KEEP_ALIVE} s minimum baton's MQTT client supports")]
    KeepAlive(u16),
    /// `dialTimeout` is not a duration.
    #[error("dialTimeout: {0}")]
    DialTimeout(#[from] InvalidDuration),
    #[error("{key} must be 0, 1 or 2, got {value}")]
    /// A QoS other than 0, 1 or 2.
    Qos {
        /// `pubQoS` or `subQoS`.
        key: &'static str,
        /// The value given.
        value: i64,
    },
    /// `topics` is missing.
    #[error("the topics must be set")]
    MissingTopics,
    /// Some topics do not match sdk-go's patterns.
    #[error("{0}")]
    Topics(#[from] InvalidTopics),
    /// The TLS material is unusable.
    #[error("{0}")]
    Tls(#[from] TlsError),
}

/// `host:port` of the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerAddress {
    /// Host name or IP address.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl std::fmt::Display for BrokerAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl std::str::FromStr for BrokerAddress {
    type Err = ConfigError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || ConfigError::BadBrokerHost(text.to_owned());
        let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if host.is_empty() {
            return Err(bad());
        }
        Ok(Self {
            host: host.to_owned(),
            port: port.parse().map_err(|_| bad())?,
        })
    }
}

/// A checked MQTT configuration (§7.2).
#[derive(Debug, Clone)]
pub struct MqttConfig {
    /// Where the broker listens.
    pub broker: BrokerAddress,
    /// The MQTT user name, if any.
    pub username: Option<String>,
    /// The MQTT password, if any; never printed.
    pub password: Option<SecretString>,
    /// `None`: plain TCP. See [`super::tls`] for when TLS is on.
    pub tls: Option<TlsSettings>,
    /// MQTT keep-alive interval (`keepAlive`, default 60 s).
    pub keep_alive: Duration,
    /// How long a connection attempt may take (`dialTimeout`).
    pub dial_timeout: Duration,
    /// QoS of published events (`pubQoS`, default 1).
    pub pub_qos: Qos,
    /// QoS of the subscriptions (`subQoS`, default 1).
    pub sub_qos: Qos,
    /// The topics of §7.2.
    pub topics: Topics,
    /// `clientId`: the MQTT client id of a source (hub replica); see
    /// [`super::MqttTransportBuilder::client_id`]. Agents ignore it (one file serves many).
    pub client_id: Option<String>,
    /// Keys of the file that baton does not know (dotted paths), already logged as warnings.
    pub unknown_keys: Vec<String>,
}

impl MqttConfig {
    /// Loads a config file; relative `*File` paths are read as given (relative to the working
    /// directory), as sdk-go does.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_yaml(&text)
    }

    /// Parses the config file's text (YAML or JSON).
    pub fn from_yaml(text: &str) -> Result<Self, ConfigError> {
        let (raw, unknown_keys) = config_file::parse::<RawConfig>(text)
            .map_err(|err| ConfigError::Parse(Box::new(err)))?;
        config_file::warn_unknown("MQTT", &unknown_keys);
        let mut config = raw.check()?;
        config.unknown_keys = unknown_keys;
        Ok(config)
    }
}

/// The file as written; every field optional so that checks can name what is missing.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct RawConfig {
    broker_host: Option<String>,
    #[serde(deserialize_with = "scalar_text")]
    username: Option<String>,
    #[serde(deserialize_with = "scalar_text")]
    password: Option<String>,
    ca_file: Option<PathBuf>,
    ca_data: Option<String>,
    client_cert_file: Option<PathBuf>,
    client_cert_data: Option<String>,
    client_key_file: Option<PathBuf>,
    client_key_data: Option<String>,
    keep_alive: Option<u16>,
    dial_timeout: Option<RawDuration>,
    #[serde(rename = "pubQoS")]
    pub_qos: Option<i64>,
    #[serde(rename = "subQoS")]
    sub_qos: Option<i64>,
    topics: Option<RawTopics>,
    client_id: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct RawTopics {
    source_events: String,
    agent_events: String,
    source_broadcast: Option<String>,
    agent_broadcast: Option<String>,
}

/// Any YAML scalar as its text, as yaml.v2 fills a Go string; the value itself never reaches an
/// error message (it may be a password).
fn scalar_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    use serde_yaml_ng::Value;
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        _ => Err(serde::de::Error::custom(
            "username and password must be plain strings",
        )),
    }
}

impl RawConfig {
    fn check(self) -> Result<MqttConfig, ConfigError> {
        let broker: BrokerAddress = match self.broker_host.as_deref() {
            None | Some("") => return Err(ConfigError::MissingBrokerHost),
            Some(host) => host.parse()?,
        };
        let pem = |keys, data: &Option<String>, file: &Option<PathBuf>| {
            credentials::load(keys, data.as_deref(), file.as_deref())
        };
        let ca = pem(credentials::CA, &self.ca_data, &self.ca_file)?;
        let cert = pem(
            credentials::CLIENT_CERT,
            &self.client_cert_data,
            &self.client_cert_file,
        )?;
        let key = pem(
            credentials::CLIENT_KEY,
            &self.client_key_data,
            &self.client_key_file,
        )?;
        let client = match (&cert, &key) {
            (Some(cert), Some(key)) => Some((cert.as_slice(), key.as_slice())),
            (Some(_), None) => return Err(ConfigError::CertWithoutKey),
            (None, Some(_)) => return Err(ConfigError::KeyWithoutCert),
            (None, None) => None,
        };
        let tls = TlsSettings::from_pem(ca.as_deref(), client)?;
        let keep_alive = self.keep_alive.unwrap_or(60);
        if keep_alive < MIN_KEEP_ALIVE {
            return Err(ConfigError::KeepAlive(keep_alive));
        }
        let dial_timeout = match self.dial_timeout {
            None => Duration::from_secs(60),
            Some(raw) => raw.parse()?,
        };
        let topics = self.topics.ok_or(ConfigError::MissingTopics)?;
        let topics = Topics::new(
            topics.source_events,
            topics.agent_events,
            topics.source_broadcast,
            topics.agent_broadcast,
        )?;
        Ok(MqttConfig {
            broker,
            username: self.username.filter(|u| !u.is_empty()),
            password: self.password.filter(|p| !p.is_empty()).map(Into::into),
            tls,
            keep_alive: Duration::from_secs(keep_alive.into()),
            dial_timeout,
            pub_qos: qos("pubQoS", self.pub_qos)?,
            sub_qos: qos("subQoS", self.sub_qos)?,
            topics,
            client_id: self.client_id.filter(|id| !id.trim().is_empty()),
            unknown_keys: Vec::new(),
        })
    }
}

/// An MQTT quality of service, as the config file's `pubQoS` and `subQoS` numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Qos {
    /// 0: sent once, never acknowledged.
    AtMostOnce = 0,
    /// 1: acknowledged by the broker (PUBACK), possibly delivered twice.
    AtLeastOnce = 1,
    /// 2: delivered exactly once (PUBREC/PUBREL/PUBCOMP).
    ExactlyOnce = 2,
}

impl Qos {
    /// rumqttc's value, kept out of the public API.
    pub(crate) fn to_rumqttc(self) -> rumqttc::v5::mqttbytes::QoS {
        use rumqttc::v5::mqttbytes::QoS;
        match self {
            Self::AtMostOnce => QoS::AtMostOnce,
            Self::AtLeastOnce => QoS::AtLeastOnce,
            Self::ExactlyOnce => QoS::ExactlyOnce,
        }
    }
}

fn qos(key: &'static str, value: Option<i64>) -> Result<Qos, ConfigError> {
    match value.unwrap_or(1) {
        0 => Ok(Qos::AtMostOnce),
        1 => Ok(Qos::AtLeastOnce),
        2 => Ok(Qos::ExactlyOnce),
        value => Err(ConfigError::Qos { key, value }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as BASE64;
    use secrecy::ExposeSecret;

    const TOPICS: &str = "topics:
  sourceEvents: sources/maestro/consumers/+/sourceevents
  agentEvents: sources/maestro/consumers/+/agentevents
";

    #[test]
    fn defaults_follow_sdk_go() {
        let config =
            MqttConfig::from_yaml(&format!("brokerHost: 127.0.0.1:1883\n{TOPICS}")).unwrap();
        assert_eq!(config.keep_alive, Duration::from_secs(60));
        assert_eq!(config.dial_timeout, Duration::from_secs(60));
        assert_eq!(config.pub_qos, Qos::AtLeastOnce);
        assert_eq!(config.sub_qos, Qos::AtLeastOnce);
        assert!(config.tls.is_none() && config.username.is_none());
        assert_eq!(config.topics.source_broadcast(), None);
        assert_eq!(config.client_id, None);
        assert!(config.unknown_keys.is_empty());
    }

    #[test]
    fn client_id_is_read_and_unknown_keys_are_named() {
        let text = format!(
            "brokerHost: h:1\nclientId: hub-a\nclientID: typo\n{TOPICS}  agentEvent: typo\n"
        );
        let config = MqttConfig::from_yaml(&text).unwrap();
        assert_eq!(config.client_id.as_deref(), Some("hub-a"));
        assert_eq!(config.unknown_keys, ["clientID", "topics.agentEvent"]);
    }

    #[test]
    fn reads_every_key_and_hides_the_password() {
        let text = format!(
            "brokerHost: \"[::1]:8883\"\nusername: maestro\npassword: 12345\nkeepAlive: 30\n\
             dialTimeout: 1m30s\npubQoS: 0\nsubQoS: 2\nunknownKey: whatever\n{TOPICS}"
        );
        let config = MqttConfig::from_yaml(&text).unwrap();
        assert_eq!(config.broker.host, "::1");
        assert_eq!(config.broker.to_string(), "[::1]:8883");
        assert_eq!(config.password.as_ref().unwrap().expose_secret(), "12345");
        assert!(!format!("{config:?}").contains("12345"));
        assert_eq!(config.dial_timeout, Duration::from_secs(90));
        assert_eq!(config.pub_qos, Qos::AtMostOnce);
        assert_eq!(config.sub_qos, Qos::ExactlyOnce);
        let nanos = format!("brokerHost: h:1\ndialTimeout: 2000000000\n{TOPICS}");
        assert_eq!(
            MqttConfig::from_yaml(&nanos).unwrap().dial_timeout,
            Duration::from_secs(2)
        );
    }

    #[test]
    fn json_works_too() {
        let json = r#"{"brokerHost":"h:1","topics":{"sourceEvents":"sources/s/consumers/+/sourceevents","agentEvents":"sources/s/consumers/+/agentevents"}}"#;
        assert!(MqttConfig::from_yaml(json).is_ok());
    }

    fn error_of(text: &str) -> String {
        MqttConfig::from_yaml(text).unwrap_err().to_string()
    }

    #[test]
    fn errors_name_the_bad_key() {
        assert_eq!(error_of(TOPICS), "brokerHost is required");
        assert_eq!(error_of("brokerHost: h:1\n"), "the topics must be set");
        assert!(error_of(&format!("brokerHost: nohost\n{TOPICS}")).contains("brokerHost"));
        assert!(
            error_of(&format!("brokerHost: h:1\nkeepAlive: 0\n{TOPICS}")).contains("keepAlive")
        );
        assert!(error_of(&format!("brokerHost: h:1\npubQoS: 3\n{TOPICS}")).contains("pubQoS"));
        assert!(
            error_of(&format!("brokerHost: h:1\ndialTimeout: soon\n{TOPICS}"))
                .contains("dialTimeout")
        );
        assert!(error_of(&format!("brokerHost: h:1\ncaData: '!!'\n{TOPICS}")).contains("caData"));
        assert!(
            error_of(&format!(
                "brokerHost: h:1\ncaFile: /nonexistent/ca.pem\n{TOPICS}"
            ))
            .starts_with("caFile: reading /nonexistent/ca.pem")
        );
        let cert = BASE64.encode("-----BEGIN CERTIFICATE-----\n");
        assert!(
            error_of(&format!(
                "brokerHost: h:1\nclientCertData: {cert}\n{TOPICS}"
            ))
            .starts_with("clientCertFile/clientCertData is set but clientKeyFile")
        );
        let bad_topic = "brokerHost: h:1\ntopics:\n  sourceEvents: a/b\n  agentEvents: sources/maestro/consumers/+/agentevents\n";
        assert!(
            error_of(bad_topic)
                .contains("invalid source events topic \"a/b\" (topics.sourceEvents)")
        );
    }
}
