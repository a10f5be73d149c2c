//! `baton bench <scenario>`: load scenarios that measure the hub against Maestro's published
//! figures and the machine's own limits (issue 11, docs/benchmarks.md).
//!
//! Each scenario starts what it needs: a fresh PostgreSQL database ([`env::BenchDb`]), the hub
//! as a child process of this binary ([`env::HubProcess`]), simulated agents in a child process
//! of their own ([`agents_process`]) or in this one ([`env::start_agents`]); it prints a table
//! and one JSON line ([`report::Report`]).
//! Must not assert on speed: a benchmark reports, the smoke test only checks it runs.
//!
//! - [`create`]: REST create throughput and latency;
//! - [`applied`]: REST 201 → first status stored, at a fixed rate across many clusters;
//! - [`list`]: paging through 600 × 49 KB bundles;
//! - [`resync`]: every agent restarts without state at once; time until all is back;
//! - [`idle`]: hub RSS per connected cluster;
//! - [`limit`]: the raw PostgreSQL insert rate for the same rows, or for what one applied
//!   create costs the database through the hub's store ([`e2e_rows`]): the ceiling of `create`;
//! - [`grpc_source`]: create → applied through REST and through the gRPC source API driven by
//!   sdk-go's source client, with its default publish limiter and raised;
//! - [`sdk`]: the SDK's source and work-agent pair through the whole lifecycle over MQTT,
//!   beside sdk-go's own pair ([`sdk_go`], the Go program built by [`go`]);
//! - [`watch`]: 1,000 watchers at 500 changes/s (commit → event delay), and the
//!   `condition=Applied=False` list over 100,000 resources.

pub mod agents_process;
pub mod applied;
pub mod args;
pub mod common;
pub mod create;
pub mod e2e_rows;
pub mod env;
pub mod go;
pub mod grpc_source;
pub mod idle;
pub mod limit;
pub mod list;
pub mod payload;
pub mod procstat;
pub mod report;
pub mod rest;
pub mod resync;
pub mod scrape;
pub mod sdk;
pub mod sdk_go;
pub mod stats;
pub mod watch;

pub use args::{BenchArgs, run};
