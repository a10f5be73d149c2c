//! The gRPC protocol binding (docs/protocol.md §8.2, C21, C22): a CloudEvent to and from the
//! `io.cloudevents.v1.CloudEvent` message exactly as sdk-go's `WritePBMessage` / `NewMessage`.
//!
//! Sending: `time` → `ce-time` (timestamp), `datacontenttype` → `contenttype`, extension `x` →
//! `ce-x` with the kind of [`ext::kind_of`] (so `resourceversion` is `ce_integer` and
//! `deletiontimestamp` is `ce_timestamp`), data → `binary_data`. The attribute map is ordered,
//! so our bytes are deterministic and equal the key-sorted vectors.
//!
//! Receiving: binary mode, plus structured mode (a CloudEvents JSON document in the data when
//! `contenttype` says so) and `text_data`, which sdk-go never sends but we accept.
//! Owns no connection and no routing.

use std::collections::BTreeMap;

use ::cloudevents::event::ExtensionValue;
use ::cloudevents::{AttributesReader, AttributesWriter, Event, EventBuilder, EventBuilderV10};
use chrono::{DateTime, Utc};
use prost_types::Timestamp;

use super::proto::cloud_event::Data as PbData;
use super::proto::cloud_event_attribute_value::Attr;
use super::proto::{CloudEvent, CloudEventAttributeValue};
use crate::event_type::HEARTBEAT_TYPE;
use crate::extensions::{self as ext, ExtensionKind};

/// Attribute key prefix of everything but the content type (§8.2).
const PREFIX: &str = "ce-";
const TIME: &str = "ce-time";
const CONTENT_TYPE: &str = "contenttype";
const SUBJECT: &str = "ce-subject";
const DATA_SCHEMA: &str = "ce-dataschema";
/// Media types that mark a structured-mode message.
const STRUCTURED_PREFIX: &str = "application/cloudevents";

