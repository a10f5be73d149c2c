//! MQTT v5 transport, wire-compatible with sdk-go's MQTT clients (docs/protocol.md §7, C17–C20).
//!
//! - [`config`]: the sdk-go/Maestro config file (§7.2) and its checks.
//! - [`patterns`], [`topics`]: topic validation (§7.3), publish topics and subscription filters
//!   (§7.4, §7.5).
//! - [`binding`]: CloudEvent ⇄ PUBLISH, binary mode out, binary and structured in (§7.6, §7.7).
//! - [`tls`]: rustls client configuration (§7.1).
//! - [`MqttTransport`] (`transport`): the [`crate::Transport`] implementation;
//!   one task (`connection`) owns the rumqttc event loop, `acks` matches publishes to PUBACKs.
//!
//! Must not decode payloads (codecs do) or know the hub, the store or HTTP.

mod acks;
pub mod binding;
pub mod config;
mod connection;
pub mod patterns;
mod session;
pub mod tls;
pub mod topics;
mod transport;

use std::time::Duration;

pub use config::{BrokerAddress, ConfigError, MqttConfig, Qos};
pub use session::{ConnectionState, MisaddressedHook};
pub use topics::{RouteError, Topics};
pub use transport::{MqttTransport, MqttTransportBuilder};

/// Errors of the MQTT transport outside the [`crate::TransportError`] contract.
#[derive(Debug, thiserror::Error)]
pub enum MqttError {
    /// The config is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The topics give no route for the role.
    #[error(transparent)]
    Route(#[from] RouteError),
    /// The TLS material is unusable.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// `build` was called outside a tokio runtime.
    #[error("the MQTT transport must be built inside a tokio runtime")]
    NoRuntime,
    #[error("not connected to the MQTT broker {broker}: {last_error}")]
    /// The broker could not be reached (`wait_connected`).
    NotConnected {
        /// The broker's address.
        broker: String,
        /// The last connection error, without credentials.
        last_error: String,
    },
    /// The broker did not acknowledge a publish in time.
    #[error("the broker did not acknowledge the publish within {0:?}")]
    AckTimeout(Duration),
    /// The transport is closed.
    #[error("the MQTT transport is closed")]
    Closed,
}
