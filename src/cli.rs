//! The command line: one `Cli` with a subcommand per role. Each subcommand's arguments live
//! beside the code that runs it; this module only dispatches and owns the tokio runtime.

use clap::{Parser, Subcommand};

use crate::telemetry::{self, LogFormat};

/// baton: ship Kubernetes manifests to a fleet of clusters as OCM-compatible CloudEvents.
#[derive(Debug, Parser)]
#[command(name = "baton", version, about, long_about = None)]
pub struct Cli {
    /// Log line format (filter with RUST_LOG, e.g. RUST_LOG=baton=debug).
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        env = "BATON_LOG_FORMAT"
    )]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

/// What to run.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the version and the protocol versions this build speaks.
    Version,
    /// Print the hub's OpenAPI document (regenerate the committed copy with
    /// `baton openapi > openapi/openapi.json`).
    Openapi,
}

/// Runs the parsed command line to completion.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    telemetry::init(cli.log_format);
    match cli.command {
        Command::Version => {
            println!(
                "baton {} (OCM sdk-go CloudEvents protocol v1.x, data types manifestbundles and manifests)",
                env!("CARGO_PKG_VERSION")
            );
            Ok(())
        }
        Command::Openapi => {
            println!("{}", crate::hub::api::openapi_json());
            Ok(())
        }
    }
}
