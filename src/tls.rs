//! TLS for every listener (the REST API, the built-in broker): the certificate and key read
//! from PEM files into a [`ReloadingCert`] that the handshakes resolve through, so a renewed
//! certificate is served without a restart (on SIGHUP, and when the files change), and the
//! lowest protocol version a listener accepts ([`MinTlsVersion`]).
//! Owns PEM loading and the reload watcher. Must not know a listener's protocol (ALPN, client
//! authentication: the listener's own config) nor spawn outside the tracker it is given.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How often the watcher looks at the files (a Kubernetes secret update swaps a symlink:
/// polling the content's metadata sees it where inotify on the old file would not).
pub const POLL: Duration = Duration::from_secs(1);

/// The lowest TLS version a listener accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum MinTlsVersion {
    /// TLS 1.2 and 1.3.
    #[default]
    #[value(name = "1.2")]
    Tls12,
    /// TLS 1.3 only.
    #[value(name = "1.3")]
    Tls13,
}

static TLS13_ONLY: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];

impl MinTlsVersion {
    pub fn versions(self) -> &'static [&'static rustls::SupportedProtocolVersion] {
        match self {
            Self::Tls12 => rustls::DEFAULT_VERSIONS,
            Self::Tls13 => TLS13_ONLY,
        }
    }
}

/// Why a certificate or key could not be loaded; `flag` names the option it came from.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{flag} {}: {reason}", path.display())]
    File {
        flag: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("{cert_flag} / {key_flag}: {reason}")]
    Pair {
        cert_flag: &'static str,
        key_flag: &'static str,
        reason: String,
    },
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// The PEM files of a certificate chain and its key, and the flags that named them.
#[derive(Debug, Clone)]
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub cert_flag: &'static str,
    pub key_flag: &'static str,
}

impl CertFiles {
    fn file_err(flag: &'static str, path: &Path, reason: String) -> TlsError {
        TlsError::File {
            flag,
            path: path.to_owned(),
            reason,
        }
    }

    /// Reads and checks the pair: a chain, a key, and the key belonging to the chain's leaf.
    pub fn load(&self, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
        let cert_pem = std::fs::read(&self.cert)
            .map_err(|e| Self::file_err(self.cert_flag, &self.cert, e.to_string()))?;
        let chain = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                Self::file_err(
                    self.cert_flag,
                    &self.cert,
                    format!("not PEM certificates: {e}"),
                )
            })?;
        if chain.is_empty() {
            return Err(Self::file_err(
                self.cert_flag,
                &self.cert,
                "no certificate in the file".into(),
            ));
        }
        let key_pem = std::fs::read(&self.key)
            .map_err(|e| Self::file_err(self.key_flag, &self.key, e.to_string()))?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
            Self::file_err(
                self.key_flag,
                &self.key,
                format!("not a PEM private key: {e}"),
            )
        })?;
        CertifiedKey::from_der(chain, key, provider).map_err(|e| TlsError::Pair {
            cert_flag: self.cert_flag,
            key_flag: self.key_flag,
            reason: e.to_string(),
        })
    }

    /// What changes when either file is replaced (modification time and length of each).
    fn stamp(&self) -> Option<[(SystemTime, u64); 2]> {
        let one = |p: &Path| {
            std::fs::metadata(p)
                .ok()
                .and_then(|m| Some((m.modified().ok()?, m.len())))
        };
        Some([one(&self.cert)?, one(&self.key)?])
    }
}

/// The certificate a listener serves, replaced in place by [`ReloadingCert::reload`]: a
/// handshake takes the one current when it starts.
#[derive(Debug)]
pub struct ReloadingCert {
    files: CertFiles,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
}

impl ReloadingCert {
    /// Loads the pair once; an error here stops the start (a bad reload later only logs).
    pub fn load(files: CertFiles, provider: Arc<CryptoProvider>) -> Result<Arc<Self>, TlsError> {
        let current = RwLock::new(Arc::new(files.load(&provider)?));
        Ok(Arc::new(Self {
            files,
            provider,
            current,
        }))
    }

    /// Reads the files again; a pair that does not load leaves the current one served.
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = Arc::new(self.files.load(&self.provider)?);
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = fresh;
        Ok(())
    }

    fn reload_logged(&self, why: &str) {
        match self.reload() {
            Ok(()) => {
                tracing::info!(cert = %self.files.cert.display(), why, "TLS certificate reloaded")
            }
            Err(err) => {
                tracing::warn!(%err, why, "TLS certificate not reloaded; serving the previous one");
            }
        }
    }

    /// Reloads on SIGHUP and whenever the files change, until `stop`.
    pub fn spawn_watcher(self: &Arc<Self>, tasks: &TaskTracker, stop: &CancellationToken) {
        let (cert, stop) = (self.clone(), stop.clone());
        // Registered before returning: from then on a SIGHUP reloads instead of ending the
        // process (its default action).
        #[cfg(unix)]
        let mut hangup =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        tasks.spawn(async move {
            let mut seen = cert.files.stamp();
            let mut poll = tokio::time::interval(POLL);
            loop {
                #[cfg(unix)]
                let hup = async {
                    match hangup.as_mut() {
                        Some(signal) => signal.recv().await,
                        None => std::future::pending().await,
                    }
                };
                #[cfg(not(unix))]
                let hup = std::future::pending::<Option<()>>();
                tokio::select! {
                    () = stop.cancelled() => return,
                    _ = hup => cert.reload_logged("SIGHUP"),
                    _ = poll.tick() => {
                        let now = cert.files.stamp();
                        if now.is_some() && now != seen {
                            seen = now;
                            cert.reload_logged("files changed");
                        }
                    }
                }
            }
        });
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
        )
    }
}

/// The crypto provider of every listener (ring, as the rest of the tree).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pair(dir: &Path, name: &str) -> CertFiles {
        let certified = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert, certified.cert.pem()).unwrap();
        std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
        CertFiles {
            cert,
            key,
            cert_flag: "--cert",
            key_flag: "--key",
        }
    }

    fn leaf(cert: &ReloadingCert) -> Vec<u8> {
        cert.current.read().unwrap().cert[0].to_vec()
    }

    #[test]
    fn a_reload_serves_the_new_pair_and_a_broken_one_keeps_the_old() {
        let dir = tempfile::tempdir().unwrap();
        let files = write_pair(dir.path(), "one.test");
        let cert = ReloadingCert::load(files.clone(), provider()).unwrap();
        let first = leaf(&cert);
        write_pair(dir.path(), "two.test");
        cert.reload().unwrap();
        let second = leaf(&cert);
        assert_ne!(first, second);
        std::fs::write(&files.key, "not a key").unwrap();
        let err = cert.reload().unwrap_err().to_string();
        assert!(err.starts_with("--key"), "{err}");
        assert_eq!(leaf(&cert), second);
    }

    #[test]
    fn a_key_of_another_certificate_is_refused_naming_both_flags() {
        let dir = tempfile::tempdir().unwrap();
        let files = write_pair(dir.path(), "one.test");
        let other = tempfile::tempdir().unwrap();
        let stranger = write_pair(other.path(), "two.test");
        let mixed = CertFiles {
            key: stranger.key,
            ..files
        };
        let err = mixed.load(&provider()).unwrap_err().to_string();
        assert!(err.starts_with("--cert / --key"), "{err}");
    }
}
