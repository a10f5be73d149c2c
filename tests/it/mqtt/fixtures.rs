//! A small test resource with a JSON codec, an in-memory store that serves as lister, and a
//! handler that records what it is told: enough to drive the generic clients over MQTT.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ::cloudevents::AttributesReader;
use baton::cloudevents::error::CodecError;
use baton::cloudevents::resource::{HashError, handler_fn};
use baton::cloudevents::transport::{Transport, TransportRole};
use baton::cloudevents::{
    AgentClient, Codec, DataType, Event, EventBuilder, EventType, ListError, ListOptions, Lister,
    ResourceAction, ResourceObject, SourceClient,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::broker::Mosquitto;
use crate::support::eventually;

pub const SOURCE: &str = "maestro";
pub const LIMIT: Duration = Duration::from_secs(20);

pub fn data_type() -> DataType {
    DataType::new("io.baton.test", "v1", "things")
}

pub fn event_type(suffix: &str) -> EventType {
    format!("{}.{suffix}", data_type())
        .parse()
        .expect("event type")
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thing {
    pub id: String,
    pub cluster: String,
    pub version: i64,
    pub spec: String,
    pub status: Option<String>,
    #[serde(skip)]
    pub deleting: Option<DateTime<Utc>>,
}

impl Thing {
    pub fn new(id: &str, cluster: &str, version: i64, spec: &str) -> Self {
        Self {
            id: id.into(),
            cluster: cluster.into(),
            version,
            spec: spec.into(),
            status: None,
            deleting: None,
        }
    }

    pub fn with_status(mut self, status: &str) -> Self {
        self.status = Some(status.into());
        self
    }
}

impl ResourceObject for Thing {
    fn resource_id(&self) -> &str {
        &self.id
    }
    fn resource_version(&self) -> i64 {
        self.version
    }
    fn deletion_timestamp(&self) -> Option<DateTime<Utc>> {
        self.deleting
    }
}

/// JSON codec: the whole thing as data; deletes carry only extensions.
pub struct ThingCodec(DataType);

impl ThingCodec {
    pub fn new() -> Self {
        Self(data_type())
    }
}

impl Codec<Thing> for ThingCodec {
    fn data_type(&self) -> &DataType {
        &self.0
    }

    fn encode(&self, source: &str, ty: &EventType, thing: &Thing) -> Result<Event, CodecError> {
        let mut builder = EventBuilder::new(source, ty)
            .cluster_name(&thing.cluster)
            .resource_id(&thing.id)
            .resource_version(thing.version);
        if source != SOURCE {
            builder = builder.original_source(SOURCE);
        }
        builder = match thing.deleting {
            Some(at) => builder.deletion_timestamp(at),
            None => builder
                .json_data(serde_json::to_vec(thing).map_err(|e| CodecError::Invalid(e.into()))?),
        };
        builder.build().map_err(|e| CodecError::Invalid(e.into()))
    }

    fn decode(&self, event: &Event) -> Result<Thing, CodecError> {
        let data = baton::cloudevents::extensions::data_bytes(event).ok_or_else(|| {
            CodecError::Invalid(format!("event {} has no data", event.id()).into())
        })?;
        serde_json::from_slice(&data).map_err(|e| CodecError::Invalid(e.into()))
    }
}

/// A store keyed by resource id; the lister of a source or an agent.
#[derive(Clone, Default)]
pub struct Store(Arc<Mutex<HashMap<String, Thing>>>);

impl Store {
    pub fn put(&self, thing: Thing) {
        self.0.lock().unwrap().insert(thing.id.clone(), thing);
    }
    pub fn get(&self, id: &str) -> Option<Thing> {
        self.0.lock().unwrap().get(id).cloned()
    }
}

#[async_trait::async_trait]
impl Lister<Thing> for Store {
    async fn list(&self, options: &ListOptions) -> Result<Vec<Thing>, ListError> {
        let all = self.0.lock().unwrap();
        Ok(all
            .values()
            .filter(|t| options.cluster_name.is_empty() || t.cluster == options.cluster_name)
            .cloned()
            .collect())
    }
}

pub fn hash(thing: &Thing) -> Result<String, HashError> {
    Ok(thing.status.clone().unwrap_or_default())
}

/// A source client over MQTT whose handler writes received status into `seen`.
pub async fn source_client(
    broker: &Mosquitto,
    store: &Store,
    seen: &Store,
) -> (SourceClient<Thing>, Arc<dyn Transport>) {
    let transport: Arc<dyn Transport> =
        Arc::new(broker.transport(TransportRole::source(SOURCE), ""));
    let client = SourceClient::builder(SOURCE, transport.clone(), Arc::new(store.clone()), hash)
        .codec(ThingCodec::new())
        .build();
    let seen = seen.clone();
    client
        .subscribe(handler_fn(move |action, thing: Thing| {
            let seen = seen.clone();
            async move {
                assert_eq!(action, ResourceAction::StatusModified);
                seen.put(thing);
                Ok(())
            }
        }))
        .await
        .expect("source subscribes");
    eventually("source subscribed", LIMIT, || async {
        client.stats().subscriptions >= 1
    })
    .await;
    (client, transport)
}

/// An agent client over MQTT whose handler applies specs to `store` (the agent's store).
pub async fn agent_client(broker: &Mosquitto, cluster: &str, store: &Store) -> AgentClient<Thing> {
    let transport = broker.transport(TransportRole::agent(cluster), "");
    agent_client_over(Arc::new(transport), cluster, store).await
}

/// Like [`agent_client`] over a given transport.
pub async fn agent_client_over(
    transport: Arc<dyn Transport>,
    cluster: &str,
    store: &Store,
) -> AgentClient<Thing> {
    let client = AgentClient::builder(cluster, transport, Arc::new(store.clone()), hash)
        .codec(ThingCodec::new())
        .build();
    let store = store.clone();
    client
        .subscribe(handler_fn(move |_action, thing: Thing| {
            let store = store.clone();
            async move {
                store.put(thing);
                Ok(())
            }
        }))
        .await
        .expect("agent subscribes");
    eventually("agent subscribed", LIMIT, || async {
        client.stats().subscriptions >= 1
    })
    .await;
    client
}

/// Polls `store` until it holds `id` satisfying `check`.
pub async fn has(store: &Store, what: &str, id: &str, check: impl Fn(&Thing) -> bool) {
    eventually(what, LIMIT, || {
        let found = store.get(id).is_some_and(|t| check(&t));
        async move { found }
    })
    .await;
}
