//! TLS to a Mosquitto with a test CA made by rcgen (§7.1): mutual TLS and CA-only work over
//! TLS 1.3; a client trusting another CA is refused with a clear error.

use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use baton::cloudevents::EventBuilder;
use baton::cloudevents::transport::mqtt::MqttError;
use baton::cloudevents::transport::{Inbound, Transport, TransportRole};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

use super::broker::{Mosquitto, write_readable};
use super::fixtures::{LIMIT, data_type, event_type};

/// A CA and, signed by it, a server certificate for 127.0.0.1 and a client certificate.
struct Pki {
    ca: String,
    server: (String, String),
    client: (String, String),
}

fn pki(name: &str) -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, format!("{name} test CA"));
    let ca_key = KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf = |names: Vec<String>, cn: &str| {
        let mut params = CertificateParams::new(names).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    Pki {
        ca: ca.pem(),
        server: leaf(vec!["127.0.0.1".into(), "localhost".into()], "mosquitto"),
        client: leaf(vec![], "maestro"),
    }
}

/// Listener lines for a TLS 1.3 broker with `pki`'s server certificate.
fn tls_listener(pki: &Pki, require_client_certificate: bool) -> impl FnOnce(&Path) -> String {
    let (ca, cert, key) = (pki.ca.clone(), pki.server.0.clone(), pki.server.1.clone());
    move |dir| {
        write_readable(&dir.join("ca.pem"), ca.as_bytes());
        write_readable(&dir.join("server.pem"), cert.as_bytes());
        write_readable(&dir.join("server.key"), key.as_bytes());
        format!(
            "cafile {0}/ca.pem\ncertfile {0}/server.pem\nkeyfile {0}/server.key\n\
             tls_version tlsv1.3\nrequire_certificate {require_client_certificate}\n",
            dir.display()
        )
    }
}

fn b64(pem: &str) -> String {
    BASE64.encode(pem)
}

/// Sends one spec from a source to an agent over the broker: proves the TLS session carries
/// traffic both ways (PUBLISH + PUBACK, SUBSCRIBE + delivery).
async fn spec_goes_through(broker: &Mosquitto, extra: &str) {
    let agent = broker.transport(TransportRole::agent("cluster1"), extra);
    let mut inbound = agent.subscribe(&[data_type()]).await.unwrap();
    let subscribed = tokio::time::timeout(LIMIT, inbound.recv()).await.unwrap();
    assert!(matches!(subscribed, Some(Inbound::Subscribed)));
    let source = broker.transport(TransportRole::source("maestro"), extra);
    source.wait_connected(LIMIT).await.unwrap();
    let spec = EventBuilder::new("maestro", &event_type("spec.create_request"))
        .cluster_name("cluster1")
        .resource_id("r1")
        .resource_version(1)
        .json_data(b"{}".to_vec())
        .build()
        .unwrap();
    source.publish(&spec).await.unwrap();
    let got = tokio::time::timeout(LIMIT, inbound.recv()).await.unwrap();
    assert!(matches!(got, Some(Inbound::Event(_))), "{got:?}");
    source.close().await;
    agent.close().await;
}

#[tokio::test]
async fn mutual_tls_with_the_test_ca_is_accepted() {
    let pki = pki("good");
    let broker = Mosquitto::start_with(tls_listener(&pki, true)).await;
    let extra = format!(
        "caData: {}\nclientCertData: {}\nclientKeyData: {}\n",
        b64(&pki.ca),
        b64(&pki.client.0),
        b64(&pki.client.1)
    );
    spec_goes_through(&broker, &extra).await;
}

#[tokio::test]
async fn a_ca_alone_enables_server_authenticated_tls() {
    let pki = pki("good");
    let broker = Mosquitto::start_with(tls_listener(&pki, false)).await;
    let ca_file = broker.dir().join("ca.pem");
    spec_goes_through(&broker, &format!("caFile: {}\n", ca_file.display())).await;
}

#[tokio::test]
async fn a_broker_certificate_from_another_ca_is_refused_with_a_clear_error() {
    let (good, other) = (pki("good"), pki("other"));
    let broker = Mosquitto::start_with(tls_listener(&good, false)).await;
    let transport = broker.transport(
        TransportRole::source("maestro"),
        &format!("caData: {}\n", b64(&other.ca)),
    );
    let err = transport
        .wait_connected(Duration::from_secs(3))
        .await
        .expect_err("must not connect");
    let MqttError::NotConnected { last_error, .. } = &err else {
        panic!("unexpected {err}");
    };
    assert!(last_error.contains("TLS connection to 127.0.0.1"), "{err}");
    assert!(last_error.contains("UnknownIssuer"), "{err}");
    assert!(last_error.contains("caFile/caData"), "{err}");
    transport.close().await;
}
