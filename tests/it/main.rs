//! The integration test binary (one binary, a module per behaviour), against real services:
//! PostgreSQL and Mosquitto from `scripts/services`, baton's own gRPC broker on a real socket.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod agent_data_types;
mod api;
mod api_batch;
mod api_bounds;
mod api_list;
mod api_scope;
mod api_text;
mod clients;
mod compose;
mod e2e;
mod grpc_auth;
mod grpc_flow;
mod grpc_harness;
mod grpc_local_source;
mod grpc_resilience;
mod grpc_vectors;
mod ha;
mod harness;
mod http_limits;
mod https;
mod hub_flow;
mod interop;
mod metrics_listener;
mod mqtt;
mod partition;
mod publish_wakeup;
mod readiness;
mod rest;
mod resync_repair;
mod resync_restart;
mod status_skip;
mod store_batch;
mod store_feed;
mod store_fixtures;
mod store_publish;
mod store_records;
mod store_sqlite;
mod store_status_batch;
mod support;
mod tls_reload;
mod vectors;
mod watch;
mod widget;
mod work_client;
mod work_vectors;
