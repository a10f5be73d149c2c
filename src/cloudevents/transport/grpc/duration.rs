//! Go `time.Duration` values as sdk-go's YAML config files hold them (PROTOCOL.md §8.4): a
//! string such as `30s`, `1m30s`, `1.5h`, `500ms`, or a bare integer of nanoseconds.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// A duration string Go's `time.ParseDuration` would reject (or a negative one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {0:?} (expected e.g. 30s, 1m30s, 500ms)")]
pub struct DurationError(pub String);

/// Parses Go's duration syntax: one or more `<decimal><unit>` with units ns, us, µs, ms, s, m, h;
/// `0` alone is allowed.
pub fn parse_go_duration(text: &str) -> Result<Duration, DurationError> {
    let err = || DurationError(text.to_owned());
    let mut rest = text.trim();
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() || rest.starts_with('-') {
        return Err(err());
    }
    rest = rest.strip_prefix('+').unwrap_or(rest);
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(err)?;
        let number: f64 = rest[..number_len].parse().map_err(|_| err())?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds_per_unit = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(err()),
        };
        total += number * seconds_per_unit;
        rest = &rest[unit_len..];
    }
    Duration::try_from_secs_f64(total).map_err(|_| err())
}

/// Serde adapter for an optional Go duration (string or integer nanoseconds).
pub fn deserialize_opt<'de, D: Deserializer<'de>>(de: D) -> Result<Option<Duration>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Nanos(u64),
        Text(String),
    }
    match Option::<Raw>::deserialize(de)? {
        None => Ok(None),
        Some(Raw::Nanos(n)) => Ok(Some(Duration::from_nanos(n))),
        Some(Raw::Text(t)) => parse_go_duration(&t)
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_duration_forms() {
        let ok = |s: &str| parse_go_duration(s).unwrap();
        assert_eq!(ok("30s"), Duration::from_secs(30));
        assert_eq!(ok("1m30s"), Duration::from_secs(90));
        assert_eq!(ok("500ms"), Duration::from_millis(500));
        assert_eq!(ok("1.5h"), Duration::from_secs(5400));
        assert_eq!(ok("0"), Duration::ZERO);
        for bad in ["", "30", "-1s", "1x", "s"] {
            assert!(parse_go_duration(bad).is_err(), "{bad:?} should fail");
        }
    }
}
