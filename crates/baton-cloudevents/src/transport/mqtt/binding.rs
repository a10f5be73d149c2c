//! The CloudEvents MQTT v5 binding as sdk-go (paho) speaks it: events go out in binary content
//! mode exactly as docs/protocol.md §7.6 says, and both binary and structured messages are read back
//! (§7.7) whatever the order of their user properties. [`encode`] speaks rumqttc 0.25's
//! PUBLISH types: this module is the wire level, as `grpc::binding` is for gRPC.
//!
//! Owns the mapping between an [`Event`] and a PUBLISH's properties and payload; knows nothing
//! of topics or of the connection.

use ::cloudevents::event::{ExtensionValue, TryIntoUrl};
use ::cloudevents::{
    AttributesReader, AttributesWriter, Event, EventBuilder as _, EventBuilderV10,
};
use bytes::Bytes;
use rumqttc::v5::mqttbytes::v5::PublishProperties;

use crate::extensions::{data_bytes, format_timestamp};

/// Prefix of the user properties that carry attributes in binary mode.
pub const ATTRIBUTE_PREFIX: &str = "ce-";
/// Content type of a structured-mode message (§7.7).
pub const STRUCTURED_CONTENT_TYPE: &str = "application/cloudevents+json";

/// A received message that is not a (valid) CloudEvent.
#[derive(Debug, thiserror::Error)]
pub enum BindingError {
    #[error(
        "not a CloudEvent: no {ATTRIBUTE_PREFIX}specversion user property and not {STRUCTURED_CONTENT_TYPE}"
    )]
    /// Neither binary mode (no `ce-specversion` property) nor structured mode.
    NotCloudEvent,
    /// A specversion other than 1.0.
    #[error("unsupported CloudEvents specversion {0:?}")]
    SpecVersion(String),
    #[error("binary-mode attribute {name}: {reason}")]
    /// A `ce-` user property that cannot be the attribute it names.
    Attribute {
        /// The attribute.
        name: String,
        /// What is wrong with its value.
        reason: String,
    },
    /// A structured-mode payload that is not CloudEvents JSON.
    #[error("structured-mode event is not valid CloudEvents JSON: {0}")]
    Structured(#[from] serde_json::Error),
    /// The attributes do not make a valid event.
    #[error("invalid CloudEvent: {0}")]
    Invalid(#[from] ::cloudevents::event::EventBuilderError),
}

/// The PUBLISH properties and payload of `event` in binary mode (§7.6): Content Type =
/// `datacontenttype`, one `ce-` user property per attribute (id, source, specversion, type,
/// dataschema, subject, time) then per extension (sorted by name; Go's order is random),
/// payload = the data bytes.
pub fn encode(event: &Event) -> (PublishProperties, Bytes) {
    let mut properties = vec![
        attribute("id", event.id().to_owned()),
        attribute("source", event.source().to_string()),
        attribute("specversion", event.specversion().to_string()),
        attribute("type", event.ty().to_owned()),
    ];
    if let Some(schema) = event.dataschema() {
        properties.push(attribute("dataschema", schema.to_string()));
    }
    if let Some(subject) = event.subject() {
        properties.push(attribute("subject", subject.to_owned()));
    }
    if let Some(time) = event.time() {
        properties.push(attribute("time", format_timestamp(time)));
    }
    let mut extensions: Vec<(&str, &ExtensionValue)> = event.iter_extensions().collect();
    extensions.sort_by_key(|(name, _)| *name);
    properties.extend(
        extensions
            .into_iter()
            .map(|(name, value)| attribute(name, value.to_string())),
    );
    let payload = data_bytes(event).map_or_else(Bytes::new, |data| Bytes::from(data.into_owned()));
    let publish = PublishProperties {
        content_type: event.datacontenttype().map(str::to_owned),
        user_properties: properties,
        ..PublishProperties::default()
    };
    (publish, payload)
}

fn attribute(name: &str, value: String) -> (String, String) {
    (format!("{ATTRIBUTE_PREFIX}{name}"), value)
}

/// Reads a received PUBLISH back into an event (§7.7): structured mode when the Content Type is
/// `application/cloudevents+json`, else binary mode when `ce-specversion` is present.
pub fn decode(
    properties: Option<&PublishProperties>,
    payload: &[u8],
) -> Result<Event, BindingError> {
    let content_type = properties
        .and_then(|p| p.content_type.as_deref())
        .filter(|ct| !ct.is_empty());
    if content_type.is_some_and(is_structured) {
        return Ok(serde_json::from_slice(payload)?);
    }
    let user_properties = properties.map_or(&[][..], |p| p.user_properties.as_slice());
    decode_binary(content_type, user_properties, payload)
}

fn is_structured(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|media| media.trim().eq_ignore_ascii_case(STRUCTURED_CONTENT_TYPE))
}

