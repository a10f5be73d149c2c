//! The sdk-go MQTT topic scheme (docs/protocol.md §7.3–§7.5): the four configured topics, validated
//! once against sdk-go's patterns ([`super::patterns`]), and the publish topics and subscription
//! filters a source or an agent derives from them.
//!
//! Owns topic strings only; knows nothing of the connection or of payloads.

use crate::event_type::{Action, EventType};

pub use super::patterns::{InvalidTopic, InvalidTopics, TopicKey};

/// Why no topic could be derived for an event or a subscription.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// A broadcast is asked for but `topics.sourceBroadcast` is not configured.
    #[error("the source broadcast topic (topics.sourceBroadcast) is not set")]
    NoSourceBroadcast,
    #[error(
        "the topic source {topic_source:?} of topics.agentEvents does not match the source id {source_id:?}"
    )]
    /// The source named in `topics.agentEvents` is not this source.
    SourceMismatch {
        /// The source in the topic.
        topic_source: String,
        /// This source's id.
        source_id: String,
    },
    /// A topic derived for publishing still has a `+` or `#`.
    #[error("derived publish topic {0:?} still contains a wildcard; fix the topics configuration")]
    Wildcard(String),
}

/// The validated topics of one configuration (§7.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    source_events: String,
    agent_events: String,
    source_broadcast: Option<String>,
    agent_broadcast: Option<String>,
}

impl Topics {
    /// Validates the topics against the §7.3 patterns; empty broadcast topics mean "not set".
    pub fn new(
        source_events: impl Into<String>,
        agent_events: impl Into<String>,
        source_broadcast: Option<String>,
        agent_broadcast: Option<String>,
    ) -> Result<Self, InvalidTopics> {
        let topics = Self {
            source_events: source_events.into(),
            agent_events: agent_events.into(),
            source_broadcast: source_broadcast.filter(|t| !t.is_empty()),
            agent_broadcast: agent_broadcast.filter(|t| !t.is_empty()),
        };
        let checks = [
            (TopicKey::SourceEvents, Some(&topics.source_events)),
            (TopicKey::AgentEvents, Some(&topics.agent_events)),
            (TopicKey::SourceBroadcast, topics.source_broadcast.as_ref()),
            (TopicKey::AgentBroadcast, topics.agent_broadcast.as_ref()),
        ];
        let invalid: Vec<InvalidTopic> = checks
            .into_iter()
            .filter_map(|(key, topic)| {
                let topic = topic?;
                (!key.matches(topic)).then(|| InvalidTopic {
                    key,
                    topic: topic.clone(),
                })
            })
            .collect();
        if invalid.is_empty() {
            Ok(topics)
        } else {
            Err(InvalidTopics(invalid))
        }
    }

    /// `topics.sourceEvents`.
    pub fn source_events(&self) -> &str {
        &self.source_events
    }

    /// `topics.agentEvents`.
    pub fn agent_events(&self) -> &str {
        &self.agent_events
    }

    /// `topics.sourceBroadcast`, if configured.
    pub fn source_broadcast(&self) -> Option<&str> {
        self.source_broadcast.as_deref()
    }

    /// `topics.agentBroadcast`, if configured.
    pub fn agent_broadcast(&self) -> Option<&str> {
        self.agent_broadcast.as_deref()
    }

    /// §7.4, source side: where a source publishes `event_type` addressed to `cluster_name`.
    pub fn source_publish_topic(
        &self,
        source_id: &str,
        event_type: &EventType,
        cluster_name: &str,
    ) -> Result<String, RouteError> {
        let topic = if event_type.action == Action::ResyncRequest && cluster_name.is_empty() {
            let broadcast = self
                .source_broadcast
                .as_deref()
                .ok_or(RouteError::NoSourceBroadcast)?;
            replace_first(unshared(broadcast), source_id)
        } else {
            replace_first(unshared(&self.source_events), cluster_name)
        };
        no_wildcard(topic)
    }

