//! The options every scenario takes ([`Common`]: transport, store, services, the hub's pool
//! and writers) and the duration syntax of their flags. Must not know any scenario.

use std::time::Duration;

/// How specs reach the agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    Grpc,
    Mqtt,
}

/// Which store the hub runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    Postgres,
    Sqlite,
}

/// Options every scenario takes.
#[derive(Debug, Clone, clap::Args)]
pub struct Common {
    /// Transport between the hub and the agents.
    #[arg(long, value_enum, default_value = "grpc")]
    pub transport: TransportKind,

    /// The hub's store (sqlite: a file in the hub's temporary directory).
    #[arg(long, value_enum, default_value = "postgres")]
    pub store: StoreKind,

    /// PostgreSQL server (a fresh database is created on it per run); without it and without
    /// DATABASE_URL, `scripts/services` is run and its exports read.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// MQTT broker host:port for --transport mqtt (default from scripts/services).
    #[arg(long, env = "MQTT_BROKER_HOST")]
    pub mqtt_broker_host: Option<String>,

    /// The hub's database pool size (`baton serve --db-max-connections`).
    #[arg(long, default_value_t = 16)]
    pub hub_db_connections: u32,

    /// The hub's concurrent status writers (`baton serve --status-writers`; 1 = one at a time).
    #[arg(long, default_value_t = 8)]
    pub hub_status_writers: usize,

    /// Hub replicas on the one database (docs/ha.md; PostgreSQL only). REST calls go to them
    /// round-robin; each agent is given every replica's broker and starts at one at random.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=16))]
    pub replicas: u16,
}

/// `500ms`, `10s`, `2m`, or a plain number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?}: expected e.g. 500ms, 10s or 2m"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        other => return Err(format!("{text:?}: unknown unit {other:?} (ms, s or m)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("{text:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_and_without_units() {
        assert_eq!(parse_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("3h").is_err());
        assert!(parse_duration("x").is_err());
    }
}
