//! Optional persistence of the agent's work store: one JSON file per work in a directory, so a
//! restarted agent resyncs from what it really holds (§6.1, §6.2) instead of from nothing.
//! Writes go to a temporary file renamed into place, so a crash never leaves half a work.

use std::path::{Path, PathBuf};

use tracing::warn;

use crate::work::model::ManifestWork;

/// A persistence failure.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    /// Reading or writing the directory failed.
    #[error("state directory {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A work could not be rendered as JSON.
    #[error("cannot render work {id} for the state directory: {source}")]
    Render {
        /// Its resource id.
        id: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
}

/// The directory the store keeps its works in.
#[derive(Debug, Clone)]
pub struct StateDir {
    path: PathBuf,
}

impl StateDir {
    /// Uses (and creates) `path`.
    pub async fn open(path: impl Into<PathBuf>) -> Result<Self, PersistError> {
        let path = path.into();
        tokio::fs::create_dir_all(&path)
            .await
            .map_err(|source| io(&path, source))?;
        Ok(Self { path })
    }

    /// Every readable work in the directory; unreadable files are logged and skipped (the
    /// spec resync brings such works back from the source).
    pub async fn load(&self) -> Result<Vec<ManifestWork>, PersistError> {
        let mut entries = tokio::fs::read_dir(&self.path)
            .await
            .map_err(|source| io(&self.path, source))?;
        let mut works = Vec::new();
        while let Some(entry) = entries
            .next_entry()
            .await
            .map_err(|source| io(&self.path, source))?
        {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let parsed = tokio::fs::read(&path)
                .await
                .map_err(|e| e.to_string())
                .and_then(|bytes| {
                    serde_json::from_slice::<ManifestWork>(&bytes).map_err(|e| e.to_string())
                });
            match parsed {
                Ok(work) => works.push(work),
                Err(err) => warn!(path = %path.display(), %err, "skipping unreadable work file"),
            }
        }
        works.sort_by(|a, b| a.metadata.uid.cmp(&b.metadata.uid));
        Ok(works)
    }

    /// Writes `work` to its file, atomically (a temporary file renamed).
    pub async fn save(&self, work: &ManifestWork) -> Result<(), PersistError> {
        let id = &work.metadata.uid;
        let bytes = serde_json::to_vec_pretty(work).map_err(|source| PersistError::Render {
            id: id.clone(),
            source,
        })?;
        let target = self.file_of(id);
        let temporary = target.with_extension("json.tmp");
        tokio::fs::write(&temporary, bytes)
            .await
            .map_err(|source| io(&temporary, source))?;
        tokio::fs::rename(&temporary, &target)
            .await
            .map_err(|source| io(&target, source))
    }

    /// Deletes the file of work `id`, if any.
    pub async fn remove(&self, id: &str) -> Result<(), PersistError> {
        let target = self.file_of(id);
        match tokio::fs::remove_file(&target).await {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(io(&target, err)),
            _ => Ok(()),
        }
    }

    /// Resource ids are opaque: ids that are not plain file names are hex-encoded.
    fn file_of(&self, id: &str) -> PathBuf {
        let plain = !id.is_empty()
            && !id.starts_with('.')
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        let name = if plain {
            format!("{id}.json")
        } else {
            format!("x-{}.json", hex::encode(id))
        };
        self.path.join(name)
    }
}

fn io(path: &Path, source: std::io::Error) -> PersistError {
    PersistError::Io {
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn works_survive_a_reopen_and_odd_ids_get_safe_names() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path()).await.unwrap();
        let mut a = ManifestWork::default();
        a.metadata.uid = "03f36550-d4de-565a-b59e-268477dbea7f".into();
        a.metadata.generation = 3;
        let mut b = ManifestWork::default();
        b.metadata.uid = "../etc/passwd".into();
        state.save(&a).await.unwrap();
        state.save(&b).await.unwrap();
        std::fs::write(dir.path().join("garbage.json"), b"{not json").unwrap();

        let reopened = StateDir::open(dir.path()).await.unwrap();
        let loaded = reopened.load().await.unwrap();
        assert_eq!(loaded, vec![b.clone(), a.clone()]);
        assert!(
            dir.path()
                .join(format!("x-{}.json", hex::encode("../etc/passwd")))
                .exists()
        );

        reopened.remove(&a.metadata.uid).await.unwrap();
        reopened.remove("never-saved").await.unwrap();
        assert_eq!(reopened.load().await.unwrap(), vec![b]);
    }
}