fn decode_binary(
    content_type: Option<&str>,
    user_properties: &[(String, String)],
    payload: &[u8],
) -> Result<Event, BindingError> {
    let attributes: Vec<(String, &str)> = user_properties
        .iter()
        .filter_map(|(key, value)| {
            let name = key.get(..ATTRIBUTE_PREFIX.len())?;
            name.eq_ignore_ascii_case(ATTRIBUTE_PREFIX).then(|| {
                (
                    key[ATTRIBUTE_PREFIX.len()..].to_ascii_lowercase(),
                    value.as_str(),
                )
            })
        })
        .collect();
    // Later duplicates win; sdk-go never sends any (§7.7).
    let get = |wanted: &str| {
        attributes
            .iter()
            .rev()
            .find(|(name, _)| name == wanted)
            .map(|(_, value)| *value)
    };
    let spec_version = get("specversion").ok_or(BindingError::NotCloudEvent)?;
    if spec_version != "1.0" {
        return Err(BindingError::SpecVersion(spec_version.to_owned()));
    }
    let required = |name: &str| {
        get(name).ok_or_else(|| BindingError::Attribute {
            name: name.to_owned(),
            reason: "missing".into(),
        })
    };
    let mut builder = EventBuilderV10::new()
        .id(required("id")?)
        .source(required("source")?)
        .ty(required("type")?);
    if let Some(time) = get("time") {
        builder = builder.time(time);
    }
    if let Some(subject) = get("subject") {
        builder = builder.subject(subject);
    }
    for (name, value) in &attributes {
        if !is_context_attribute(name) {
            builder = builder.extension(name, *value);
        }
    }
    let content_type = content_type.or_else(|| get("datacontenttype"));
    if let (Some(content_type), false) = (content_type, payload.is_empty()) {
        builder = builder.data(content_type, payload.to_vec());
    }
    let mut event = builder.build()?;
    if content_type.is_none() && !payload.is_empty() {
        event.set_data_unchecked(payload.to_vec());
    }
    if let Some(schema) = get("dataschema") {
        let url = schema.into_url().map_err(|err| BindingError::Attribute {
            name: "dataschema".into(),
            reason: err.to_string(),
        })?;
        event.set_dataschema(Some(url));
    }
    Ok(event)
}

fn is_context_attribute(name: &str) -> bool {
    matches!(
        name,
        "id" | "source"
            | "specversion"
            | "type"
            | "time"
            | "subject"
            | "dataschema"
            | "datacontenttype"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EventBuilder;
    use crate::extensions as ext;

    fn status_event() -> Event {
        let ty = "io.open-cluster-management.works.v1alpha1.manifestbundles.status.update_request"
            .parse()
            .unwrap();
        EventBuilder::new("cluster1-work-agent", &ty)
            .cluster_name("cluster1")
            .original_source("maestro")
            .resource_id("r1")
            .resource_version(3)
            .json_data(br#"{"conditions":null}"#.to_vec())
            .build()
            .unwrap()
    }

    #[test]
    fn binary_round_trip_keeps_attributes_data_and_kinds() {
        let event = status_event();
        let (properties, payload) = encode(&event);
        assert_eq!(properties.content_type.as_deref(), Some("application/json"));
        let names: Vec<&str> = properties
            .user_properties
            .iter()
            .map(|(k, _)| k.as_str())
            .collect();
        assert_eq!(
            &names[..5],
            ["ce-id", "ce-source", "ce-specversion", "ce-type", "ce-time"]
        );
        assert!(properties.payload_format_indicator.is_none());
        let back = decode(Some(&properties), &payload).unwrap();
        assert_eq!(back.id(), event.id());
        assert_eq!(back.time(), event.time());
        assert_eq!(ext::integer(&back, ext::RESOURCE_VERSION), Ok(Some(3)));
        assert_eq!(
            ext::data_bytes(&back).unwrap().as_ref(),
            br#"{"conditions":null}"#
        );
    }

    #[test]
    fn property_order_does_not_matter() {
        let (mut properties, payload) = encode(&status_event());
        properties.user_properties.reverse();
        let back = decode(Some(&properties), &payload).unwrap();
        assert_eq!(ext::string(&back, ext::CLUSTER_NAME), Ok(Some("cluster1")));
    }

    #[test]
    fn structured_mode_decodes() {
        let event = status_event();
        let json = serde_json::to_vec(&event).unwrap();
        let properties = PublishProperties {
            content_type: Some("application/cloudevents+json; charset=utf-8".into()),
            ..PublishProperties::default()
        };
        let back = decode(Some(&properties), &json).unwrap();
        assert_eq!(back.id(), event.id());
        assert_eq!(ext::integer(&back, ext::RESOURCE_VERSION), Ok(Some(3)));
    }

    #[test]
    fn garbage_is_not_a_cloud_event() {
        assert!(matches!(
            decode(None, b"hello"),
            Err(BindingError::NotCloudEvent)
        ));
        let properties = PublishProperties {
            content_type: Some(STRUCTURED_CONTENT_TYPE.into()),
            ..PublishProperties::default()
        };
        assert!(matches!(
            decode(Some(&properties), b"{"),
            Err(BindingError::Structured(_))
        ));
        let properties = PublishProperties {
            user_properties: vec![("ce-specversion".into(), "1.0".into())],
            ..PublishProperties::default()
        };
        assert!(matches!(
            decode(Some(&properties), b""),
            Err(BindingError::Attribute { .. })
        ));
    }
}
