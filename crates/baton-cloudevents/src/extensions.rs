//! Extension attributes (docs/protocol.md §3): their names, the value kind each one has on the wire,
//! and typed reads that apply the receive-side coercions of §3.2.
//!
//! The `cloudevents-sdk` event stores extensions as String, Integer or Boolean; it has no
//! Timestamp kind, so timestamps are kept as RFC 3339 strings and [`kind_of`] tells a binding
//! (gRPC) which extensions to send as timestamps.

use ::cloudevents::event::ExtensionValue;
use ::cloudevents::{AttributesReader, Data, Event};
use chrono::{DateTime, SecondsFormat, Utc};
use std::borrow::Cow;

/// The cluster an event is for or from (C3: on every event).
pub const CLUSTER_NAME: &str = "clustername";
/// On agent events: the source that owns the resource (C3: on every event).
pub const ORIGINAL_SOURCE: &str = "originalsource";
/// The resource the event is about.
pub const RESOURCE_ID: &str = "resourceid";
/// The source's version of the resource (Integer kind).
pub const RESOURCE_VERSION: &str = "resourceversion";
/// Set when the source is deleting the resource (Timestamp kind).
pub const DELETION_TIMESTAMP: &str = "deletiontimestamp";
/// Orders an agent's status reports (§5.3).
pub const SEQUENCE_ID: &str = "sequenceid";
/// The hash of a reported status (§6.4).
pub const STATUS_HASH: &str = "statushash";
/// The ManifestWork `ObjectMeta` as JSON (§4.3).
pub const METADATA: &str = "metadata";
/// Log-tracing annotations as a JSON object (§3.1).
pub const LOG_TRACING: &str = "logtracing";

/// The `datacontenttype` of every event that has data (§2.1).
pub const JSON_CONTENT_TYPE: &str = "application/json";

/// The CloudEvents type-system kind an extension has as sdk-go stores it (§3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtensionKind {
    /// A string.
    String,
    /// A 32-bit integer on the wire.
    Integer,
    /// An RFC 3339 timestamp.
    Timestamp,
}

/// The kind sdk-go uses for a known work extension; unknown extensions keep whatever kind they
/// arrived with, so callers fall back to the stored value's own kind.
pub fn kind_of(name: &str) -> Option<ExtensionKind> {
    match name {
        RESOURCE_VERSION => Some(ExtensionKind::Integer),
        DELETION_TIMESTAMP => Some(ExtensionKind::Timestamp),
        CLUSTER_NAME | ORIGINAL_SOURCE | RESOURCE_ID | SEQUENCE_ID | STATUS_HASH | METADATA
        | LOG_TRACING => Some(ExtensionKind::String),
        _ => None,
    }
}

/// Why an extension could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtensionError {
    /// A required extension is absent.
    #[error("extension {0:?} is missing")]
    Missing(&'static str),
    /// An extension has a value of another kind.
    #[error("extension {name:?} must be a {expected}, got {got:?}")]
    WrongKind {
        /// The extension.
        name: &'static str,
        /// The kind §3 gives it.
        expected: &'static str,
        /// What was received.
        got: String,
    },
    /// An Integer extension outside the int32 range the wire allows.
    #[error("extension {name:?} value {value} is outside the int32 range")]
    OutOfRange {
        /// The extension.
        name: &'static str,
        /// The value received.
        value: String,
    },
}

/// A String-kind extension. An Integer or Boolean value is an error, as in sdk-go (§3.2).
pub fn string<'e>(event: &'e Event, name: &'static str) -> Result<Option<&'e str>, ExtensionError> {
    match event.extension(name) {
        None => Ok(None),
        Some(ExtensionValue::String(s)) => Ok(Some(s)),
        Some(other) => Err(ExtensionError::WrongKind {
            name,
            expected: "string",
            got: other.to_string(),
        }),
    }
}

/// A String-kind extension that must be present.
pub fn required_string<'e>(
    event: &'e Event,
    name: &'static str,
) -> Result<&'e str, ExtensionError> {
    string(event, name)?.ok_or(ExtensionError::Missing(name))
}

/// An Integer-kind extension (`resourceversion`): an Integer, or a String holding a number,
/// parsed as a float and truncated as Go does, range-checked to int32 (§3.2).
pub fn integer(event: &Event, name: &'static str) -> Result<Option<i64>, ExtensionError> {
    let value = match event.extension(name) {
        None => return Ok(None),
        Some(ExtensionValue::Integer(i)) => *i,
        Some(ExtensionValue::String(s)) => {
            let parsed: f64 = s.trim().parse().map_err(|_| ExtensionError::WrongKind {
                name,
                expected: "integer",
                got: s.clone(),
            })?;
            if !parsed.is_finite()
                || parsed.trunc() < f64::from(i32::MIN)
                || parsed.trunc() > f64::from(i32::MAX)
            {
                return Err(ExtensionError::OutOfRange {
                    name,
                    value: s.clone(),
                });
            }
            parsed.trunc() as i64
        }
        Some(ExtensionValue::Boolean(b)) => {
            return Err(ExtensionError::WrongKind {
                name,
                expected: "integer",
                got: b.to_string(),
            });
        }
    };
    if i32::try_from(value).is_err() {
        return Err(ExtensionError::OutOfRange {
            name,
            value: value.to_string(),
        });
    }
    Ok(Some(value))
}

