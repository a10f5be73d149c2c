//! Logging set-up shared by every subcommand: `tracing` to stderr, filtered by `RUST_LOG`
//! (default `info`), as plain text or JSON lines. Colours only when stderr is a terminal, so
//! redirected logs (files, `docker logs`, CI) carry no ANSI escape codes.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

/// Output format of the log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Installs the global subscriber. Safe to call more than once (later calls are no-ops), so
/// tests that start several components in one process do not fight over it.
pub fn init(format: LogFormat) {
    init_with_default(format, "info");
}

/// [`init`] with another filter when `RUST_LOG` is unset (`baton bench`: `warn`, because its
/// thousands of simulated agents would otherwise spend the machine on "applied work" lines).
pub fn init_with_default(format: LogFormat, default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _already_set = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
