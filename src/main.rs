//! The `baton` binary: parse the command line, run the chosen subcommand, map the outcome to an
//! exit code. Everything else lives in the library.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = baton::cli::Cli::parse();
    match baton::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("baton: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
