//! [`EventBuilder`]: the one place events are made, so every emitted event has what C1 and C3
//! require: specversion 1.0, a UUID v4 id, the sender as `source`, a parsed type, `time`,
//! `clustername` and `originalsource` (possibly empty), and each extension in its §3 kind.

use ::cloudevents::event::ExtensionValue;
use ::cloudevents::{Event, EventBuilder as _, EventBuilderV10};
use chrono::{DateTime, Utc};

use super::event_type::EventType;
use super::extensions::{self as ext, JSON_CONTENT_TYPE};

/// Why an event could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The version does not fit the wire's int32.
    #[error("resourceversion {0} does not fit the int32 the wire carries (docs/protocol.md §3.2)")]
    VersionOutOfRange(i64),
    /// Versions start at 0; a negative one is a caller's bug.
    #[error("resourceversion {0} is negative")]
    NegativeVersion(i64),
    /// The CloudEvents SDK refused the attributes (e.g. an empty `source`).
    #[error("invalid event: {0}")]
    Invalid(#[from] ::cloudevents::event::EventBuilderError),
}

/// Builds one CloudEvent of the OCM protocol.
///
/// ```
/// use baton_cloudevents::{EventBuilder, EventType};
/// let ty: EventType = "io.open-cluster-management.works.v1alpha1.manifestbundles.spec.create_request"
///     .parse().unwrap();
/// let event = EventBuilder::new("maestro", &ty)
///     .cluster_name("cluster1")
///     .resource_id("03f36550-d4de-565a-b59e-268477dbea7f")
///     .resource_version(1)
///     .json_data(br#"{"manifests":[]}"#.to_vec())
///     .build()
///     .unwrap();
/// assert_eq!(event.extension("resourceversion").unwrap().to_string(), "1");
/// ```
#[derive(Debug, Clone)]
pub struct EventBuilder {
    source: String,
    event_type: String,
    time: DateTime<Utc>,
    cluster_name: String,
    original_source: String,
    resource_id: Option<String>,
    resource_version: Option<i64>,
    deletion_timestamp: Option<DateTime<Utc>>,
    strings: Vec<(&'static str, String)>,
    data: Option<Vec<u8>>,
}

impl EventBuilder {
    /// A new event from `source` (the sender's source id or agent id) of type `event_type`.
    pub fn new(source: impl Into<String>, event_type: &EventType) -> Self {
        Self::with_type_string(source, event_type.to_string())
    }

    /// Like [`EventBuilder::new`] with an already rendered type string.
    pub fn with_type_string(source: impl Into<String>, event_type: String) -> Self {
        Self {
            source: source.into(),
            event_type,
            time: Utc::now(),
            cluster_name: String::new(),
            original_source: String::new(),
            resource_id: None,
            resource_version: None,
            deletion_timestamp: None,
            strings: Vec::new(),
            data: None,
        }
    }

    /// The `time` attribute (default: now).
    pub fn time(mut self, time: DateTime<Utc>) -> Self {
        self.time = time;
        self
    }

    /// The `clustername` extension: the cluster the event is about or for (empty: every cluster,
    /// in a resync request).
    pub fn cluster_name(mut self, cluster_name: impl Into<String>) -> Self {
        self.cluster_name = cluster_name.into();
        self
    }

    /// The `originalsource` extension: on agent events, the source that owns the resource.
    pub fn original_source(mut self, original_source: impl Into<String>) -> Self {
        self.original_source = original_source.into();
        self
    }

    /// The `resourceid` extension.
    pub fn resource_id(mut self, resource_id: impl Into<String>) -> Self {
        self.resource_id = Some(resource_id.into());
        self
    }

    /// Sent as the Integer kind; [`build`](Self::build) rejects values outside int32.
    pub fn resource_version(mut self, version: i64) -> Self {
        self.resource_version = Some(version);
        self
    }

    /// The `deletiontimestamp` extension: the source is deleting the resource.
    pub fn deletion_timestamp(mut self, time: DateTime<Utc>) -> Self {
        self.deletion_timestamp = Some(time);
        self
    }

    /// The `sequenceid` extension of status events (§5.3), ordering an agent's reports.
    pub fn sequence_id(self, id: impl Into<String>) -> Self {
        self.string_extension(ext::SEQUENCE_ID, id)
    }

