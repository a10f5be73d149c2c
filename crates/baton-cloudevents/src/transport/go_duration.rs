//! Go `time.Duration` values as sdk-go's YAML config files hold them (docs/protocol.md §7.2
//! `dialTimeout`, §8.4 `keepAliveConfig`, `serverHealthinessTimeout`): a Go duration string
//! (`30s`, `1m30s`, `1.5h`, `500ms`) or an integer number of nanoseconds, as yaml.v2 decodes a
//! number into a `time.Duration`. Shared by the MQTT and gRPC config files and the CLI.
//! Owns parsing only; which keys hold durations is each config's business.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// A duration that is not a non-negative Go duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a Go duration (e.g. \"30s\", \"1m30s\") or a non-negative number of nanoseconds"
)]
pub struct InvalidDuration(pub String);

/// Integer nanoseconds, as yaml.v2 decodes a number into a `time.Duration`.
pub fn from_nanos(nanos: i64) -> Result<Duration, InvalidDuration> {
    u64::try_from(nanos)
        .map(Duration::from_nanos)
        .map_err(|_| InvalidDuration(nanos.to_string()))
}

/// Parses Go's `time.ParseDuration` syntax (sign, decimal numbers with units ns/us/µs/ms/s/m/h,
/// or a bare `0`). Negative durations are refused: a timeout cannot be negative.
pub fn parse_go_duration(text: &str) -> Result<Duration, InvalidDuration> {
    let invalid = || InvalidDuration(text.to_owned());
    let mut rest = text.strip_prefix('+').unwrap_or(text);
    if rest.starts_with('-') {
        return Err(invalid());
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(invalid)?;
        let (number, tail) = rest.split_at(number_len);
        if number.is_empty() || number == "." {
            return Err(invalid());
        }
        let value: f64 = number.parse().map_err(|_| invalid())?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(invalid()),
        };
        total += value * scale;
        rest = tail;
    }
    Duration::try_from_secs_f64(total).map_err(|_| invalid())
}

/// A duration as written in a config file: integer nanoseconds or Go syntax.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawDuration {
    Nanos(i64),
    Text(String),
}

impl RawDuration {
    pub(crate) fn parse(&self) -> Result<Duration, InvalidDuration> {
        match self {
            Self::Nanos(n) => from_nanos(*n),
            Self::Text(t) => parse_go_duration(t),
        }
    }
}

/// Serde adapter for an optional Go duration (string or integer nanoseconds).
pub fn deserialize_opt<'de, D: Deserializer<'de>>(de: D) -> Result<Option<Duration>, D::Error> {
    Option::<RawDuration>::deserialize(de)?
        .map(|raw| raw.parse())
        .transpose()
        .map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse_go_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_go_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_go_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_go_duration("0"), Ok(Duration::ZERO));
        assert_eq!(from_nanos(2_000_000_000), Ok(Duration::from_secs(2)));
    }

    #[test]
    fn refuses_garbage_and_negatives() {
        for bad in ["", "30", "s", "-1s", "-5s", "5 s", "5x", "1x", "1..5s"] {
            assert!(parse_go_duration(bad).is_err(), "{bad:?} accepted");
        }
        assert!(from_nanos(-1).is_err());
    }

    #[test]
    fn serde_reads_text_and_nanos() {
        #[derive(Deserialize)]
        struct Holder {
            #[serde(default, deserialize_with = "deserialize_opt")]
            d: Option<Duration>,
        }
        let read = |yaml: &str| serde_yaml_ng::from_str::<Holder>(yaml).map(|h| h.d);
        assert_eq!(read("d: 1m30s\n").unwrap(), Some(Duration::from_secs(90)));
        assert_eq!(
            read("d: 2000000000\n").unwrap(),
            Some(Duration::from_secs(2))
        );
        assert_eq!(read("{}\n").unwrap(), None);
        assert!(read("d: soon\n").is_err());
    }
}
