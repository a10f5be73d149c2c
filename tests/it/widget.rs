//! The shared test resource for the generic clients and transports, without the ManifestWork
//! payload: a `Widget` with a spec string and a status string, its JSON codec (for any data
//! type; by default manifestbundles, so that real vector events route), an in-memory store that
//! serves as lister, a handler that records what it is told, and source / agent clients whose
//! handlers store what they receive (used over gRPC and MQTT alike).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use baton::cloudevents::builder::EventBuilder;
use baton::cloudevents::extensions as ext;
use baton::cloudevents::resource::{HashError, handler_fn};
use baton::cloudevents::{
    AgentClient, Codec, CodecError, DataType, Event, EventType, ListError, ListOptions, Lister,
    ResourceAction, ResourceObject, SourceClient, SubResource, Transport,
};
use chrono::{DateTime, Utc};
use cloudevents::AttributesReader;
use serde::{Deserialize, Serialize};

pub fn bundles() -> DataType {
    "io.open-cluster-management.works.v1alpha1.manifestbundles"
        .parse()
        .unwrap()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Widget {
    pub id: String,
    pub cluster: String,
    /// The source that owns it (agent side: the `source` of the spec event).
    pub source: String,
    pub version: i64,
    pub deleting: Option<DateTime<Utc>>,
    pub spec: String,
    /// Empty until an agent reports one.
    pub status: String,
}

impl Widget {
    /// A widget owned by the source `hub`.
    pub fn new(id: &str, cluster: &str, version: i64, spec: &str) -> Self {
        Self {
            id: id.into(),
            cluster: cluster.into(),
            source: "hub".into(),
            version,
            deleting: None,
            spec: spec.into(),
            status: String::new(),
        }
    }

    pub fn owned_by(mut self, source: &str) -> Self {
        self.source = source.into();
        self
    }

    pub fn with_status(mut self, status: &str) -> Self {
        self.status = status.into();
        self
    }
}

impl ResourceObject for Widget {
    fn resource_id(&self) -> &str {
        &self.id
    }
    fn resource_version(&self) -> i64 {
        self.version
    }
    fn deletion_timestamp(&self) -> Option<DateTime<Utc>> {
        self.deleting
    }
    fn owner_source(&self) -> Option<&str> {
        Some(&self.source)
    }
    fn cluster_name(&self) -> Option<&str> {
        Some(&self.cluster)
    }
}

#[derive(Default, Serialize, Deserialize)]
struct Body {
    #[serde(default)]
    spec: String,
    #[serde(default)]
    status: String,
}

/// Encodes spec events (source) and status events (agent) of widgets; deletes carry only
/// extensions.
pub struct WidgetCodec(DataType);

impl WidgetCodec {
    /// For the manifestbundles data type.
    pub fn new() -> Self {
        Self(bundles())
    }

    pub fn for_type(data_type: DataType) -> Self {
        Self(data_type)
    }
}

fn json(body: &Body) -> Result<Vec<u8>, CodecError> {
    serde_json::to_vec(body).map_err(|e| CodecError::Invalid(e.into()))
}

impl Codec<Widget> for WidgetCodec {
    fn data_type(&self) -> &DataType {
        &self.0
    }

    fn encode(
        &self,
        source: &str,
        event_type: &EventType,
        w: &Widget,
    ) -> Result<Event, CodecError> {
        let mut builder = EventBuilder::new(source, event_type)
            .cluster_name(&w.cluster)
            .resource_id(&w.id)
            .resource_version(w.version);
        builder = match event_type.sub_resource {
            SubResource::Spec => match w.deleting {
                Some(at) => builder.deletion_timestamp(at),
                None => builder.json_data(json(&Body {
                    spec: w.spec.clone(),
                    status: String::new(),
                })?),
            },
            SubResource::Status => builder
                .original_source(&w.source)
                .status_hash(status_hash(w))
                .json_data(json(&Body {
                    spec: String::new(),
                    status: w.status.clone(),
                })?),
        };
        Ok(builder.build()?)
    }

    /// The owner is `originalsource` on status events, the event's `source` on spec events.
    /// Data that is not a widget body (a real vector's ManifestBundle) reads as empty.
    fn decode(&self, event: &Event) -> Result<Widget, CodecError> {
        let body: Body = ext::data_bytes(event)
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        let owner = ext::string(event, ext::ORIGINAL_SOURCE)?
            .filter(|s| !s.is_empty())
            .map_or_else(|| event.source().to_string(), str::to_owned);
        Ok(Widget {
            id: ext::required_string(event, ext::RESOURCE_ID)?.to_owned(),
            cluster: ext::required_string(event, ext::CLUSTER_NAME)?.to_owned(),
            source: owner,
            version: ext::integer(event, ext::RESOURCE_VERSION)?.unwrap_or(0),
            deleting: ext::timestamp(event, ext::DELETION_TIMESTAMP)?,
            spec: body.spec,
            status: body.status,
        })
    }
}

/// The widget's "status hash": the status text itself, enough to compare.
pub fn status_hash(w: &Widget) -> String {
    format!("hash-of-{}", w.status)
}

pub fn hasher(w: &Widget) -> Result<String, HashError> {
    Ok(status_hash(w))
}

/// An in-memory store of widgets by id; the lister of a test source or agent. Clones share it.
#[derive(Debug, Clone, Default)]
pub struct WidgetStore(Arc<Mutex<BTreeMap<String, Widget>>>);

impl WidgetStore {
    pub fn put(&self, w: Widget) {
        self.0.lock().unwrap().insert(w.id.clone(), w);
    }
    pub fn remove(&self, id: &str) {
        self.0.lock().unwrap().remove(id);
    }
    pub fn get(&self, id: &str) -> Option<Widget> {
        self.0.lock().unwrap().get(id).cloned()
    }
    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
    pub fn clear(&self) {
        self.0.lock().unwrap().clear();
    }
}

#[async_trait]
impl Lister<Widget> for WidgetStore {
    async fn list(&self, options: &ListOptions) -> Result<Vec<Widget>, ListError> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .values()
            .filter(|w| options.cluster_name.is_empty() || w.cluster == options.cluster_name)
            .cloned()
            .collect())
    }
}

