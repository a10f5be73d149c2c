//! The custom resource type of the generic-client examples: a `Greeting` a source sends to a
//! cluster (`message`, the spec) and the cluster answers (`reply`, the status). What any
//! resource type needs to travel: [`ResourceObject`] (id, version, deletion), a [`Codec`]
//! (events both ways) and a status hash both sides compute the same way.

use baton_cloudevents::builder::EventBuilder;
use baton_cloudevents::extensions as ext;
use baton_cloudevents::resource::HashError;
use baton_cloudevents::{
    AttributesReader, Codec, CodecError, DataType, Event, EventType, ResourceObject, SubResource,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The data type of greetings: `io.example.greetings.v1.greetings`.
pub fn data_type() -> DataType {
    DataType::new("io.example.greetings", "v1", "greetings")
}

/// One greeting for one cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Greeting {
    pub id: String,
    pub cluster: String,
    /// The source that sent it: status events are addressed to it (`originalsource`).
    pub source: String,
    /// Incremented by the source on every change of `message`.
    pub version: i64,
    pub deleting: Option<DateTime<Utc>>,
    pub message: String,
    /// Empty until the agent answers.
    pub reply: String,
}

impl ResourceObject for Greeting {
    fn resource_id(&self) -> &str {
        &self.id
    }
    fn resource_version(&self) -> i64 {
        self.version
    }
    fn deletion_timestamp(&self) -> Option<DateTime<Utc>> {
        self.deleting
    }
    fn cluster_name(&self) -> Option<&str> {
        Some(&self.cluster)
    }
    fn owner_source(&self) -> Option<&str> {
        Some(&self.source)
    }
}

/// The JSON data of greeting events.
#[derive(Default, Serialize, Deserialize)]
struct Body {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    message: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    reply: String,
}

/// The status hash: what the agent reported, so a source can ask only for what changed.
pub fn status_hash(greeting: &Greeting) -> Result<String, HashError> {
    Ok(format!("reply:{}", greeting.reply))
}

/// Spec events carry the message (a delete only its timestamp), status events the reply.
pub struct GreetingCodec(DataType);

impl GreetingCodec {
    pub fn new() -> Self {
        Self(data_type())
    }
}

impl Codec<Greeting> for GreetingCodec {
    fn data_type(&self) -> &DataType {
        &self.0
    }

    fn encode(&self, source: &str, ty: &EventType, g: &Greeting) -> Result<Event, CodecError> {
        let builder = EventBuilder::new(source, ty)
            .cluster_name(&g.cluster)
            .resource_id(&g.id)
            .resource_version(g.version);
        let body = match (ty.sub_resource, g.deleting) {
            (SubResource::Spec, Some(at)) => return Ok(builder.deletion_timestamp(at).build()?),
            (SubResource::Spec, None) => Body {
                message: g.message.clone(),
                ..Body::default()
            },
            (SubResource::Status, _) => Body {
                reply: g.reply.clone(),
                ..Body::default()
            },
        };
        let builder = match ty.sub_resource {
            SubResource::Status => builder.original_source(&g.source),
            SubResource::Spec => builder,
        };
        let json = serde_json::to_vec(&body).map_err(|e| CodecError::Invalid(e.into()))?;
        Ok(builder
            .status_hash(status_hash(g).map_err(|e| CodecError::Invalid(e.into()))?)
            .json_data(json)
            .build()?)
    }

    fn decode(&self, event: &Event) -> Result<Greeting, CodecError> {
        let body: Body = match ext::data_bytes(event) {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|source| CodecError::Json {
                what: "a greeting",
                source,
            })?,
            None => Body::default(),
        };
        // Spec events come from the owner; status events name it.
        let source = match ext::string(event, ext::ORIGINAL_SOURCE)? {
            Some(owner) if !owner.is_empty() => owner.to_owned(),
            _ => event.source().to_string(),
        };
        Ok(Greeting {
            source,
            id: ext::required_string(event, ext::RESOURCE_ID)?.to_owned(),
            cluster: ext::required_string(event, ext::CLUSTER_NAME)?.to_owned(),
            version: ext::integer(event, ext::RESOURCE_VERSION)?.unwrap_or(0),
            deleting: ext::timestamp(event, ext::DELETION_TIMESTAMP)?,
            message: body.message,
            reply: body.reply,
        })
    }
}

/// What the agent example answers to `message`, and the source example waits for.
pub fn reply_to(message: &str, cluster: &str) -> String {
    format!("{message}, from {cluster}")
}
