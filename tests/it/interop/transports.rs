//! One wire for both parties of a scenario: baton's built-in gRPC broker or a private Mosquitto,
//! a baton transport for a role on it, and the sdk-go client config file for the Go side
//! (PROTOCOL.md §7.2, §8.4).

use std::path::PathBuf;
use std::sync::Arc;

use baton::broker::BrokerConfig;
use baton::cloudevents::Transport;
use baton::cloudevents::transport::TransportRole;
use baton::cloudevents::transport::grpc::GrpcTransport;
use baton::cloudevents::transport::mqtt::{MqttConfig, MqttTransport};
use baton::cloudevents::backoff::BackoffPolicy;
use tempfile::TempDir;

use crate::grpc_harness::TestBroker;
use crate::mqtt::broker::Mosquitto;

#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Grpc,
    Mqtt,
}

enum Server {
    Grpc(TestBroker),
    Mqtt(Mosquitto),
}

pub struct Wire {
    server: Server,
    /// Source id the topics are laid out for (MQTT topics name it).
    source_id: String,
    dir: TempDir,
}

impl Wire {
    pub async fn start(kind: Kind, source_id: &str) -> Self {
        let server = match kind {
            Kind::Grpc => Server::Grpc(TestBroker::start(BrokerConfig::default()).await),
            Kind::Mqtt => Server::Mqtt(Mosquitto::start().await),
        };
        Self {
            server,
            source_id: source_id.into(),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// `grpc` or `mqtt`: sdk-go's config type name.
    pub fn config_type(&self) -> &'static str {
        match self.server {
            Server::Grpc(_) => "grpc",
            Server::Mqtt(_) => "mqtt",
        }
    }

    fn mqtt_yaml(&self, host: &str) -> String {
        let s = &self.source_id;
        format!(
            "brokerHost: {host}\ntopics:\n  sourceEvents: sources/{s}/consumers/+/sourceevents\n  \
             agentEvents: sources/{s}/consumers/+/agentevents\n  \
             sourceBroadcast: sources/+/sourcebroadcast\n  agentBroadcast: consumers/+/agentbroadcast\n"
        )
    }

    /// The sdk-go client config file for this wire.
    pub fn go_config(&self) -> PathBuf {
        let text = match &self.server {
            Server::Grpc(broker) => format!("url: {}\n", broker.addr),
            Server::Mqtt(broker) => self.mqtt_yaml(&broker.host()),
        };
        let path = self.dir.path().join("go-config.yaml");
        std::fs::write(&path, text).unwrap();
        path
    }

    /// A baton transport for `role` on this wire.
    pub fn transport(&self, role: TransportRole) -> Arc<dyn Transport> {
        match &self.server {
            Server::Grpc(broker) => Arc::new(GrpcTransport::new(role, broker.options()).unwrap()),
            Server::Mqtt(broker) => {
                let config = MqttConfig::from_yaml(&self.mqtt_yaml(&broker.host())).unwrap();
                Arc::new(
                    MqttTransport::builder(config, role)
                        .backoff(BackoffPolicy::fast())
                        .build()
                        .unwrap(),
                )
            }
        }
    }
}
