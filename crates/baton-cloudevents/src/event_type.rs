//! Event type strings (docs/protocol.md §2.2–§2.5): `<group>.<version>.<resource>.<spec|status>.<action>`.
//!
//! Parsed once at the edge into [`EventType`]; rendered back with `Display`. The group contains
//! dots, so parsing works from the right, as sdk-go's `ParseCloudEventsType` does.

use std::fmt;
use std::str::FromStr;

/// The type of the heartbeat messages a gRPC broker sends (§2.5). Matched exactly, before any
/// attempt to parse a type string.
pub const HEARTBEAT_TYPE: &str = "io.open-cluster-management.cloudevents.heartbeat";

/// Why a type string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventTypeError {
    /// Fewer than the five dot-separated parts of an event type.
    #[error("event type {0:?} has fewer than 5 dot-separated parts")]
    TooFewParts(String),
    /// Fewer than the three parts of a data type (`group.version.resource`).
    #[error("data type {0:?} has fewer than 3 dot-separated parts")]
    DataTypeTooFewParts(String),
    /// The sub-resource is neither `spec` nor `status`.
    #[error("event type {event_type:?} has subresource {sub_resource:?}, expected spec or status")]
    BadSubResource {
        /// The whole event type.
        event_type: String,
        /// The part read as the sub-resource.
        sub_resource: String,
    },
    /// A part between two dots is empty.
    #[error("event type {0:?} has an empty part")]
    EmptyPart(String),
}

/// `group.version.resource`, e.g. `io.open-cluster-management.works.v1alpha1.manifestbundles`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DataType {
    /// The API group, e.g. `io.open-cluster-management.works` (may contain dots).
    pub group: String,
    /// The version, e.g. `v1alpha1`.
    pub version: String,
    /// The resource, e.g. `manifestbundles`.
    pub resource: String,
}

impl DataType {
    /// A data type from its three parts.
    pub fn new(
        group: impl Into<String>,
        version: impl Into<String>,
        resource: impl Into<String>,
    ) -> Self {
        Self {
            group: group.into(),
            version: version.into(),
            resource: resource.into(),
        }
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.group, self.version, self.resource)
    }
}

impl FromStr for DataType {
    type Err = EventTypeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.rsplitn(3, '.');
        let (Some(resource), Some(version), Some(group)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(EventTypeError::DataTypeTooFewParts(s.to_owned()));
        };
        if resource.is_empty() || version.is_empty() || group.is_empty() {
            return Err(EventTypeError::EmptyPart(s.to_owned()));
        }
        Ok(Self::new(group, version, resource))
    }
}

/// Which half of a resource an event is about (§1.2): spec flows source → agent, status back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubResource {
    /// The desired state, sent by sources.
    Spec,
    /// The reported state, sent by agents.
    Status,
}

impl SubResource {
    /// `spec` or `status`, as in the event type.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Spec => "spec",
            Self::Status => "status",
        }
    }
}

impl fmt::Display for SubResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The last part of a type string (§2.3). The parser does not validate actions; an unknown one
/// is kept as [`Action::Other`] and receivers treat it like an update.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Action {
    /// A new resource.
    CreateRequest,
    /// A changed resource (or, for status, a new report).
    UpdateRequest,
    /// A resource being deleted.
    DeleteRequest,
    /// A resync request (§6).
    ResyncRequest,
    /// An answer to a resync request (spec, §6.5).
    ResyncResponse,
    /// A watch request (Maestro's gRPC sources).
    WatchRequest,
    /// Any other action, kept as received.
    Other(String),
}

