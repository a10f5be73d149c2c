//! [`open`]: picks the backend from the database URL. A `postgres://` URL is the production
//! store; a `sqlite:` URL, or no URL at all, is the embedded one (no URL: a database file in the
//! data directory, created on first start).

use std::path::Path;
use std::sync::Arc;

use super::postgres::PgStore;
use super::sqlite::SqliteStore;
use super::{Store, StoreError};

/// Where `baton serve` keeps its SQLite database when given no database URL.
pub const DEFAULT_DATA_DIR: &str = "./baton-data";
/// The database file inside the data directory (its lock file is `baton.db.lock`).
pub const SQLITE_FILE: &str = "baton.db";

/// Connects the store `database_url` names, or the SQLite database in `data_dir` when there is
/// none (an empty URL counts as none). Does not migrate: call [`Store::migrate`].
pub async fn open(
    database_url: Option<&str>,
    data_dir: &Path,
    max_connections: u32,
) -> Result<Arc<dyn Store>, StoreError> {
    match database_url.map(str::trim).filter(|url| !url.is_empty()) {
        None => {
            let store =
                SqliteStore::open_file(&data_dir.join(SQLITE_FILE), max_connections).await?;
            Ok(Arc::new(store))
        }
        Some(url) => match check_url(url)? {
            Backend::Postgres => Ok(Arc::new(PgStore::connect(url, max_connections).await?)),
            Backend::Sqlite => Ok(Arc::new(SqliteStore::connect(url, max_connections).await?)),
        },
    }
}

/// The backend a database URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// The backend `database_url` names, checked without connecting (the hub checks its flags
/// before it starts anything).
pub fn check_url(database_url: &str) -> Result<Backend, StoreError> {
    match scheme(database_url) {
        "postgres" | "postgresql" => Ok(Backend::Postgres),
        "sqlite" => Ok(Backend::Sqlite),
        // Only the scheme: the rest may carry a password.
        other => Err(StoreError::UnsupportedUrl(other.to_owned())),
    }
}

fn scheme(url: &str) -> &str {
    url.split_once(':').map_or(url, |(scheme, _)| scheme)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scheme_is_what_precedes_the_first_colon() {
        assert_eq!(scheme("postgres://u:p@h/db"), "postgres");
        assert_eq!(scheme("sqlite::memory:"), "sqlite");
        assert_eq!(scheme("sqlite://data/baton.db"), "sqlite");
        assert_eq!(scheme("nonsense"), "nonsense");
    }

    #[tokio::test]
    async fn unknown_schemes_are_refused_without_echoing_the_url() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = match open(Some("mysql://root:hunter2@h/db"), dir.path(), 1).await {
            Err(err) => err,
            Ok(_) => panic!("mysql accepted"),
        };
        let message = err.to_string();
        assert!(message.contains("\"mysql\""), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
    }
}
