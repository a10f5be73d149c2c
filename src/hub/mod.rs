//! The hub service (`baton serve`): the REST API over the store, the publisher that delivers
//! committed changes to agents, the status handler that writes their reports back, the gRPC
//! source API for Maestro's clients (`source_api`), and the wiring that starts them with the
//! built-in broker or MQTT.

pub mod api;
pub mod config;
pub mod connections;
pub mod consumer_watch;
pub mod convert;
pub mod create_batcher;
pub mod error;
pub mod fleet;
pub mod health;
pub mod heap_trim;
pub mod http_server;
pub mod instance;
pub mod lease;
pub mod lister;
pub mod metrics;
pub mod publish_cursor;
pub mod publisher;
pub mod serve;
pub mod service;
pub mod source_api;
pub mod state;
pub mod status;
pub mod status_shards;
pub mod status_skip;
pub mod tls;
pub mod watch;
