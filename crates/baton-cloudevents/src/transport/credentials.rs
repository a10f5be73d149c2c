//! PEM material named in sdk-go's config files (docs/protocol.md §7.2, §8.4): each item is either
//! `<name>Data` (base64 of the PEM, inline) or `<name>File` (a path to the PEM), and `*Data`
//! wins, as in sdk-go. Shared by the MQTT and gRPC config files, which turn [`PemError`] into
//! their own error naming the key. Owns reading and decoding only, not parsing the PEM.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

/// A `*Data` or `*File` value that could not be used; names the key, never the content.
#[derive(Debug, thiserror::Error)]
pub enum PemError {
    /// A `*Data` value is not valid base64.
    #[error("{key} is not valid base64")]
    Base64 {
        /// The config key.
        key: &'static str,
    },
    /// A `*File` could not be read.
    #[error("{key}: reading {path}: {source}")]
    Read {
        /// The config key.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// A `*Data`/`*File` pair of config keys, e.g. `caData`/`caFile`.
#[derive(Debug, Clone, Copy)]
pub struct PemKeys {
    pub data: &'static str,
    pub file: &'static str,
}

pub const CA: PemKeys = PemKeys {
    data: "caData",
    file: "caFile",
};
pub const CLIENT_CERT: PemKeys = PemKeys {
    data: "clientCertData",
    file: "clientCertFile",
};
pub const CLIENT_KEY: PemKeys = PemKeys {
    data: "clientKeyData",
    file: "clientKeyFile",
};

/// The PEM bytes of one item: `data` (base64, white space ignored) if set, else the contents of
/// `file` if set, else `None`. Empty values count as unset, as in sdk-go.
pub fn load(
    keys: PemKeys,
    data: Option<&str>,
    file: Option<&Path>,
) -> Result<Option<Vec<u8>>, PemError> {
    if let Some(data) = data.filter(|d| !d.trim().is_empty()) {
        let compact: String = data.split_whitespace().collect();
        return BASE64
            .decode(compact)
            .map(Some)
            .map_err(|_| PemError::Base64 { key: keys.data });
    }
    match file.filter(|f| !f.as_os_str().is_empty()) {
        Some(path) => std::fs::read(path)
            .map(Some)
            .map_err(|source| PemError::Read {
                key: keys.file,
                path: path.to_owned(),
                source,
            }),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_wins_over_file_and_ignores_white_space() {
        let pem = load(CA, Some(" YW\nJj \n"), Some(Path::new("/nonexistent"))).unwrap();
        assert_eq!(pem.as_deref(), Some(&b"abc"[..]));
    }

    #[test]
    fn file_is_read_when_data_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "pem").unwrap();
        assert_eq!(
            load(CA, Some(""), Some(&path)).unwrap().as_deref(),
            Some(&b"pem"[..])
        );
        assert!(load(CA, None, Some(Path::new(""))).unwrap().is_none());
    }

    #[test]
    fn errors_name_the_key() {
        let err = load(CLIENT_KEY, Some("%%"), None).unwrap_err();
        assert_eq!(err.to_string(), "clientKeyData is not valid base64");
        let err = load(CLIENT_CERT, None, Some(Path::new("/nonexistent/c.pem"))).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("clientCertFile: reading /nonexistent/c.pem"),
            "{err}"
        );
    }
}