/// An event could not be converted.
#[derive(Debug, thiserror::Error)]
pub enum BindingError {
    /// An Integer extension outside the int32 range.
    #[error("extension {name:?} value {value} does not fit the gRPC int32 kind")]
    IntegerRange {
        /// The extension.
        name: String,
        /// The value received.
        value: String,
    },
    /// A Timestamp extension that is not RFC 3339.
    #[error("extension {name:?} must be an RFC 3339 timestamp, got {value:?}")]
    Timestamp {
        /// The extension.
        name: String,
        /// The value received.
        value: String,
    },
    /// An Integer extension that is not an integer.
    #[error("extension {name:?} must be an integer, got {value:?}")]
    Integer {
        /// The extension.
        name: String,
        /// The value received.
        value: String,
    },
    /// An attribute has a value of another kind than CloudEvents gives it.
    #[error("attribute {key:?} has a value of the wrong kind")]
    AttributeKind {
        /// The attribute.
        key: String,
    },
    /// A specversion other than 1.0.
    #[error("unsupported spec_version {0:?} (only 1.0)")]
    SpecVersion(String),
    /// The message uses `proto_data`, which OCM never sends.
    #[error("the message has proto_data, which CloudEvents over OCM never uses")]
    ProtoData,
    /// A structured-mode payload that is not CloudEvents JSON.
    #[error("invalid structured-mode event: {0}")]
    Structured(#[source] serde_json::Error),
    /// The attributes do not make a valid event.
    #[error("invalid CloudEvent: {0}")]
    Event(#[from] ::cloudevents::event::EventBuilderError),
}

/// The message sdk-go sends for `event` (§8.2).
pub fn to_proto(event: &Event) -> Result<CloudEvent, BindingError> {
    let mut attributes = BTreeMap::new();
    if let Some(time) = event.time() {
        attributes.insert(TIME.to_owned(), timestamp_value(time));
    }
    if let Some(content_type) = event.datacontenttype() {
        attributes.insert(CONTENT_TYPE.to_owned(), string_value(content_type));
    }
    if let Some(subject) = event.subject() {
        attributes.insert(SUBJECT.to_owned(), string_value(subject));
    }
    if let Some(schema) = event.dataschema() {
        attributes.insert(
            DATA_SCHEMA.to_owned(),
            attr(Attr::CeUri(schema.to_string())),
        );
    }
    for (name, value) in event.iter_extensions() {
        attributes.insert(format!("{PREFIX}{name}"), extension_value(name, value)?);
    }
    Ok(CloudEvent {
        id: event.id().to_owned(),
        source: event.source().to_string(),
        spec_version: event.specversion().to_string(),
        r#type: event.ty().to_owned(),
        attributes,
        data: ext::data_bytes(event).map(|bytes| PbData::BinaryData(bytes.into_owned())),
    })
}

/// The heartbeat message a broker sends on every Subscribe stream (§2.5, §8.7).
pub fn heartbeat() -> CloudEvent {
    CloudEvent {
        id: uuid::Uuid::new_v4().to_string(),
        spec_version: "1.0".to_owned(),
        r#type: HEARTBEAT_TYPE.to_owned(),
        ..CloudEvent::default()
    }
}

/// Whether `message` is a heartbeat; checked before any conversion (§2.5, C6).
pub fn is_heartbeat(message: &CloudEvent) -> bool {
    message.r#type == HEARTBEAT_TYPE
}

/// The event a received message carries, binary or structured mode (§8.2).
pub fn from_proto(message: CloudEvent) -> Result<Event, BindingError> {
    let content_type = match message.attributes.get(CONTENT_TYPE) {
        Some(value) => Some(string_of(CONTENT_TYPE, value)?),
        None => None,
    };
    if content_type
        .as_deref()
        .is_some_and(|ct| ct.starts_with(STRUCTURED_PREFIX))
    {
        let body = match &message.data {
            Some(PbData::BinaryData(bytes)) => bytes.as_slice(),
            Some(PbData::TextData(text)) => text.as_bytes(),
            _ => &[],
        };
        return serde_json::from_slice(body).map_err(BindingError::Structured);
    }
    if message.spec_version != "1.0" {
        return Err(BindingError::SpecVersion(message.spec_version));
    }
    let mut builder = EventBuilderV10::new()
        .id(message.id)
        .source(message.source)
        .ty(message.r#type);
    for (key, value) in &message.attributes {
        builder = match key.as_str() {
            CONTENT_TYPE => builder,
            TIME => builder.time(time_of(key, value)?),
            SUBJECT => builder.subject(string_of(key, value)?),
            // Never produced by sdk-go (§8.2); not worth a URL parser here.
            DATA_SCHEMA => builder,
            _ => match key.strip_prefix(PREFIX) {
                Some(name) => builder.extension(name, extension_of(key, value)?),
                // sdk-go ignores keys it does not know.
                None => builder,
            },
        };
    }
    let mut event = builder.build()?;
    event.set_datacontenttype(content_type);
    match message.data {
        None => {}
        Some(PbData::BinaryData(bytes)) => {
            event.set_data_unchecked(bytes);
        }
        Some(PbData::TextData(text)) => {
            event.set_data_unchecked(text.into_bytes());
        }
        Some(PbData::ProtoData(_)) => return Err(BindingError::ProtoData),
    }
    Ok(event)
}

fn attr(value: Attr) -> CloudEventAttributeValue {
    CloudEventAttributeValue { attr: Some(value) }
}

fn string_value(value: &str) -> CloudEventAttributeValue {
    attr(Attr::CeString(value.to_owned()))
}

fn timestamp_value(time: &DateTime<Utc>) -> CloudEventAttributeValue {
    attr(Attr::CeTimestamp(Timestamp {
        seconds: time.timestamp(),
        nanos: i32::try_from(time.timestamp_subsec_nanos()).unwrap_or(0),
    }))
}

/// One extension, by its §3.1 kind when it is a known one, else by the kind it is stored as.
fn extension_value(
    name: &str,
    value: &ExtensionValue,
) -> Result<CloudEventAttributeValue, BindingError> {
    let kind = ext::kind_of(name);
    Ok(match (kind, value) {
        (Some(ExtensionKind::Integer), ExtensionValue::String(s)) => {
            let parsed: i64 = s.trim().parse().map_err(|_| BindingError::Integer {
                name: name.to_owned(),
                value: s.clone(),
            })?;
            attr(Attr::CeInteger(int32(name, parsed)?))
        }
        (Some(ExtensionKind::Timestamp), ExtensionValue::String(s)) => {
            let time = DateTime::parse_from_rfc3339(s).map_err(|_| BindingError::Timestamp {
                name: name.to_owned(),
                value: s.clone(),
            })?;
            timestamp_value(&time.with_timezone(&Utc))
        }
        (Some(ExtensionKind::String), other) => string_value(&other.to_string()),
        (_, ExtensionValue::String(s)) => string_value(s),
        (_, ExtensionValue::Integer(i)) => attr(Attr::CeInteger(int32(name, *i)?)),
        (_, ExtensionValue::Boolean(b)) => attr(Attr::CeBoolean(*b)),
    })
}

fn int32(name: &str, value: i64) -> Result<i32, BindingError> {
    i32::try_from(value).map_err(|_| BindingError::IntegerRange {
        name: name.to_owned(),
        value: value.to_string(),
    })
}

fn string_of(key: &str, value: &CloudEventAttributeValue) -> Result<String, BindingError> {
    match &value.attr {
        Some(Attr::CeString(s) | Attr::CeUri(s) | Attr::CeUriRef(s)) => Ok(s.clone()),
        _ => Err(BindingError::AttributeKind {
            key: key.to_owned(),
        }),
    }
}

fn time_of(key: &str, value: &CloudEventAttributeValue) -> Result<DateTime<Utc>, BindingError> {
    match &value.attr {
        Some(Attr::CeTimestamp(ts)) => timestamp_to_chrono(key, ts),
        Some(Attr::CeString(s)) => DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| BindingError::Timestamp {
                name: key.to_owned(),
                value: s.clone(),
            }),
        _ => Err(BindingError::AttributeKind {
            key: key.to_owned(),
        }),
    }
}

fn timestamp_to_chrono(key: &str, ts: &Timestamp) -> Result<DateTime<Utc>, BindingError> {
    u32::try_from(ts.nanos)
        .ok()
        .and_then(|nanos| DateTime::from_timestamp(ts.seconds, nanos))
        .ok_or_else(|| BindingError::Timestamp {
            name: key.to_owned(),
            value: format!("{}s {}ns", ts.seconds, ts.nanos),
        })
}

/// An extension as the SDK event stores it: timestamps become RFC 3339 strings (the SDK has
/// no timestamp kind, see [`ext`]), bytes their base64 text, URIs their text.
fn extension_of(
    key: &str,
    value: &CloudEventAttributeValue,
) -> Result<ExtensionValue, BindingError> {
    use base64::Engine as _;
    Ok(match &value.attr {
        Some(Attr::CeString(s) | Attr::CeUri(s) | Attr::CeUriRef(s)) => {
            ExtensionValue::String(s.clone())
        }
        Some(Attr::CeInteger(i)) => ExtensionValue::Integer(i64::from(*i)),
        Some(Attr::CeBoolean(b)) => ExtensionValue::Boolean(*b),
        Some(Attr::CeBytes(bytes)) => {
            ExtensionValue::String(base64::engine::general_purpose::STANDARD.encode(bytes))
        }
        Some(Attr::CeTimestamp(ts)) => {
            ExtensionValue::String(ext::format_timestamp(&timestamp_to_chrono(key, ts)?))
        }
        None => {
            return Err(BindingError::AttributeKind {
                key: key.to_owned(),
            });
        }
    })
}
