//! TLS to the broker with rustls (ring provider), from the PEM material of the config file
//! (§7.1, §7.2): the CA (`caFile`/`caData`) is added to the system roots, an optional client
//! certificate and key give mutual TLS, and the protocol is fixed to TLS 1.3 as in sdk-go.
//!
//! Difference from sdk-go: sdk-go turns TLS on only when a client certificate *and* key are
//! configured (a CA alone is ignored and the connection is plain TCP). baton turns TLS on when a
//! CA or a client certificate is configured, so a server-authenticated TLS broker works too.
//! A configuration that works with sdk-go works with baton unless it sets a CA for a plain-TCP
//! broker.

use std::fmt;
use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tracing::debug;

/// The PEM material could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{key}: no PEM certificate found")]
    /// The PEM has no certificate.
    NoCertificate {
        /// The config key it came from.
        key: &'static str,
    },
    #[error("{key}: invalid PEM certificate: {reason}")]
    /// A certificate does not parse.
    BadCertificate {
        /// The config key it came from.
        key: &'static str,
        /// Why.
        reason: String,
    },
    #[error("{key}: no usable PEM private key found")]
    /// No private key could be read.
    BadKey {
        /// The config key it came from.
        key: &'static str,
    },
    #[error("{key}: certificate rejected as a trust anchor: {reason}")]
    /// rustls refused a CA certificate.
    BadCa {
        /// The config key it came from.
        key: &'static str,
        /// Why.
        reason: String,
    },
    #[error("building the TLS client configuration failed: {0}")]
    /// rustls refused the configuration; the source is rustls' error.
    Config(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Parsed TLS material; `Debug` never shows the private key.
#[derive(Clone)]
pub struct TlsSettings {
    ca: Vec<CertificateDer<'static>>,
    client: Option<(Vec<CertificateDer<'static>>, Arc<PrivateKeyDer<'static>>)>,
}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSettings")
            .field("ca_certificates", &self.ca.len())
            .field("client_certificate", &self.client.is_some())
            .finish()
    }
}

impl TlsSettings {
    /// Parses the CA bundle and the client certificate/key (all PEM). `None` when neither a CA
    /// nor a client certificate is given: the connection is plain TCP.
    pub fn from_pem(
        ca: Option<&[u8]>,
        client: Option<(&[u8], &[u8])>,
    ) -> Result<Option<Self>, TlsError> {
        if ca.is_none() && client.is_none() {
            return Ok(None);
        }
        let ca = match ca {
            Some(pem) => certificates(pem, "caFile/caData")?,
            None => Vec::new(),
        };
        let client = match client {
            Some((cert, key)) => {
                let chain = certificates(cert, "clientCertFile/clientCertData")?;
                let key = PrivateKeyDer::from_pem_slice(key).map_err(|_| TlsError::BadKey {
                    key: "clientKeyFile/clientKeyData",
                })?;
                Some((chain, Arc::new(key)))
            }
            None => None,
        };
        Ok(Some(Self { ca, client }))
    }

    /// Whether a client certificate (mTLS) is configured.
    pub fn has_client_certificate(&self) -> bool {
        self.client.is_some()
    }

    /// The rustls configuration: TLS 1.3 only, system roots plus the configured CA.
    pub(crate) fn client_config(&self) -> Result<Arc<ClientConfig>, TlsError> {
        let mut roots = RootCertStore::empty();
        let system = rustls_native_certs::load_native_certs();
        if !system.errors.is_empty() {
            debug!(
                errors = system.errors.len(),
                "some system root certificates could not be loaded"
            );
        }
        roots.add_parsable_certificates(system.certs);
        for cert in &self.ca {
            roots.add(cert.clone()).map_err(|err| TlsError::BadCa {
                key: "caFile/caData",
                reason: err.to_string(),
            })?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(rustls_error)?
            .with_root_certificates(roots);
        let config = match &self.client {
            Some((chain, key)) => builder
                .with_client_auth_cert(chain.clone(), key.clone_key())
                .map_err(rustls_error)?,
            None => builder.with_no_client_auth(),
        };
        Ok(Arc::new(config))
    }
}

/// rustls' error as a source only: its type is not part of the SDK's API.
fn rustls_error(err: rustls::Error) -> TlsError {
    TlsError::Config(Box::new(err))
}

fn certificates(pem: &[u8], key: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| TlsError::BadCertificate {
            key,
            reason: err.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate { key });
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_configured_means_plain_tcp() {
        assert!(TlsSettings::from_pem(None, None).unwrap().is_none());
    }

    #[test]
    fn garbage_pem_names_the_key() {
        let err = TlsSettings::from_pem(Some(b"not a certificate"), None).unwrap_err();
        assert!(err.to_string().starts_with("caFile/caData"), "{err}");
    }

    #[test]
    fn a_generated_ca_and_client_pair_build_a_config() {
        let ca = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let pem = ca.cert.pem();
        let key = ca.signing_key.serialize_pem();
        let settings =
            TlsSettings::from_pem(Some(pem.as_bytes()), Some((pem.as_bytes(), key.as_bytes())))
                .unwrap()
                .unwrap();
        assert!(settings.has_client_certificate());
        assert!(!format!("{settings:?}").contains("PRIVATE"));
        settings.client_config().unwrap();
    }
}
