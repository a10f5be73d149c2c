//! Config files (§7.2, §7.3, C17): the examples of `docs/mqtt.md` and sdk-go's vector configs
//! load; each invalid file fails with a message naming what is wrong.

use std::path::{Path, PathBuf};

use baton::cloudevents::transport::mqtt::{MqttConfig, MqttError, MqttTransport};
use baton::cloudevents::transport::{Transport, TransportRole};
use tempfile::TempDir;

use crate::support::vector_path;

const DOCS_PATH: &str = "/etc/baton/mqtt/";

/// The ```yaml blocks of docs/mqtt.md, with their certificate paths moved into `dir`.
fn documented_examples(dir: &Path) -> Vec<String> {
    let docs =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/mqtt.md"))
            .expect("docs/mqtt.md");
    docs.split("```yaml\n")
        .skip(1)
        .map(|block| block.split("```").next().unwrap_or_default())
        .map(|block| block.replace(DOCS_PATH, &format!("{}/", dir.display())))
        .collect()
}

/// Writes a CA and client certificates under the names the documented examples use.
fn certificates() -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    let ca = rcgen::generate_simple_self_signed(vec!["ca".into()]).unwrap();
    std::fs::write(dir.path().join("ca.crt"), ca.cert.pem()).unwrap();
    for name in ["hub", "cluster1"] {
        let leaf = rcgen::generate_simple_self_signed(vec![name.into()]).unwrap();
        std::fs::write(dir.path().join(format!("{name}.crt")), leaf.cert.pem()).unwrap();
        std::fs::write(
            dir.path().join(format!("{name}.key")),
            leaf.signing_key.serialize_pem(),
        )
        .unwrap();
    }
    dir
}

#[tokio::test]
async fn documented_and_sdk_go_examples_load() {
    let dir = certificates();
    let examples = documented_examples(dir.path());
    assert_eq!(examples.len(), 2, "a hub and an agent example");
    // Built transports start connecting at once: keep that on loopback.
    let examples: Vec<String> = examples
        .iter()
        .map(|e| e.replace("mqtt.example.com:8883", "127.0.0.1:1"))
        .collect();
    let hub = MqttConfig::from_yaml(&examples[0]).expect("hub example loads");
    assert!(hub.tls.as_ref().is_some_and(|t| t.has_client_certificate()));
    assert_eq!(hub.dial_timeout.as_secs(), 30);
    let agent = MqttConfig::from_yaml(&examples[1]).expect("agent example loads");
    // Both build for their roles (the hub's source id is its topics' source segment).
    for (config, role) in [
        (hub, TransportRole::source("baton")),
        (agent, TransportRole::agent("cluster1")),
    ] {
        let transport = MqttTransport::builder(config, role)
            .build()
            .expect("builds");
        transport.close().await;
    }
    for version in ["v1.0.0", "v1.3.0"] {
        for side in ["source", "agent"] {
            MqttConfig::load(vector_path(&format!("{version}/mqtt/{side}-config.yaml")))
                .unwrap_or_else(|e| panic!("{version} {side}: {e}"));
        }
    }
}

fn load_error(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    MqttConfig::load(&path).expect_err(name).to_string()
}

const TOPICS: &str = "topics:
  sourceEvents: sources/maestro/consumers/+/sourceevents
  agentEvents: sources/maestro/consumers/+/agentevents
";

#[test]
fn invalid_files_fail_with_the_right_message() {
    let certs = certificates();
    let dir = certs.path();
    let cert = dir.join("hub.crt");
    let key = dir.join("hub.key");
    let cases = [
        ("missing-broker.yaml", TOPICS.to_owned(), "brokerHost is required".to_owned()),
        (
            "bad-topic.yaml",
            "brokerHost: 127.0.0.1:1883\ntopics:\n  sourceEvents: sources/maestro/clusters/+/spec\n  \
             agentEvents: sources/maestro/consumers/+/agentevents\n"
                .to_owned(),
            "invalid source events topic \"sources/maestro/clusters/+/spec\" (topics.sourceEvents)".to_owned(),
        ),
        (
            "bad-broadcast.yaml",
            format!("brokerHost: 127.0.0.1:1883\n{TOPICS}  agentBroadcast: consumers/+/+/agentbroadcast\n"),
            "invalid agent broadcast topic \"consumers/+/+/agentbroadcast\" (topics.agentBroadcast)".to_owned(),
        ),
        (
            "cert-without-key.yaml",
            format!("brokerHost: 127.0.0.1:8883\nclientCertFile: {}\n{TOPICS}", cert.display()),
            "clientCertFile/clientCertData is set but clientKeyFile/clientKeyData is not".to_owned(),
        ),
        (
            "key-without-cert.yaml",
            format!("brokerHost: 127.0.0.1:8883\nclientKeyFile: {}\n{TOPICS}", key.display()),
            "clientKeyFile/clientKeyData is set but clientCertFile/clientCertData is not".to_owned(),
        ),
        (
            "missing-ca-file.yaml",
            format!("brokerHost: 127.0.0.1:8883\ncaFile: {}/nope.crt\n{TOPICS}", dir.display()),
            format!("caFile: reading {}/nope.crt", dir.display()),
        ),
        ("no-topics.yaml", "brokerHost: 127.0.0.1:1883\n".to_owned(), "the topics must be set".to_owned()),
        (
            "bad-timeout.yaml",
            format!("brokerHost: 127.0.0.1:1883\ndialTimeout: -5s\n{TOPICS}"),
            "dialTimeout: \"-5s\" is not a Go duration".to_owned(),
        ),
    ];
    for (name, text, expected) in cases {
        let message = load_error(dir, name, &text);
        assert!(message.contains(&expected), "{name}: {message}");
    }
    // A password is never echoed, even in a file that fails later.
    let message = load_error(dir, "secret.yaml", "password: hunter2\ntopics: {}\n");
    assert!(!message.contains("hunter2"), "{message}");
}

#[tokio::test]
async fn a_source_id_other_than_the_topics_source_is_refused() {
    let config = MqttConfig::from_yaml(&format!("brokerHost: 127.0.0.1:1\n{TOPICS}")).unwrap();
    let err = MqttTransport::builder(config, TransportRole::source("other"))
        .build()
        .expect_err("sdk-go refuses this too");
    assert!(matches!(err, MqttError::Route(_)));
    assert_eq!(
        err.to_string(),
        "the topic source \"maestro\" of topics.agentEvents does not match the source id \"other\""
    );
}
