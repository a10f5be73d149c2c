//! Broker authentication and authorization over real sockets (docs/protocol.md §8.9 adapted, C26):
//! bearer tokens, mTLS with a test CA made by rcgen, and confinement of each identity to its
//! own cluster or source id.
// Test helpers panic on failure by design.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use baton::broker::auth::{AGENTS_GROUP, SOURCES_GROUP};
use baton::broker::{BrokerConfig, CallerIdentity, ServerTls, TokenTable};
use baton::cloudevents::transport::grpc::proto::cloud_event_service_client::CloudEventServiceClient;
use baton::cloudevents::transport::grpc::proto::{PublishRequest, SubscriptionRequest};
use baton::cloudevents::transport::grpc::{GrpcOptions, TlsOptions, binding};
use baton::cloudevents::{Action, EventBuilder, SubResource};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use secrecy::SecretString;
use tonic::Code;
use tonic::metadata::AsciiMetadataValue;

use crate::grpc_harness::{Agent, Source, TestBroker, WAIT, Widget, event_type, widgets};
use crate::support::eventually;

fn tokens() -> TokenTable {
    let mut table = TokenTable::default();
    let add = |t: &mut TokenTable, token: &str, user: &str, group: &str| {
        t.insert(token.into(), CallerIdentity::new(user, vec![group.into()]))
            .unwrap();
    };
    add(&mut table, "agent-c1", "c1", AGENTS_GROUP);
    add(&mut table, "source-hub", "hub", SOURCES_GROUP);
    table
}

async fn token_broker() -> TestBroker {
    TestBroker::start(BrokerConfig {
        tokens: Some(tokens()),
        ..BrokerConfig::default()
    })
    .await
}

fn with_token(broker: &TestBroker, token: &str) -> GrpcOptions {
    let mut options = broker.options();
    options.token = Some(SecretString::from(token.to_owned()));
    options
}

fn request<T>(message: T, token: Option<&str>) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Some(token) = token {
        let value = AsciiMetadataValue::try_from(format!("Bearer {token}")).unwrap();
        request.metadata_mut().insert("authorization", value);
    }
    request
}

fn subscription(source: &str, cluster: &str) -> SubscriptionRequest {
    SubscriptionRequest {
        source: source.into(),
        cluster_name: cluster.into(),
        data_type: widgets().to_string(),
    }
}

fn status_event(cluster: &str) -> PublishRequest {
    let event = EventBuilder::new(
        "agent",
        &event_type(SubResource::Status, Action::UpdateRequest),
    )
    .cluster_name(cluster)
    .original_source("hub")
    .resource_id("w")
    .resource_version(1)
    .json_data(b"{}".to_vec())
    .build()
    .unwrap();
    PublishRequest {
        event: Some(binding::to_proto(&event).unwrap()),
    }
}

async fn code_of<T>(result: Result<T, tonic::Status>) -> Code {
    match result {
        Ok(_) => Code::Ok,
        Err(status) => status.code(),
    }
}

#[tokio::test]
async fn bad_or_missing_tokens_are_unauthenticated() {
    let broker = token_broker().await;
    let mut client = CloudEventServiceClient::connect(format!("http://{}", broker.addr))
        .await
        .unwrap();
    let bad = client
        .subscribe(request(subscription("", "c1"), Some("nope")))
        .await;
    assert_eq!(code_of(bad).await, Code::Unauthenticated);
    let none = client.publish(request(status_event("c1"), None)).await;
    assert_eq!(code_of(none).await, Code::Unauthenticated);
    assert_eq!(broker.broker.stats().unauthenticated, 2);
}

#[tokio::test]
async fn an_agent_token_is_confined_to_its_cluster() {
    let broker = token_broker().await;
    let mut client = CloudEventServiceClient::connect(format!("http://{}", broker.addr))
        .await
        .unwrap();
    let token = Some("agent-c1");
    let other_cluster = client
        .subscribe(request(subscription("", "c2"), token))
        .await;
    assert_eq!(code_of(other_cluster).await, Code::PermissionDenied);
    let as_source = client
        .subscribe(request(subscription("hub", ""), token))
        .await;
    assert_eq!(code_of(as_source).await, Code::PermissionDenied);
    let foreign_status = client.publish(request(status_event("c2"), token)).await;
    assert_eq!(code_of(foreign_status).await, Code::PermissionDenied);
    let spec = EventBuilder::new("x", &event_type(SubResource::Spec, Action::CreateRequest))
        .cluster_name("c1")
        .build()
        .unwrap();
    let wrong_direction = PublishRequest {
        event: Some(binding::to_proto(&spec).unwrap()),
    };
    assert_eq!(
        code_of(client.publish(request(wrong_direction, token)).await).await,
        Code::PermissionDenied
    );
    assert_eq!(broker.broker.stats().denied, 4);
    let own = client.publish(request(status_event("c1"), token)).await;
    assert_eq!(code_of(own).await, Code::Ok);
    let own_stream = client
        .subscribe(request(subscription("", "c1"), token))
        .await;
    assert_eq!(code_of(own_stream).await, Code::Ok);
}