/// A handler that records what it is told, optionally storing specs like an agent would.
#[derive(Clone, Default)]
pub struct Recorder {
    pub seen: Arc<Mutex<Vec<(ResourceAction, Widget)>>>,
}

impl Recorder {
    pub fn actions(&self) -> Vec<(ResourceAction, String, i64)> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|(a, w)| (*a, w.id.clone(), w.version))
            .collect()
    }
    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

/// A subscribed source client: `desired` is its lister, every status it receives lands in
/// `statuses`.
pub async fn storing_source(
    source_id: &str,
    transport: Arc<dyn Transport>,
    desired: &WidgetStore,
    statuses: &WidgetStore,
    codec: WidgetCodec,
) -> SourceClient<Widget> {
    let client = SourceClient::builder(source_id, transport, Arc::new(desired.clone()), hasher)
        .codec(codec)
        .build();
    let statuses = statuses.clone();
    client
        .subscribe(handler_fn(move |action, w: Widget| {
            let statuses = statuses.clone();
            async move {
                assert_eq!(action, ResourceAction::StatusModified);
                statuses.put(w);
                Ok(())
            }
        }))
        .await
        .expect("source subscribes");
    client
}

/// A subscribed agent client that applies what it is told to `applied` (its lister): deleted
/// widgets are removed, anything else stored.
pub async fn storing_agent(
    cluster: &str,
    transport: Arc<dyn Transport>,
    applied: &WidgetStore,
    codec: WidgetCodec,
) -> AgentClient<Widget> {
    let client = AgentClient::builder(cluster, transport, Arc::new(applied.clone()), hasher)
        .codec(codec)
        .build();
    let applied = applied.clone();
    client
        .subscribe(handler_fn(move |action, w: Widget| {
            let applied = applied.clone();
            async move {
                match action {
                    ResourceAction::Deleted => applied.remove(&w.id),
                    _ => applied.put(w),
                }
                Ok(())
            }
        }))
        .await
        .expect("agent subscribes");
    client
}
