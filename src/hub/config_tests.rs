//! One test per rule of `HubConfig::try_from`: each bad flag is refused with an error that
//! names it (and never echoes a secret); good flags give the configuration the hub runs with.

use std::io::Write;

use clap::Parser;

use super::*;

#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    serve: ServeArgs,
}

/// `baton serve <args>` as clap parses it, without the process's environment mattering for
/// the flags given here.
fn args(args: &[&str]) -> ServeArgs {
    Cli::try_parse_from(["baton-serve"].iter().chain(args))
        .expect("clap accepts the flags")
        .serve
}

fn checked(flags: &[&str]) -> Result<HubConfig, ConfigError> {
    HubConfig::try_from(args(flags))
}

/// The error's message for `flags`, which must be refused.
fn refused(flags: &[&str]) -> String {
    match checked(flags) {
        Err(err) => err.to_string(),
        Ok(config) => panic!("{flags:?} accepted: {config:?}"),
    }
}

/// A valid MQTT config of the hub (docs/mqtt.md).
const MQTT_CONFIG: &str = "brokerHost: 127.0.0.1:1883
topics:
  sourceEvents: sources/baton/consumers/+/sourceevents
  agentEvents: sources/baton/consumers/+/agentevents
";

fn file_with(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(text.as_bytes()).expect("write temp file");
    file
}

#[test]
fn default_flags_give_the_embedded_database_and_the_built_in_broker() {
    // DATABASE_URL may be set where the tests run: an empty one means none.
    let config = checked(&["--database-url", "", "--data-dir", "/tmp/baton-data"])
        .expect("defaults are valid");
    assert!(config.database.url.is_none());
    assert_eq!(config.database.max_connections, 16);
    assert!(matches!(
        config.transport,
        TransportConfig::Grpc { addr, ref broker } if addr.port() == 8090 && !broker.auth_enabled()
    ));
    assert!(config.api_tokens.is_none() && config.http_tls.is_none());
    assert_eq!(config.hub.source_id, "baton");
    assert_eq!(config.hub.status_writers, 8);
    assert_eq!(config.hub.rate_limit, None);
    assert_eq!(
        config.hub.status_resync_every,
        Some(Duration::from_secs(300))
    );
    assert_eq!(
        config.hub.redeliver_unreported_after,
        Some(Duration::from_secs(30))
    );
}

#[test]
fn a_zero_interval_turns_its_safety_net_off() {
    let config = checked(&["--status-resync-interval", "0", "--redeliver-after", "0s"]).unwrap();
    assert_eq!(config.hub.status_resync_every, None);
    assert_eq!(config.hub.redeliver_unreported_after, None);
}

#[test]
fn the_publish_rate_limit_must_be_positive_and_bursts_twice_the_rate() {
    for bad in ["0", "-1", "NaN", "inf"] {
        let message = refused(&[&format!("--publish-rate-limit={bad}")]);
        assert!(message.starts_with("--publish-rate-limit"), "{message}");
    }
    let config = checked(&["--publish-rate-limit", "2.5"]).unwrap();
    assert_eq!(config.hub.rate_limit, Some((2.5, 5)));
    let config = checked(&["--publish-rate-limit", "0.1"]).unwrap();
    assert_eq!(config.hub.rate_limit, Some((0.1, 1)));
}

#[test]
fn mqtt_needs_a_readable_valid_mqtt_config() {
    let message = refused(&["--transport", "mqtt"]);
    assert!(message.starts_with("--mqtt-config"), "{message}");

    let message = refused(&[
        "--transport",
        "mqtt",
        "--mqtt-config",
        "/nonexistent/mqtt.yaml",
    ]);
    assert!(
        message.starts_with("--mqtt-config /nonexistent/mqtt.yaml"),
        "{message}"
    );

    let bad = file_with("brokerHost: no-port\n");
    let path = bad.path().to_str().unwrap();
    let message = refused(&["--transport", "mqtt", "--mqtt-config", path]);
    assert!(
        message.starts_with(&format!("--mqtt-config {path}")),
        "{message}"
    );

    let good = file_with(MQTT_CONFIG);
    let path = good.path().to_str().unwrap();
    let config = checked(&["--transport", "mqtt", "--mqtt-config", path]).unwrap();
    assert!(matches!(config.transport, TransportConfig::Mqtt(_)));
}

#[test]
fn the_database_url_must_name_a_supported_backend_without_echoing_it() {
    let message = refused(&["--database-url", "mysql://root:hunter2@db/baton"]);
    assert!(message.starts_with("--database-url"), "{message}");
    assert!(message.contains("\"mysql\""), "{message}");
    assert!(!message.contains("hunter2"), "{message}");

    for good in ["postgres://u:p@h/db", "postgresql://h/db", "sqlite://x.db"] {
        let config = checked(&["--database-url", good]).unwrap();
        assert!(config.database.url.is_some(), "{good}");
        assert!(
            !format!("{config:?}").contains("u:p"),
            "the URL is redacted"
        );
    }
    // An empty URL (an unset variable in a compose file) means the embedded database.
    assert!(
        checked(&["--database-url", " "])
            .unwrap()
            .database
            .url
            .is_none()
    );
}

#[test]
fn the_database_needs_at_least_one_connection() {
    let message = refused(&["--db-max-connections", "0"]);
    assert!(message.starts_with("--db-max-connections"), "{message}");
}

#[test]
fn status_writers_must_be_at_least_one() {
    let message = refused(&["--status-writers", "0"]);
    assert!(message.starts_with("--status-writers"), "{message}");
}

