//! Where a published event goes (docs/protocol.md §8.5, baton's forwarding design): the direction
//! and the addressed parties, derived from the event alone, so the same rules hold with and
//! without authentication.
//!
//! - spec event (not a resync request), source → the agents of `clustername`;
//! - status event (not a resync request), agent → the source named by `originalsource`;
//! - spec `resync_request`, agent → the source in `originalsource`, or all sources when `""`;
//! - status `resync_request`, source → the agents of `clustername`, or all agents when `""`.

use std::sync::Arc;

use ::cloudevents::AttributesReader;

use crate::cloudevents::Event;
use crate::cloudevents::event_type::{Action, DataType, EventType, HEARTBEAT_TYPE, SubResource};
use crate::cloudevents::extensions as ext;

/// Who sent an event, as its type says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    SourceToAgents,
    AgentToSources,
}

/// The parties an event is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Cluster(String),
    AllClusters,
    Source(String),
    AllSources,
}

/// Who a subscription is for: the party a [`Target`] may address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Party {
    Agent { cluster: Arc<str> },
    Source { source: Arc<str> },
}

/// A validated, routable event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub direction: Direction,
    pub data_type: DataType,
    pub target: Target,
    /// The `clustername` extension (`""` on a status resync broadcast).
    pub cluster: String,
    /// A resync request (either direction).
    pub is_resync: bool,
}

impl Route {
    /// An agent's spec resync request: kept for a later source if no source is there now.
    pub fn parks_when_undelivered(&self) -> bool {
        self.direction == Direction::AgentToSources
            && matches!(self.target, Target::AllSources | Target::Source(_))
            && self.is_resync
    }
}

/// Why an event cannot be routed; becomes `InvalidArgument`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    #[error("the heartbeat type is sent by brokers, not published")]
    Heartbeat,
    #[error("invalid event type: {0}")]
    Type(#[from] crate::cloudevents::EventTypeError),
    #[error("invalid extension: {0}")]
    Extension(#[from] ext::ExtensionError),
    #[error("{what} events need a non-empty {name} extension")]
    Empty {
        what: &'static str,
        name: &'static str,
    },
}

/// Classifies `event`; the broker refuses it when this fails.
pub fn classify(event: &Event) -> Result<Route, RouteError> {
    if event.ty() == HEARTBEAT_TYPE {
        return Err(RouteError::Heartbeat);
    }
    let event_type: EventType = event.ty().parse()?;
    let cluster = ext::required_string(event, ext::CLUSTER_NAME)?.to_owned();
    let original_source = ext::string(event, ext::ORIGINAL_SOURCE)?.unwrap_or_default();
    let non_empty = |value: &str, what, name| {
        if value.is_empty() {
            Err(RouteError::Empty { what, name })
        } else {
            Ok(value.to_owned())
        }
    };
    let resync = event_type.action == Action::ResyncRequest;
    let (direction, target) = match (event_type.sub_resource, resync) {
        (SubResource::Spec, false) => (
            Direction::SourceToAgents,
            Target::Cluster(non_empty(&cluster, "spec", ext::CLUSTER_NAME)?),
        ),
        (SubResource::Status, false) => {
            non_empty(&cluster, "status", ext::CLUSTER_NAME)?;
            (
                Direction::AgentToSources,
                Target::Source(non_empty(original_source, "status", ext::ORIGINAL_SOURCE)?),
            )
        }
        (SubResource::Spec, true) => {
            non_empty(&cluster, "spec resync request", ext::CLUSTER_NAME)?;
            let target = match original_source {
                "" => Target::AllSources,
                source => Target::Source(source.to_owned()),
            };
            (Direction::AgentToSources, target)
        }
        (SubResource::Status, true) => {
            let target = match cluster.as_str() {
                "" => Target::AllClusters,
                name => Target::Cluster(name.to_owned()),
            };
            (Direction::SourceToAgents, target)
        }
    };
    Ok(Route {
        direction,
        data_type: event_type.data_type,
        target,
        cluster,
        is_resync: resync,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloudevents::EventBuilder;

    fn event(suffix: &str, cluster: &str, original: &str) -> Event {
        let ty: EventType =
            format!("io.open-cluster-management.works.v1alpha1.manifestbundles.{suffix}")
                .parse()
                .unwrap();
        EventBuilder::new("s", &ty)
            .cluster_name(cluster)
            .original_source(original)
            .build()
            .unwrap()
    }

    #[test]
    fn routes_each_kind_of_event() {
        let target = |suffix, c, o| classify(&event(suffix, c, o)).map(|r| (r.direction, r.target));
        use Direction::*;
        assert_eq!(
            target("spec.create_request", "c1", ""),
            Ok((SourceToAgents, Target::Cluster("c1".into())))
        );
        assert_eq!(
            target("status.update_request", "c1", "hub"),
            Ok((AgentToSources, Target::Source("hub".into())))
        );
        assert_eq!(
            target("spec.resync_request", "c1", ""),
            Ok((AgentToSources, Target::AllSources))
        );
        assert_eq!(
            target("spec.resync_request", "c1", "hub"),
            Ok((AgentToSources, Target::Source("hub".into())))
        );
        assert_eq!(
            target("status.resync_request", "", ""),
            Ok((SourceToAgents, Target::AllClusters))
        );
        assert_eq!(
            target("status.resync_request", "c2", ""),
            Ok((SourceToAgents, Target::Cluster("c2".into())))
        );
    }

    #[test]
    fn refuses_unroutable_events() {
        assert!(matches!(
            classify(&event("spec.create_request", "", "")),
            Err(RouteError::Empty { .. })
        ));
        assert!(matches!(
            classify(&event("status.update_request", "c1", "")),
            Err(RouteError::Empty { .. })
        ));
        assert!(matches!(
            classify(&event("status.update_request", "", "hub")),
            Err(RouteError::Empty { .. })
        ));
    }
}
