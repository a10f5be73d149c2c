//! The MQTT transport (docs/protocol.md §7) against a private Mosquitto per test.

// Test helpers unwrap like the tests they serve (clippy.toml only exempts `#[test]` fns).
#![allow(clippy::unwrap_used)]

pub mod broker;
mod clients;
mod config_files;
mod fixtures;
mod restart;
mod shared;
mod tls;
mod vectors;
mod wire;
