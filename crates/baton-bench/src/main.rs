//! `baton-bench`, the load generator behind `baton bench` (docs/benchmarks.md): parses the
//! scenario and runs it. The hub under test is this same binary run as `baton-bench hub serve
//! ...` (the `baton` command line, linked in as a library), so a benchmark never picks up a
//! stale `baton` binary from elsewhere.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Load scenarios that measure the baton hub against Maestro's published figures and against
/// this machine's own limits. Each starts what it needs (a fresh PostgreSQL database, the hub,
/// simulated agents), prints a table and one JSON line. Build with --release for figures.
#[derive(Debug, Parser)]
#[command(name = "baton bench", version, about, long_about = None)]
struct Cli {
    /// Log line format (filter with RUST_LOG; default level warn).
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        env = "BATON_LOG_FORMAT"
    )]
    log_format: baton::telemetry::LogFormat,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    #[command(flatten)]
    Scenario(baton_bench::args::Scenario),
    /// The hub under test: the rest of the line is a `baton` command line (`hub serve ...`).
    #[command(hide = true, disable_help_flag = true)]
    Hub {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Hub { args } => {
            let line = std::iter::once(OsString::from("baton")).chain(args);
            baton::cli::run(baton::cli::Cli::parse_from(line))
        }
        Command::Scenario(scenario) => {
            baton::telemetry::init_with_default(cli.log_format, "warn");
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .map_err(anyhow::Error::from)
                .and_then(|runtime| {
                    runtime.block_on(baton_bench::run(baton_bench::BenchArgs { scenario }))
                })
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("baton bench: {err:#}");
            ExitCode::FAILURE
        }
    }
}