impl Action {
    /// The action as it appears in the event type.
    pub fn as_str(&self) -> &str {
        match self {
            Self::CreateRequest => "create_request",
            Self::UpdateRequest => "update_request",
            Self::DeleteRequest => "delete_request",
            Self::ResyncRequest => "resync_request",
            Self::ResyncResponse => "resync_response",
            Self::WatchRequest => "watch_request",
            Self::Other(other) => other,
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "create_request" => Self::CreateRequest,
            "update_request" => Self::UpdateRequest,
            "delete_request" => Self::DeleteRequest,
            "resync_request" => Self::ResyncRequest,
            "resync_response" => Self::ResyncResponse,
            "watch_request" => Self::WatchRequest,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed event type: data type, subresource and action.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventType {
    /// What the event carries.
    pub data_type: DataType,
    /// Spec or status.
    pub sub_resource: SubResource,
    /// What happened.
    pub action: Action,
}

impl EventType {
    /// An event type from its parts.
    pub fn new(data_type: DataType, sub_resource: SubResource, action: Action) -> Self {
        Self {
            data_type,
            sub_resource,
            action,
        }
    }

    /// True for `resync_request`, the only action receivers treat specially (§2.3).
    pub fn is_resync_request(&self) -> bool {
        self.action == Action::ResyncRequest
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{}.{}",
            self.data_type, self.sub_resource, self.action
        )
    }
}

impl FromStr for EventType {
    type Err = EventTypeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split('.').collect();
        if parts.len() < 5 {
            return Err(EventTypeError::TooFewParts(s.to_owned()));
        }
        if parts.iter().any(|p| p.is_empty()) {
            return Err(EventTypeError::EmptyPart(s.to_owned()));
        }
        let n = parts.len();
        let sub_resource = match parts[n - 2] {
            "spec" => SubResource::Spec,
            "status" => SubResource::Status,
            other => {
                return Err(EventTypeError::BadSubResource {
                    event_type: s.to_owned(),
                    sub_resource: other.to_owned(),
                });
            }
        };
        Ok(Self {
            data_type: DataType::new(parts[..n - 4].join("."), parts[n - 4], parts[n - 3]),
            sub_resource,
            action: Action::parse(parts[n - 1]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUNDLE_STATUS: &str =
        "io.open-cluster-management.works.v1alpha1.manifestbundles.status.update_request";

    #[test]
    fn multi_dot_group_round_trips() {
        let parsed: EventType = BUNDLE_STATUS.parse().unwrap();
        assert_eq!(parsed.data_type.group, "io.open-cluster-management.works");
        assert_eq!(parsed.data_type.version, "v1alpha1");
        assert_eq!(parsed.data_type.resource, "manifestbundles");
        assert_eq!(parsed.sub_resource, SubResource::Status);
        assert_eq!(parsed.action, Action::UpdateRequest);
        assert_eq!(parsed.to_string(), BUNDLE_STATUS);
    }

    #[test]
    fn unknown_action_is_kept() {
        let parsed: EventType = "a.b.c.spec.frobnicate".parse().unwrap();
        assert_eq!(parsed.action, Action::Other("frobnicate".into()));
        assert_eq!(parsed.to_string(), "a.b.c.spec.frobnicate");
    }

    #[test]
    fn bad_type_strings_are_refused_with_the_reason() {
        assert_eq!(
            "a.b.spec.create_request".parse::<EventType>(),
            Err(EventTypeError::TooFewParts(
                "a.b.spec.create_request".into()
            ))
        );
        assert!(matches!(
            "a.b.c.specs.create_request".parse::<EventType>(),
            Err(EventTypeError::BadSubResource { sub_resource, .. }) if sub_resource == "specs"
        ));
        assert!(matches!(
            "a..c.spec.create_request".parse::<EventType>(),
            Err(EventTypeError::EmptyPart(_))
        ));
        assert!(HEARTBEAT_TYPE.parse::<EventType>().is_err());
    }

    #[test]
    fn data_type_parses_from_the_right() {
        let dt: DataType = "cluster.open-cluster-management.io.v1.managedclusters"
            .parse()
            .unwrap();
        assert_eq!(dt.group, "cluster.open-cluster-management.io");
        assert_eq!(dt.resource, "managedclusters");
        assert!("a.b".parse::<DataType>().is_err());
    }
}
