//! The part of the Compose file format the stack uses, read with serde (the schema itself is
//! checked by `scripts/check-compose`): short-form ports and volumes, list-form commands and
//! healthchecks, long-form `depends_on`. Also where a container path comes from on the host.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct Compose {
    pub services: BTreeMap<String, Service>,
    #[serde(default)]
    pub volumes: BTreeMap<String, serde_yaml_ng::Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Service {
    /// The build context (short form).
    pub build: Option<String>,
    pub image: Option<String>,
    #[serde(default)]
    pub command: Vec<String>,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    #[serde(default)]
    pub ports: Vec<String>,
    #[serde(default)]
    pub volumes: Vec<String>,
    pub healthcheck: Option<Healthcheck>,
    #[serde(default)]
    pub depends_on: BTreeMap<String, Dependency>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Healthcheck {
    #[serde(default)]
    pub test: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Dependency {
    pub condition: String,
}

/// One short-form mount `source:target[:mode]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mount {
    /// `./path` in the repository.
    Bind {
        source: String,
        target: String,
    },
    Named {
        volume: String,
        target: String,
    },
    /// Anything else (absolute host paths, malformed entries).
    Other(String),
}

impl Mount {
    pub fn parse(spec: &str) -> Self {
        let parts: Vec<&str> = spec.split(':').collect();
        match parts.as_slice() {
            [source, target, ..] if source.starts_with("./") => Self::Bind {
                source: (*source).into(),
                target: (*target).into(),
            },
            [volume, target, ..]
                if !volume.is_empty() && !volume.starts_with('/') && !volume.starts_with('.') =>
            {
                Self::Named {
                    volume: (*volume).into(),
                    target: (*target).into(),
                }
            }
            _ => Self::Other(spec.into()),
        }
    }
}

impl Service {
    pub fn mounts(&self) -> impl Iterator<Item = Mount> + '_ {
        self.volumes.iter().map(|v| Mount::parse(v))
    }

    /// The repository file a container path is bind-mounted from, if any.
    pub fn host_path(&self, root: &Path, container: &Path) -> Option<PathBuf> {
        self.mounts().find_map(|m| match m {
            Mount::Bind { source, target } => {
                container
                    .strip_prefix(&target)
                    .ok()
                    .map(|rest| match rest.as_os_str().is_empty() {
                        true => root.join(source.trim_start_matches("./")),
                        false => root.join(source.trim_start_matches("./")).join(rest),
                    })
            }
            _ => None,
        })
    }

    /// Published `(host ip, host port)` pairs of `[ip:]host:container` entries, with the
    /// container port; `Err` names an entry that does not have that shape.
    pub fn published(&self) -> Vec<Result<(String, u16, u16), String>> {
        self.ports
            .iter()
            .map(|spec| {
                let parts: Vec<&str> = spec.split(':').collect();
                let (ip, host, container) = match parts.as_slice() {
                    [host, container] => ("0.0.0.0", *host, *container),
                    [ip, host, container] => (*ip, *host, *container),
                    _ => return Err(spec.clone()),
                };
                let container = container.split('/').next().unwrap_or(container);
                match (host.parse(), container.parse()) {
                    (Ok(host), Ok(container)) => Ok((ip.to_owned(), host, container)),
                    _ => Err(spec.clone()),
                }
            })
            .collect()
    }

    pub fn healthcheck_text(&self) -> String {
        self.healthcheck
            .as_ref()
            .map(|h| h.test.join(" "))
            .unwrap_or_default()
    }
}

/// `postgres://user:password@host:port/database`, split.
#[derive(Debug, PartialEq, Eq)]
pub struct PgUrl {
    pub user: String,
    pub password: String,
    pub host: String,
    pub database: String,
}

impl PgUrl {
    pub fn parse(url: &str) -> Option<Self> {
        let rest = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))?;
        let (credentials, rest) = rest.split_once('@')?;
        let (user, password) = credentials.split_once(':')?;
        let (host_port, database) = rest.split_once('/')?;
        let host = host_port.split(':').next()?;
        Some(Self {
            user: user.into(),
            password: password.into(),
            host: host.into(),
            database: database.split('?').next()?.into(),
        })
    }
}
