//! The MQTT transport (PROTOCOL.md §7) against a private Mosquitto per test.

mod broker;
mod clients;
mod fixtures;
mod restart;
mod shared;
mod wire;
mod tls;
mod vectors;
mod config_files;
