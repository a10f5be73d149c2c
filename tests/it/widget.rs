//! A minimal resource type for testing the generic clients and transports without the
//! ManifestWork payload: a `Widget` with a spec string and a status string, its JSON codec, and
//! an in-memory lister. It uses the manifestbundles data type so that real vector events route.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use baton::cloudevents::builder::EventBuilder;
use baton::cloudevents::extensions as ext;
use baton::cloudevents::resource::HashError;
use baton::cloudevents::{
    Codec, CodecError, DataType, Event, EventType, ListError, ListOptions, Lister, ResourceObject,
    SubResource,
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
    pub status: String,
}

impl Widget {
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
}

#[derive(Serialize, Deserialize)]
struct Body {
    #[serde(default)]
    spec: String,
    #[serde(default)]
    status: String,
}

/// Encodes spec events (source) and status events (agent) of widgets.
pub struct WidgetCodec(DataType);

impl WidgetCodec {
    pub fn new() -> Self {
        Self(bundles())
    }
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
                None => builder.json_data(
                    serde_json::to_vec(&Body {
                        spec: w.spec.clone(),
                        status: String::new(),
                    })
                    .unwrap(),
                ),
            },
            SubResource::Status => builder
                .original_source(&w.source)
                .status_hash(status_hash(w))
                .json_data(
                    serde_json::to_vec(&Body {
                        spec: String::new(),
                        status: w.status.clone(),
                    })
                    .unwrap(),
                ),
        };
        Ok(builder.build()?)
    }

    fn decode(&self, event: &Event) -> Result<Widget, CodecError> {
        let body: Body = match ext::data_bytes(event) {
            Some(bytes) => serde_json::from_slice(&bytes).unwrap_or(Body {
                spec: String::new(),
                status: String::new(),
            }),
            None => Body {
                spec: String::new(),
                status: String::new(),
            },
        };
        Ok(Widget {
            id: ext::required_string(event, ext::RESOURCE_ID)?.to_owned(),
            cluster: ext::required_string(event, ext::CLUSTER_NAME)?.to_owned(),
            source: event.source().to_string(),
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

/// An in-memory store of widgets by id; the lister of a test source or agent.
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
    pub seen: Arc<Mutex<Vec<(baton::cloudevents::ResourceAction, Widget)>>>,
}

impl Recorder {
    pub fn actions(&self) -> Vec<(baton::cloudevents::ResourceAction, String, i64)> {
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
