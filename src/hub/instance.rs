//! [`InstanceId`]: the name of one hub process among the replicas serving one database. It
//! makes the replica's MQTT client id unique (the broker drops a client when another connects
//! with the same id) and names the replica in logs. Owns no state and must not reach the store.

use std::fmt;
use std::str::FromStr;

/// A replica's name: `--instance-id`, or 8 random hex digits chosen at start.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InstanceId(String);

/// `--instance-id` was not a short name of letters, digits, `-`, `_` and `.`.
#[derive(Debug, thiserror::Error)]
#[error(
    "--instance-id {0:?}: use 1 to 63 letters, digits, '-', '_' or '.' (it goes into the MQTT client id)"
)]
pub struct InvalidInstanceId(String);

impl InstanceId {
    /// A fresh random id, different for every process.
    pub fn random() -> Self {
        Self(uuid::Uuid::new_v4().simple().to_string()[..8].to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The MQTT client id of this replica: `--mqtt-client-id`, else the config file's
    /// `clientId`, else `<source id>-<instance id>`.
    pub fn mqtt_client_id(
        &self,
        flag: Option<&str>,
        file: Option<&str>,
        source_id: &str,
    ) -> String {
        flag.or(file)
            .map_or_else(|| format!("{source_id}-{self}"), str::to_owned)
    }
}

impl FromStr for InstanceId {
    type Err = InvalidInstanceId;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let valid = (1..=63).contains(&text.len())
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if valid {
            Ok(Self(text.to_owned()))
        } else {
            Err(InvalidInstanceId(text.to_owned()))
        }
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_differ_and_parse_back() {
        let (a, b) = (InstanceId::random(), InstanceId::random());
        assert_ne!(a, b);
        assert_eq!(a.as_str().parse::<InstanceId>().unwrap(), a);
    }

    #[test]
    fn names_are_checked() {
        assert!("hub-0.pod_1".parse::<InstanceId>().is_ok());
        for bad in ["", "a b", "a/b", &"x".repeat(64)] {
            let err = bad.parse::<InstanceId>().unwrap_err().to_string();
            assert!(err.starts_with("--instance-id"), "{err}");
        }
    }

    #[test]
    fn the_flag_wins_then_the_file_then_source_and_instance() {
        let id: InstanceId = "r1".parse().unwrap();
        assert_eq!(id.mqtt_client_id(Some("f"), Some("c"), "baton"), "f");
        assert_eq!(id.mqtt_client_id(None, Some("c"), "baton"), "c");
        assert_eq!(id.mqtt_client_id(None, None, "baton"), "baton-r1");
    }
}