    /// §7.4, agent side: where the agent of `cluster_name` publishes `event_type` addressed to
    /// `original_source` (`""` = every source).
    pub fn agent_publish_topic(
        &self,
        cluster_name: &str,
        event_type: &EventType,
        original_source: &str,
    ) -> Result<String, RouteError> {
        let events = unshared(&self.agent_events);
        let topic = if event_type.action == Action::ResyncRequest && original_source.is_empty() {
            match self.agent_broadcast.as_deref() {
                Some(broadcast) => replace_first(unshared(broadcast), cluster_name),
                // sdk-go falls back to the events topic when no broadcast topic is set.
                None => replace_last(events, cluster_name),
            }
        } else {
            replace_last(
                &replace_last(events, cluster_name),
                source_of(&self.agent_events),
            )
        };
        no_wildcard(topic)
    }

    /// §7.5, source side: `agentEvents` and `agentBroadcast` as configured (wildcards and
    /// `$share` kept). Refuses, as sdk-go does, a source id other than the topic's source.
    pub fn source_subscriptions(&self, source_id: &str) -> Result<Vec<String>, RouteError> {
        let topic_source = source_of(&self.agent_events);
        if topic_source != source_id {
            return Err(RouteError::SourceMismatch {
                topic_source: topic_source.to_owned(),
                source_id: source_id.to_owned(),
            });
        }
        let mut filters = vec![self.agent_events.clone()];
        filters.extend(self.agent_broadcast.clone());
        Ok(filters)
    }

    /// §7.5, agent side: its cluster's source events topic, and `sourceBroadcast` as configured.
    pub fn agent_subscriptions(&self, cluster_name: &str) -> Vec<String> {
        let mut filters = vec![replace_last(&self.source_events, cluster_name)];
        filters.extend(self.source_broadcast.clone());
        filters
    }
}

/// `sourceOf(topic)` of §7.3: the source segment of an events topic (may be `+`).
pub fn source_of(topic: &str) -> &str {
    let index = if topic.starts_with("$share") { 3 } else { 1 };
    topic.split('/').nth(index).unwrap_or_default()
}

/// The cluster a topic an agent publishes to names (§7.4): the cluster segment of an
/// `agentevents` topic, the id segment of an `agentbroadcast` one; `None` for any other topic.
/// With per-cluster broker ACLs this is the sender's cluster, whatever its event says.
pub fn sender_cluster(topic: &str) -> Option<&str> {
    let segments: Vec<&str> = unshared(topic).split('/').collect();
    match segments.as_slice() {
        [_, _, _, cluster, "agentevents"] | [_, cluster, "agentbroadcast"] => Some(cluster),
        _ => None,
    }
}

/// Drops a `$share/<group>/` prefix: sharing only applies to subscriptions. sdk-go would
/// publish to the `$share/...` name itself, which no broker accepts (§7.4).
fn unshared(topic: &str) -> &str {
    match topic.strip_prefix("$share/") {
        Some(rest) => rest.split_once('/').map_or(topic, |(_, topic)| topic),
        None => topic,
    }
}

fn replace_first(topic: &str, with: &str) -> String {
    topic.replacen('+', with, 1)
}

fn replace_last(topic: &str, with: &str) -> String {
    match topic.rfind('+') {
        Some(at) => format!("{}{with}{}", &topic[..at], &topic[at + 1..]),
        None => topic.to_owned(),
    }
}

