//! The simulated cluster: the Kubernetes objects the reference agent has "applied", keyed like
//! the API server keys them, each remembering which work owns it. Persisted (one JSON file,
//! replaced atomically) so a restarted agent has its real state back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Where an object lives: what the API server would key it by.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ObjectKey {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub resource: String,
    pub namespace: String,
    pub name: String,
}

impl ObjectKey {
    /// The key of a manifest (apiVersion, kind, metadata.namespace/name); `None` if it has none.
    pub fn of(manifest: &Value) -> Option<Self> {
        let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_owned();
        let api_version = text(manifest.get("apiVersion"));
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g.to_owned(), v.to_owned()),
            None => (String::new(), api_version),
        };
        let kind = text(manifest.get("kind"));
        let metadata = manifest.get("metadata");
        let name = text(metadata.and_then(|m| m.get("name")));
        if kind.is_empty() || name.is_empty() {
            return None;
        }
        Some(Self {
            group,
            version,
            resource: crate::work::codec::manifests::guess_resource(&kind),
            kind,
            namespace: text(metadata.and_then(|m| m.get("namespace"))),
            name,
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Applied {
    owner: String,
    object: Value,
}

/// Why the cluster state could not be saved or loaded.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cluster state {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cluster state {path} is corrupt: {source}")]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
}

#[derive(Debug, Default)]
pub struct SimulatedCluster {
    objects: BTreeMap<ObjectKey, Applied>,
    file: Option<PathBuf>,
}

impl SimulatedCluster {
    /// An empty cluster kept in memory only.
    pub fn in_memory() -> Self {
        Self::default()
    }

    /// The cluster persisted at `dir/cluster.json`, loaded if it exists.
    pub async fn open(dir: &Path) -> Result<Self, ClusterError> {
        let file = dir.join("cluster.json");
        let io = |source| ClusterError::Io {
            path: file.clone(),
            source,
        };
        tokio::fs::create_dir_all(dir).await.map_err(io)?;
        let objects = match tokio::fs::read(&file).await {
            Ok(bytes) => {
                let list: Vec<(ObjectKey, Applied)> =
                    serde_json::from_slice(&bytes).map_err(|source| ClusterError::Corrupt {
                        path: file.clone(),
                        source,
                    })?;
                list.into_iter().collect()
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(err) => return Err(io(err)),
        };
        Ok(Self {
            objects,
            file: Some(file),
        })
    }

    /// Makes `objects` the set owned by `owner`: applies them and removes what it owned before
    /// but no longer lists.
    pub async fn apply(
        &mut self,
        owner: &str,
        objects: Vec<(ObjectKey, Value)>,
    ) -> Result<(), ClusterError> {
        let keep: std::collections::HashSet<&ObjectKey> = objects.iter().map(|(k, _)| k).collect();
        self.objects
            .retain(|key, applied| applied.owner != owner || keep.contains(key));
        for (key, object) in objects {
            self.objects.insert(
                key,
                Applied {
                    owner: owner.to_owned(),
                    object,
                },
            );
        }
        self.save().await
    }

    /// Removes what `owner` applied, except the objects `orphan` keeps; those stay, unowned.
    pub async fn remove(
        &mut self,
        owner: &str,
        orphan: impl Fn(&ObjectKey) -> bool,
    ) -> Result<(), ClusterError> {
        self.objects
            .retain(|key, applied| applied.owner != owner || orphan(key));
        for (key, applied) in self.objects.iter_mut() {
            if applied.owner == owner && orphan(key) {
                applied.owner.clear();
            }
        }
        self.save().await
    }

    pub fn get(&self, key: &ObjectKey) -> Option<&Value> {
        self.objects.get(key).map(|a| &a.object)
    }

    pub fn len(&self) -> usize {
        self.objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    async fn save(&self) -> Result<(), ClusterError> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let io = |source| ClusterError::Io {
            path: file.clone(),
            source,
        };
        let list: Vec<(&ObjectKey, &Applied)> = self.objects.iter().collect();
        let bytes = serde_json::to_vec(&list).map_err(|source| ClusterError::Corrupt {
            path: file.clone(),
            source,
        })?;
        let tmp = file.with_extension("json.tmp");
        tokio::fs::write(&tmp, bytes).await.map_err(io)?;
        tokio::fs::rename(&tmp, file).await.map_err(io)
    }
}
