//! The integration test binary (one binary, a module per behaviour), against real services:
//! PostgreSQL and Mosquitto from `scripts/services`, baton's own gRPC broker on a real socket.

mod grpc_auth;
mod grpc_flow;
mod grpc_harness;
mod grpc_resilience;
mod grpc_vectors;
mod support;
mod vectors;