#[tokio::test]
async fn malformed_events_are_invalid_argument_and_counted() {
    let broker = TestBroker::start(BrokerConfig::default()).await;
    let mut client = CloudEventServiceClient::connect(format!("http://{}", broker.addr))
        .await
        .unwrap();
    let empty = client
        .publish(PublishRequest { event: None })
        .await
        .unwrap_err();
    assert_eq!(empty.code(), Code::InvalidArgument);
    let mut heartbeat = binding::heartbeat();
    heartbeat.source = "x".into();
    let refused = client
        .publish(PublishRequest {
            event: Some(heartbeat),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(
        refused.message().contains("heartbeat"),
        "{}",
        refused.message()
    );
    let no_target = client.subscribe(subscription("", "")).await.unwrap_err();
    assert_eq!(no_target.code(), Code::InvalidArgument);
    assert_eq!(broker.broker.stats().malformed, 3);
}

#[tokio::test]
async fn token_authenticated_source_and_agent_exchange_events() {
    let broker = token_broker().await;
    let source = Source::start(with_token(&broker, "source-hub"), "hub").await;
    let agent = Agent::start(with_token(&broker, "agent-c1"), "c1").await;
    eventually("both subscribed", WAIT, || async {
        broker.broker.subscriber_count() == 2
    })
    .await;
    source
        .send(Action::CreateRequest, Widget::new("w", "c1", 1, "x"))
        .await;
    eventually("agent applies", WAIT, || async {
        agent.store.get("w").is_some()
    })
    .await;
    agent.report("w", "ok").await;
    eventually("source gets status", WAIT, || async {
        source.statuses.get("w").is_some()
    })
    .await;
}

/// A test CA and certificates signed by it.
pub struct Pki {
    pub ca_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Pki {
    pub fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "baton test CA");
        let key = KeyPair::generate().unwrap();
        let ca_pem = params.self_signed(&key).unwrap().pem();
        Self {
            ca_pem,
            issuer: Issuer::new(params, key),
        }
    }

    /// (cert PEM, key PEM) for `names` (SANs), with subject CN and O.
    pub fn issue(&self, names: &[&str], cn: &str, org: Option<&str>) -> (String, String) {
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        if let Some(org) = org {
            params
                .distinguished_name
                .push(DnType::OrganizationName, org);
        }
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

#[tokio::test]
async fn mtls_identities_work_and_are_confined() {
    let pki = Pki::new();
    let (server_cert, server_key) = pki.issue(&["localhost", "127.0.0.1"], "broker", None);
    let dir = tempfile::tempdir().unwrap();
    let (cert_file, key_file) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_file, server_cert).unwrap();
    std::fs::write(&key_file, server_key).unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &pki.ca_pem).unwrap();
    let tls = ServerTls::from_files(&cert_file, &key_file, Some(&ca_file), ("--cert", "--key"));
    let broker = TestBroker::start(BrokerConfig {
        tls: Some(tls.unwrap()),
        ..BrokerConfig::default()
    })
    .await;
    let options = |cn: &str, group: &str| {
        let (cert, key) = pki.issue(&[], cn, Some(group));
        let mut options = broker.options();
        options.url = format!("localhost:{}", broker.addr.port());
        options.tls = Some(TlsOptions {
            ca_pem: pki.ca_pem.clone().into_bytes(),
            identity: Some((cert.into_bytes(), key.into_bytes())),
        });
        options
    };
    let source = Source::start(options("hub", SOURCES_GROUP), "hub").await;
    let agent = Agent::start(options("c1", AGENTS_GROUP), "c1").await;
    eventually("both subscribed over mTLS", WAIT, || async {
        broker.broker.subscriber_count() == 2
    })
    .await;
    source
        .send(Action::CreateRequest, Widget::new("w", "c1", 1, "x"))
        .await;
    eventually("agent applies over mTLS", WAIT, || async {
        agent.store.get("w").is_some()
    })
    .await;

    // The c1 certificate cannot subscribe as c2; its transport keeps retrying, refused each time.
    let intruder = Arc::new(Agent::start(options("c1", AGENTS_GROUP), "c2").await);
    eventually("c2 subscription refused", WAIT, || async {
        broker.broker.stats().denied >= 1
    })
    .await;
    assert!(!broker.broker.connected_clusters().contains("c2"));
    assert_eq!(intruder.transport.stats().subscriptions, 0);

    // No client certificate at all: refused, not allowed.
    let mut anonymous = options("x", "none");
    anonymous.tls.as_mut().unwrap().identity = None;
    let channel = anonymous.endpoint().unwrap().connect().await.unwrap();
    let refused = CloudEventServiceClient::new(channel)
        .subscribe(subscription("", "c1"))
        .await;
    assert_eq!(code_of(refused).await, Code::Unauthenticated);
}
