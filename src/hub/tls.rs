//! HTTPS for the REST API: the rustls server configuration over a reloadable certificate
//! (`crate::tls`); the handshake runs per connection in [`super::http_server`].

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;

use crate::tls::{CertFiles, MinTlsVersion, ReloadingCert, TlsError};

/// The REST API's TLS: the configuration its handshakes use, and the certificate behind it
/// (whose watcher `serve` starts).
#[derive(Debug, Clone)]
pub struct HttpTls {
    pub config: Arc<ServerConfig>,
    pub cert: Arc<ReloadingCert>,
}

/// A server TLS configuration from PEM files (certificate chain, private key).
pub fn server_config(cert: &Path, key: &Path, min: MinTlsVersion) -> Result<HttpTls, TlsError> {
    let files = CertFiles {
        cert: cert.to_owned(),
        key: key.to_owned(),
        cert_flag: "--http-tls-cert",
        key_flag: "--http-tls-key",
    };
    let provider = crate::tls::provider();
    let cert = ReloadingCert::load(files, provider.clone())?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(min.versions())?
        .with_no_client_auth()
        .with_cert_resolver(cert.clone());
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(HttpTls {
        config: Arc::new(config),
        cert,
    })
}
