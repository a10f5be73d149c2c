//! The `baton` client commands (`apply`, `get`, `describe`, `watch`, `wait`, `delete`,
//! `consumers`, `config`): a kubectl-style command line over the hub's REST API, the same API
//! every user has.
//!
//! Owns the client's config file (contexts), the HTTP client, reading YAML/JSON manifests and
//! the terminal output (tables, JSON/YAML, progress). Must not import the store or the hub's
//! services: it reaches a hub only over HTTP. The API's own request and response types
//! (`hub::api::views`, `hub::error::ErrorBody`) are the contract it shares with the server.

pub mod args;
pub mod config;
pub mod error;
pub mod http;
pub mod input;
pub mod output;

mod apply;
mod consumers;
mod resources;
mod watch;

use std::future::Future;

use args::ClientCommand;
pub use error::ClientError;

/// Runs one client command to completion; `stop` (Ctrl-C) ends a watch cleanly.
pub async fn run(
    command: ClientCommand,
    stop: impl Future<Output = ()> + Send,
) -> Result<(), ClientError> {
    match command {
        ClientCommand::Config(args) => config::run(args),
        ClientCommand::Apply(args) => apply::run(&http::Hub::connect(&args.conn)?, args).await,
        ClientCommand::Get(args) => {
            resources::get(&http::Hub::connect(&args.conn)?, args.what).await
        }
        ClientCommand::Describe(args) => {
            resources::describe(&http::Hub::connect(&args.conn)?, args.what).await
        }
        ClientCommand::Delete(args) => {
            resources::delete(&http::Hub::connect(&args.conn)?, args.what).await
        }
        ClientCommand::Wait(args) => resources::wait(&http::Hub::connect(&args.conn)?, args).await,
        ClientCommand::Watch(args) => {
            watch::run(&http::Hub::connect(&args.conn)?, args.what, stop).await
        }
        ClientCommand::Consumers(args) => {
            consumers::run(&http::Hub::connect(&args.conn)?, args.command).await
        }
    }
}
