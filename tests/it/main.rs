//! The integration test binary (one binary, a module per behaviour), against real services:
//! PostgreSQL and Mosquitto from `scripts/services`, baton's own gRPC broker on a real socket.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod agent_data_types;
mod api;
mod api_batch;
mod api_bounds;
mod api_list;
mod api_text;
mod cli;
mod clients;
mod compose;
mod e2e;
mod grpc_auth;
mod grpc_flow;
mod grpc_harness;
mod grpc_limits;
mod grpc_local_source;
mod grpc_resilience;
mod grpc_vectors;
mod ha;
mod harness;
mod http_limits;
mod https;
mod hub_flow;
mod interop;
mod maestro;
mod mqtt;
mod partition;
mod publish_wakeup;
mod readiness;
mod redelivery;
mod rest;
mod resync_repair;
mod resync_restart;
mod source_api;
mod status_ownership;
mod status_queries;
mod status_skip;
mod store_batch;
mod store_feed;
mod store_fixtures;
mod store_ids;
mod store_publish;
mod store_records;
mod store_sqlite;
mod store_status_batch;
mod support;
mod ui;
mod vectors;
mod watch;
mod watch_load;
mod watch_status;
mod widget;
mod work_client;
mod work_vectors;