fn no_wildcard(topic: String) -> Result<String, RouteError> {
    if topic.contains(['+', '#']) {
        Err(RouteError::Wildcard(topic))
    } else {
        Ok(topic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sender_cluster_is_the_cluster_segment_of_an_agent_topic() {
        let of = sender_cluster;
        assert_eq!(of("sources/baton/consumers/c1/agentevents"), Some("c1"));
        assert_eq!(of("consumers/c1/agentbroadcast"), Some("c1"));
        assert_eq!(of("sources/baton/consumers/c1/sourceevents"), None);
        assert_eq!(of("sources/baton/sourcebroadcast"), None);
        assert_eq!(of("a/b/agentevents"), None);
    }

    fn sample() -> Topics {
        Topics::new(
            "sources/maestro/consumers/+/sourceevents",
            "sources/maestro/consumers/+/agentevents",
            Some("sources/+/sourcebroadcast".into()),
            Some("consumers/+/agentbroadcast".into()),
        )
        .unwrap()
    }

    fn ty(suffix: &str) -> EventType {
        format!("io.open-cluster-management.works.v1alpha1.manifestbundles.{suffix}")
            .parse()
            .unwrap()
    }

    #[test]
    fn derives_the_protocol_examples() {
        let t = sample();
        let spec = ty("spec.create_request");
        let resync = ty("status.resync_request");
        assert_eq!(
            t.source_publish_topic("maestro", &spec, "cluster1")
                .unwrap(),
            "sources/maestro/consumers/cluster1/sourceevents"
        );
        assert_eq!(
            t.source_publish_topic("maestro", &resync, "").unwrap(),
            "sources/maestro/sourcebroadcast"
        );
        assert_eq!(
            t.agent_publish_topic("cluster1", &ty("status.update_request"), "maestro")
                .unwrap(),
            "sources/maestro/consumers/cluster1/agentevents"
        );
        assert_eq!(
            t.agent_publish_topic("cluster1", &ty("spec.resync_request"), "")
                .unwrap(),
            "consumers/cluster1/agentbroadcast"
        );
    }

    #[test]
    fn broadcast_fallbacks_follow_sdk_go() {
        let t = Topics::new(
            "sources/maestro/consumers/+/sourceevents",
            "sources/maestro/consumers/+/agentevents",
            None,
            Some(String::new()),
        )
        .unwrap();
        assert_eq!(
            t.source_publish_topic("maestro", &ty("status.resync_request"), ""),
            Err(RouteError::NoSourceBroadcast)
        );
        assert_eq!(
            t.agent_publish_topic("cluster1", &ty("spec.resync_request"), "")
                .unwrap(),
            "sources/maestro/consumers/cluster1/agentevents"
        );
        assert_eq!(
            t.agent_subscriptions("cluster1"),
            vec!["sources/maestro/consumers/cluster1/sourceevents"]
        );
    }

    #[test]
    fn shared_subscriptions_keep_their_prefix_but_never_publish_with_it() {
        let t = Topics::new(
            "sources/maestro/consumers/+/sourceevents",
            "$share/hub/sources/maestro/consumers/+/agentevents",
            None,
            Some("$share/hub/consumers/+/agentbroadcast".into()),
        )
        .unwrap();
        assert_eq!(source_of(t.agent_events()), "maestro");
        assert_eq!(
            t.source_subscriptions("maestro").unwrap(),
            vec![
                "$share/hub/sources/maestro/consumers/+/agentevents",
                "$share/hub/consumers/+/agentbroadcast"
            ]
        );
        assert_eq!(
            t.agent_publish_topic("c1", &ty("status.update_request"), "maestro")
                .unwrap(),
            "sources/maestro/consumers/c1/agentevents"
        );
        assert_eq!(
            t.agent_publish_topic("c1", &ty("spec.resync_request"), "")
                .unwrap(),
            "consumers/c1/agentbroadcast"
        );
    }

    #[test]
    fn source_id_must_match_the_agent_events_topic() {
        assert_eq!(
            sample().source_subscriptions("other"),
            Err(RouteError::SourceMismatch {
                topic_source: "maestro".into(),
                source_id: "other".into()
            })
        );
    }

    #[test]
    fn two_wildcards_leave_an_unpublishable_topic() {
        let t = Topics::new(
            "sources/+/consumers/+/sourceevents",
            "sources/+/consumers/+/agentevents",
            None,
            None,
        )
        .unwrap();
        // sdk-go puts the cluster into the first `+` (the source segment).
        assert_eq!(
            t.source_publish_topic("maestro", &ty("spec.create_request"), "c1"),
            Err(RouteError::Wildcard(
                "sources/c1/consumers/+/sourceevents".into()
            ))
        );
        assert!(matches!(
            t.agent_publish_topic("c1", &ty("spec.resync_request"), ""),
            Err(RouteError::Wildcard(_))
        ));
    }

    #[test]
    fn invalid_topics_are_all_named() {
        let err = Topics::new(
            "sources/Maestro/consumers/+/sourceevents",
            "sources/maestro/consumers/+/agentevents",
            Some("sources/+/broadcast".into()),
            None,
        )
        .unwrap_err();
        let keys: Vec<TopicKey> = err.0.iter().map(|i| i.key).collect();
        assert_eq!(
            keys,
            vec![TopicKey::SourceEvents, TopicKey::SourceBroadcast]
        );
        let message = err.to_string();
        assert!(message.contains("invalid source events topic \"sources/Maestro/consumers/+/sourceevents\" (topics.sourceEvents)"), "{message}");
        assert!(message.contains("topics.sourceBroadcast"), "{message}");
    }
}
