//! [`ClusterName`]: a managed cluster's name as it travels on the wire (the `clustername`
//! extension, §3) and in MQTT topics (§7.3). Parsed once where it enters; trusted afterwards.
//! Must not know what a hub does with a cluster (consumers, rows): only the name's grammar.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A managed cluster's name: a DNS-1123 label (lower-case alphanumerics and `-`, starting and
/// ending alphanumeric, at most 63 characters). It is a segment of MQTT topics (§7.3), so
/// nothing else is allowed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClusterName(String);

/// A string that is not a DNS-1123 label, so not a [`ClusterName`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a DNS-1123 label (1-63 lower-case letters, digits or '-', starting and ending with a letter or digit)"
)]
pub struct InvalidClusterName(pub String);

impl FromStr for ClusterName {
    type Err = InvalidClusterName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
        let edges_ok =
            |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if (1..=63).contains(&s.len())
            && s.chars().all(ok_char)
            && edges_ok(s.chars().next())
            && edges_ok(s.chars().last())
        {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidClusterName(s.to_owned()))
        }
    }
}

impl TryFrom<String> for ClusterName {
    type Error = InvalidClusterName;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<ClusterName> for String {
    fn from(name: ClusterName) -> Self {
        name.0
    }
}

impl ClusterName {
    /// The name as text (what goes on the wire).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClusterName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_names_are_dns_labels() {
        for good in ["cluster1", "a", "prod-eu-1", &"x".repeat(63)] {
            assert!(good.parse::<ClusterName>().is_ok(), "{good}");
        }
        for bad in [
            "",
            "Cluster1",
            "-a",
            "a-",
            "a_b",
            "a.b",
            &"x".repeat(64),
            "a/b",
        ] {
            assert!(bad.parse::<ClusterName>().is_err(), "{bad}");
        }
    }

    #[test]
    fn serde_parses_a_cluster_name_and_writes_it_back_as_a_string() {
        let name: ClusterName = serde_json::from_str(r#""prod-eu-1""#).unwrap();
        assert_eq!(name.as_str(), "prod-eu-1");
        assert_eq!(serde_json::to_string(&name).unwrap(), r#""prod-eu-1""#);
        assert!(serde_json::from_str::<ClusterName>(r#""Prod""#).is_err());
    }
}
