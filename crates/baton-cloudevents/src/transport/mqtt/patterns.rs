//! The topic patterns of sdk-go (docs/protocol.md §7.3): which configured topic is which, and the
//! check, done once at load time, that each matches its pattern. An error names the key, the
//! topic and the pattern, as sdk-go's does.

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

/// sdk-go `MQTTSourceEventsTopicPattern` (§7.3).
pub const SOURCE_EVENTS_PATTERN: &str =
    r"^(\$share/[a-z0-9-]+/)?([a-z]+)/([a-z0-9-]+|\+)/([a-z]+)/([a-z0-9-]+|\+)/sourceevents$";
/// sdk-go `MQTTAgentEventsTopicPattern` (§7.3).
pub const AGENT_EVENTS_PATTERN: &str =
    r"^(\$share/[a-z0-9-]+/)?([a-z]+)/([a-z0-9-]+|\+)/([a-z]+)/([a-z0-9-]+|\+)/agentevents$";
/// sdk-go `MQTTSourceBroadcastTopicPattern` (§7.3).
pub const SOURCE_BROADCAST_PATTERN: &str =
    r"^(\$share/[a-z0-9-]+/)?([a-z]+)/([a-z0-9-]+|\+)/sourcebroadcast$";
/// sdk-go `MQTTAgentBroadcastTopicPattern` (§7.3).
pub const AGENT_BROADCAST_PATTERN: &str =
    r"^(\$share/[a-z0-9-]+/)?([a-z]+)/([a-z0-9-]+|\+)/agentbroadcast$";

fn compile(pattern: &str) -> Regex {
    // The patterns are constants, exercised by the unit tests below.
    #[allow(clippy::expect_used)]
    Regex::new(pattern).expect("constant topic pattern compiles")
}

static REGEXES: LazyLock<[Regex; 4]> = LazyLock::new(|| {
    [
        compile(SOURCE_EVENTS_PATTERN),
        compile(AGENT_EVENTS_PATTERN),
        compile(SOURCE_BROADCAST_PATTERN),
        compile(AGENT_BROADCAST_PATTERN),
    ]
});

/// One of the four configured topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicKey {
    /// `topics.sourceEvents`: where sources publish specs to agents.
    SourceEvents,
    /// `topics.agentEvents`: where agents publish status to sources.
    AgentEvents,
    /// `topics.sourceBroadcast`: resync requests from a source to every agent.
    SourceBroadcast,
    /// `topics.agentBroadcast`: resync requests from an agent to every source.
    AgentBroadcast,
}

impl TopicKey {
    /// The key under `topics:` in the config file.
    pub fn key(self) -> &'static str {
        match self {
            Self::SourceEvents => "sourceEvents",
            Self::AgentEvents => "agentEvents",
            Self::SourceBroadcast => "sourceBroadcast",
            Self::AgentBroadcast => "agentBroadcast",
        }
    }

    fn description(self) -> &'static str {
        match self {
            Self::SourceEvents => "source events",
            Self::AgentEvents => "agent events",
            Self::SourceBroadcast => "source broadcast",
            Self::AgentBroadcast => "agent broadcast",
        }
    }

    /// The sdk-go regular expression the topic must match.
    pub fn pattern(self) -> &'static str {
        match self {
            Self::SourceEvents => SOURCE_EVENTS_PATTERN,
            Self::AgentEvents => AGENT_EVENTS_PATTERN,
            Self::SourceBroadcast => SOURCE_BROADCAST_PATTERN,
            Self::AgentBroadcast => AGENT_BROADCAST_PATTERN,
        }
    }

    /// Whether `topic` matches the pattern.
    pub fn matches(self, topic: &str) -> bool {
        REGEXES[self as usize].is_match(topic)
    }
}

/// A configured topic that does not match its sdk-go pattern.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {} topic {topic:?} (topics.{}), it should match `{}`",
    .key.description(), .key.key(), .key.pattern())]
pub struct InvalidTopic {
    /// Which topic.
    pub key: TopicKey,
    /// The topic as configured.
    pub topic: String,
}

/// Every invalid topic of a configuration, as sdk-go aggregates them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct InvalidTopics(pub Vec<InvalidTopic>);

impl fmt::Display for InvalidTopics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let messages: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&messages.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_accept_the_sdk_go_layout_and_shared_prefixes() {
        assert!(TopicKey::SourceEvents.matches("sources/maestro/consumers/+/sourceevents"));
        assert!(
            TopicKey::AgentEvents.matches("$share/hub-1/sources/maestro/consumers/+/agentevents")
        );
        assert!(TopicKey::SourceBroadcast.matches("sources/+/sourcebroadcast"));
        assert!(TopicKey::AgentBroadcast.matches("consumers/+/agentbroadcast"));
        assert!(!TopicKey::AgentEvents.matches("sources/maestro/consumers/+/sourceevents"));
        assert!(!TopicKey::SourceEvents.matches("sources/maestro/consumers/#/sourceevents"));
        assert!(!TopicKey::AgentBroadcast.matches("consumers/Cluster1/agentbroadcast"));
    }
}