    /// The `statushash` extension of status events (§6.4).
    pub fn status_hash(self, hash: impl Into<String>) -> Self {
        self.string_extension(ext::STATUS_HASH, hash)
    }

    /// The `metadata` extension: the ManifestWork `ObjectMeta` as a JSON string (§4.3).
    pub fn metadata(self, metadata_json: impl Into<String>) -> Self {
        self.string_extension(ext::METADATA, metadata_json)
    }

    /// The `logtracing` extension: a JSON object string, `{}` when empty (§3.1).
    pub fn log_tracing(self, log_tracing_json: impl Into<String>) -> Self {
        self.string_extension(ext::LOG_TRACING, log_tracing_json)
    }

    fn string_extension(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.strings.push((name, value.into()));
        self
    }

    /// The data: JSON bytes, sent with `datacontenttype: application/json` (§2.1).
    pub fn json_data(mut self, json: Vec<u8>) -> Self {
        self.data = Some(json);
        self
    }

    /// The event, or why the attributes cannot make one.
    pub fn build(self) -> Result<Event, BuildError> {
        let mut builder = EventBuilderV10::new()
            .id(uuid::Uuid::new_v4().to_string())
            .source(self.source)
            .ty(self.event_type)
            .time(self.time)
            .extension(ext::CLUSTER_NAME, self.cluster_name)
            .extension(ext::ORIGINAL_SOURCE, self.original_source);
        if let Some(id) = self.resource_id {
            builder = builder.extension(ext::RESOURCE_ID, id);
        }
        if let Some(version) = self.resource_version {
            if version < 0 {
                return Err(BuildError::NegativeVersion(version));
            }
            if i32::try_from(version).is_err() {
                return Err(BuildError::VersionOutOfRange(version));
            }
            builder = builder.extension(ext::RESOURCE_VERSION, ExtensionValue::Integer(version));
        }
        if let Some(time) = self.deletion_timestamp {
            builder = builder.extension(ext::DELETION_TIMESTAMP, ext::format_timestamp(&time));
        }
        for (name, value) in self.strings {
            builder = builder.extension(name, value);
        }
        if let Some(data) = self.data {
            builder = builder.data(JSON_CONTENT_TYPE, data);
        }
        Ok(builder.build()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::cloudevents::AttributesReader;

    fn spec_create() -> EventType {
        "io.open-cluster-management.works.v1alpha1.manifestbundles.spec.create_request"
            .parse()
            .unwrap()
    }

    #[test]
    fn every_event_has_the_envelope_and_both_routing_extensions() {
        let event = EventBuilder::new("maestro", &spec_create())
            .build()
            .unwrap();
        assert_eq!(event.specversion().as_str(), "1.0");
        assert!(uuid::Uuid::parse_str(event.id()).is_ok());
        assert_eq!(event.source().as_str(), "maestro");
        assert!(event.time().is_some());
        assert_eq!(
            event.extension(ext::CLUSTER_NAME),
            Some(&ExtensionValue::String(String::new()))
        );
        assert_eq!(
            event.extension(ext::ORIGINAL_SOURCE),
            Some(&ExtensionValue::String(String::new()))
        );
        assert_eq!(event.datacontenttype(), None, "no data, no datacontenttype");
    }

    #[test]
    fn versions_outside_int32_are_rejected_not_wrapped() {
        let err = EventBuilder::new("s", &spec_create())
            .resource_version(i64::from(i32::MAX) + 1)
            .build()
            .unwrap_err();
        assert!(matches!(err, BuildError::VersionOutOfRange(2_147_483_648)));
        let ok = EventBuilder::new("s", &spec_create())
            .resource_version(i64::from(i32::MAX))
            .build()
            .unwrap();
        assert_eq!(
            ok.extension(ext::RESOURCE_VERSION),
            Some(&ExtensionValue::Integer(2_147_483_647))
        );
    }

    #[test]
    fn data_sets_json_content_type() {
        let event = EventBuilder::new("s", &spec_create())
            .json_data(b"{}".to_vec())
            .build()
            .unwrap();
        assert_eq!(event.datacontenttype(), Some(JSON_CONTENT_TYPE));
    }
}