#[test]
fn the_source_id_must_fit_in_an_mqtt_topic_segment() {
    for bad in ["", "a/b", "a+", "#", "two words"] {
        let message = refused(&["--source-id", bad]);
        assert!(message.starts_with("--source-id"), "{bad:?}: {message}");
    }
    assert_eq!(
        checked(&["--source-id", "maestro-1.eu"])
            .unwrap()
            .hub
            .source_id,
        "maestro-1.eu"
    );
}

#[test]
fn the_rest_api_and_the_broker_cannot_share_an_address() {
    let same = [
        "--http-addr",
        "127.0.0.1:9000",
        "--grpc-addr",
        "127.0.0.1:9000",
    ];
    let message = refused(&same);
    assert!(
        message.starts_with("--http-addr and --grpc-addr"),
        "{message}"
    );
    // Port 0 asks the OS for a fresh port each: no clash.
    assert!(checked(&["--http-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0"]).is_ok());
    // Over MQTT there is no broker listener.
    let mqtt = file_with(MQTT_CONFIG);
    let path = mqtt.path().to_str().unwrap();
    let mut flags = same.to_vec();
    flags.extend(["--transport", "mqtt", "--mqtt-config", path]);
    assert!(checked(&flags).is_ok());
}

#[test]
fn the_api_token_file_must_exist_and_hold_a_token_which_debug_never_shows() {
    let message = refused(&["--api-token-file", "/nonexistent/tokens"]);
    assert!(
        message.starts_with("--api-token-file /nonexistent/tokens"),
        "{message}"
    );

    let empty = file_with("# no tokens yet\n\n");
    let message = refused(&["--api-token-file", empty.path().to_str().unwrap()]);
    assert!(message.ends_with("no tokens in the file"), "{message}");

    let tokens = file_with("# ops\nsecret-one\n  secret-two  \n");
    let config = checked(&["--api-token-file", tokens.path().to_str().unwrap()]).unwrap();
    let auth = config.api_tokens.as_deref().expect("tokens loaded");
    assert!(auth.authenticate("secret-one").is_some() && auth.authenticate("secret-two").is_some());
    assert_eq!(auth.tokens.len(), 2);
    assert!(!format!("{config:?}").contains("secret"));
}

#[test]
fn https_needs_readable_pem_files() {
    let message = refused(&[
        "--http-tls-cert",
        "/nonexistent/cert.pem",
        "--http-tls-key",
        "/nonexistent/key.pem",
    ]);
    assert!(
        message.starts_with("--http-tls-cert /nonexistent/cert.pem"),
        "{message}"
    );
}

#[test]
fn the_broker_tls_files_must_be_readable() {
    let message = refused(&[
        "--grpc-tls-cert",
        "/nonexistent/cert.pem",
        "--grpc-tls-key",
        "/nonexistent/key.pem",
    ]);
    assert!(message.starts_with("--grpc-tls-cert"), "{message}");
    assert!(message.contains("/nonexistent/cert.pem"), "{message}");
}

#[test]
fn the_broker_token_file_must_parse() {
    let message = refused(&["--grpc-token-file", "/nonexistent/tokens.yaml"]);
    assert!(
        message.starts_with("--grpc-token-file /nonexistent/tokens.yaml"),
        "{message}"
    );

    let bad = file_with("tokens: [{token: '', user: c1}]\n");
    let message = refused(&["--grpc-token-file", bad.path().to_str().unwrap()]);
    assert!(message.contains("empty token"), "{message}");

    let good = file_with("tokens: [{token: t1, user: c1, groups: ['baton:agents']}]\n");
    let config = checked(&["--grpc-token-file", good.path().to_str().unwrap()]).unwrap();
    assert!(
        matches!(config.transport, TransportConfig::Grpc { ref broker, .. } if broker.auth_enabled())
    );
}

#[test]
fn the_source_api_is_off_by_default_and_takes_the_broker_s_tokens() {
    let off = checked(&["--database-url", ""]).expect("defaults are valid");
    assert!(off.source_api.is_none());
    let tokens =
        file_with("tokens:\n  - {token: t1, user: maestro, groups: [\"baton:sources\"]}\n");
    let on = checked(&[
        "--database-url",
        "",
        "--source-grpc-addr",
        "127.0.0.1:8091",
        "--grpc-token-file",
        tokens.path().to_str().unwrap(),
    ])
    .expect("valid");
    let (addr, api) = on.source_api.expect("on");
    assert_eq!(addr.port(), 8091);
    assert!(api.tokens.is_some() && api.tls.is_none());
    let message = refused(&["--database-url", "", "--source-grpc-addr", "127.0.0.1:8000"]);
    assert!(message.contains("--source-grpc-addr"), "{message}");
}

#[test]
fn the_metrics_addr_needs_a_port_of_its_own() {
    let message = refused(&[
        "--http-addr",
        "127.0.0.1:8000",
        "--metrics-addr",
        "127.0.0.1:8000",
    ]);
    assert!(
        message.starts_with("--metrics-addr 127.0.0.1:8000"),
        "{message}"
    );
    let message = refused(&["--metrics-addr", "127.0.0.1:8090"]);
    assert!(message.starts_with("--metrics-addr"), "{message}");
    let config = checked(&["--metrics-addr", "127.0.0.1:9100"]).unwrap();
    assert_eq!(config.metrics_addr, Some("127.0.0.1:9100".parse().unwrap()));
}
