//! The integration test binary (one binary, a module per behaviour), against real services:
//! PostgreSQL and Mosquitto from `scripts/services`, baton's own gRPC broker on a real socket.

mod mqtt;
mod support;
mod vectors;