/// A Timestamp-kind extension (`deletiontimestamp`): an RFC 3339 string, with or without
/// fractional seconds (§3.2).
pub fn timestamp(
    event: &Event,
    name: &'static str,
) -> Result<Option<DateTime<Utc>>, ExtensionError> {
    match event.extension(name) {
        None => Ok(None),
        Some(ExtensionValue::String(s)) => DateTime::parse_from_rfc3339(s)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| ExtensionError::WrongKind {
                name,
                expected: "RFC 3339 timestamp",
                got: s.clone(),
            }),
        Some(other) => Err(ExtensionError::WrongKind {
            name,
            expected: "RFC 3339 timestamp",
            got: other.to_string(),
        }),
    }
}

/// Renders a time as Go's `time.RFC3339Nano` does for UTC: nanoseconds with trailing zeros
/// (and a bare dot) removed, `Z` suffix (§2.1, §3.2).
pub fn format_timestamp(time: &DateTime<Utc>) -> String {
    let full = time.to_rfc3339_opts(SecondsFormat::Nanos, true);
    // "2025-06-01T12:00:00.123456789Z" -> trim zeros of the fraction.
    let Some((head, fraction)) = full.trim_end_matches('Z').split_once('.') else {
        return full;
    };
    let fraction = fraction.trim_end_matches('0');
    if fraction.is_empty() {
        format!("{head}Z")
    } else {
        format!("{head}.{fraction}Z")
    }
}

/// The event's data as bytes, whatever form the SDK holds it in (binary from the MQTT and gRPC
/// bindings, JSON from structured mode).
pub fn data_bytes(event: &Event) -> Option<Cow<'_, [u8]>> {
    match event.data()? {
        Data::Binary(bytes) => Some(Cow::Borrowed(bytes)),
        Data::String(text) => Some(Cow::Borrowed(text.as_bytes())),
        Data::Json(value) => Some(Cow::Owned(serde_json::to_vec(value).unwrap_or_default())),
    }
}

/// The event's `type` attribute.
pub fn type_of(event: &Event) -> &str {
    event.ty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::cloudevents::{EventBuilder as _, EventBuilderV10};

    fn event_with(name: &str, value: impl Into<ExtensionValue>) -> Event {
        EventBuilderV10::new()
            .id("1")
            .source("s")
            .ty("a.b.c.spec.create_request")
            .extension(name, value)
            .build()
            .unwrap()
    }

    #[test]
    fn resource_version_accepts_integer_and_numeric_string() {
        assert_eq!(
            integer(&event_with(RESOURCE_VERSION, 7i64), RESOURCE_VERSION),
            Ok(Some(7))
        );
        assert_eq!(
            integer(&event_with(RESOURCE_VERSION, "7"), RESOURCE_VERSION),
            Ok(Some(7))
        );
        assert_eq!(
            integer(&event_with(RESOURCE_VERSION, "7.9"), RESOURCE_VERSION),
            Ok(Some(7))
        );
        assert!(matches!(
            integer(&event_with(RESOURCE_VERSION, "seven"), RESOURCE_VERSION),
            Err(ExtensionError::WrongKind { .. })
        ));
        assert!(matches!(
            integer(
                &event_with(RESOURCE_VERSION, 2_147_483_648i64),
                RESOURCE_VERSION
            ),
            Err(ExtensionError::OutOfRange { .. })
        ));
        assert!(matches!(
            integer(
                &event_with(RESOURCE_VERSION, "2147483648"),
                RESOURCE_VERSION
            ),
            Err(ExtensionError::OutOfRange { .. })
        ));
    }

    #[test]
    fn string_extensions_refuse_integers() {
        assert!(matches!(
            string(&event_with(CLUSTER_NAME, 1i64), CLUSTER_NAME),
            Err(ExtensionError::WrongKind { .. })
        ));
        assert_eq!(
            string(&event_with(CLUSTER_NAME, ""), CLUSTER_NAME),
            Ok(Some(""))
        );
    }

    #[test]
    fn timestamps_parse_with_and_without_fraction() {
        let whole = timestamp(
            &event_with(DELETION_TIMESTAMP, "2025-06-01T13:30:00Z"),
            DELETION_TIMESTAMP,
        )
        .unwrap()
        .unwrap();
        let nanos = timestamp(
            &event_with(DELETION_TIMESTAMP, "2025-06-01T13:30:00.987654321Z"),
            DELETION_TIMESTAMP,
        )
        .unwrap()
        .unwrap();
        assert_eq!(format_timestamp(&whole), "2025-06-01T13:30:00Z");
        assert_eq!(format_timestamp(&nanos), "2025-06-01T13:30:00.987654321Z");
        let trimmed = DateTime::parse_from_rfc3339("2025-06-01T13:30:00.120Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(format_timestamp(&trimmed), "2025-06-01T13:30:00.12Z");
    }
}
