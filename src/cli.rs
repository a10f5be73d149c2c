//! The command line: one `Cli` with a subcommand per role. Each subcommand's arguments live
//! beside the code that runs it; this module only dispatches and owns the tokio runtime and
//! the process's signals (each `run` is handed a shutdown future).

use clap::{CommandFactory as _, Parser, Subcommand};

use crate::hub::config::HubConfig;
use crate::telemetry::{self, LogFormat};

/// baton: ship Kubernetes manifests to a fleet of clusters as OCM-compatible CloudEvents.
#[derive(Debug, Parser)]
#[command(name = "baton", version, about, long_about = None, after_help = EXIT_CODES)]
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

/// Documented in `--help` and docs/cli.md.
const EXIT_CODES: &str =
    "Exit codes: 0 ok, 1 error (the message says which), 2 usage (bad flags or arguments).";

/// What to run.
#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once at start-up; boxing buys nothing
pub enum Command {
    /// Run the hub: the REST API on an embedded SQLite database (default, in --data-dir) or
    /// PostgreSQL (--database-url), publishing to agents over the built-in gRPC broker
    /// (default) or MQTT, writing their status back.
    ///
    /// Every change is committed to the database first and delivered to its agent afterwards,
    /// even across broker outages and hub restarts. See README.md for a walkthrough.
    Serve(crate::hub::config::ServeArgs),
    /// Run a reference agent that plays one managed cluster (or N, with --simulate): applies
    /// manifest bundles into a simulated cluster and reports status like the OCM work agent.
    ///
    /// Fault injection for tests and demos, per manifest: the annotation
    /// baton.io/simulate-apply-error: REASON makes the apply fail (Applied=False with that
    /// reason); baton.io/simulate-apply-delay-ms: MS delays it.
    Agent(crate::agent::args::AgentArgs),
    /// Apply the database migrations and exit (`baton serve` also applies them on start).
    Migrate(crate::hub::serve::MigrateArgs),
    /// Print the version and the protocol versions this build speaks.
    Version,
    /// Print the hub's OpenAPI document (regenerate the committed copy with
    /// `baton openapi > openapi/openapi.json`).
    Openapi,
    /// Run the gRPC CloudEvents broker alone (the hub embeds the same broker).
    ///
    /// Routes spec events from sources to the agents of their cluster, status events from
    /// agents to the source named by `originalsource`, and resync requests to one or all
    /// parties. Compatible with OCM sdk-go gRPC clients (subscription-id header, heartbeats).
    ///
    /// Authentication is off unless --token-file or --client-ca is given. Then a caller is a
    /// token's identity, or a client certificate's CN (user) and O (groups). Group
    /// `baton:agents`: the user is a cluster name; it may subscribe and publish only for that
    /// cluster. Group `baton:sources`: the user is a source id; it may act only as that source.
    /// Group `baton:admins`: anything. Details: docs/broker.md.
    Broker(crate::broker::args::BrokerArgs),
    /// Run a benchmark scenario against a hub it starts (docs/benchmarks.md); prints a table
    /// and one JSON line. Runs the `baton-bench` binary from this binary's directory (build it
    /// with `cargo build --release -p baton-bench`): the product carries no load generator.
    #[command(disable_help_flag = true)]
    Bench {
        /// The scenario and its options (`baton bench --help` lists them).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
    #[command(flatten)]
    Client(crate::client::args::ClientCommand),
    /// Print a shell completion script, e.g. `baton completion bash > /etc/bash_completion.d/baton`.
    Completion {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Runs the parsed command line to completion.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    // `baton-bench` sets up its own logging.
    match cli.command {
        Command::Bench { .. } => {}
        // Client output is for people and scripts: only warnings go to stderr.
        Command::Client(_) => telemetry::init_with_default(cli.log_format, "warn"),
        _ => telemetry::init(cli.log_format),
    }
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
        Command::Broker(args) => {
            runtime()?.block_on(crate::broker::args::run(args, shutdown_signal()))
        }
        Command::Serve(args) => {
            // Every flag is checked before anything starts.
            let config = HubConfig::try_from(args)?;
            runtime()?.block_on(crate::hub::serve::run(config, shutdown_signal()))
        }
        Command::Agent(args) => {
            runtime()?.block_on(crate::agent::args::run(args, shutdown_signal()))
        }
        Command::Migrate(args) => runtime()?.block_on(crate::hub::serve::migrate(args)),
        Command::Bench { args } => run_bench(args),
        Command::Client(command) => {
            Ok(runtime()?.block_on(crate::client::run(command, shutdown_signal()))?)
        }
        Command::Completion { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "baton", &mut std::io::stdout());
            Ok(())
        }
    }
}

/// Replaces this process with `baton-bench` from the same directory (a separate crate, so the
/// hub's library and image carry no load generator).
fn run_bench(args: Vec<std::ffi::OsString>) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    let bench = exe.with_file_name(format!("baton-bench{}", std::env::consts::EXE_SUFFIX));
    if !bench.exists() {
        anyhow::bail!(
            "`baton bench` runs {}, which is not built: run `cargo build --release -p baton-bench` \
             (or `cargo run --release -p baton-bench -- <scenario>`)",
            bench.display()
        );
    }
    let mut command = std::process::Command::new(&bench);
    command.args(args);
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let err = command.exec();
        Err(anyhow::anyhow!("cannot run {}: {err}", bench.display()))
    }
    #[cfg(not(unix))]
    {
        let status = command.status()?;
        std::process::exit(status.code().unwrap_or(1));
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Resolves on Ctrl-C or (Unix) SIGTERM: the one place signals are handled; every `run` takes
/// the future and stops when it resolves.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::warn!(%err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(err) => {
                tracing::warn!(%err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
