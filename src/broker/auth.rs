//! Authentication and authorization (docs/protocol.md §8.9, adapted; C26). Authentication: a bearer
//! token in `authorization` metadata looked up in the token file, else a verified client
//! certificate (user = CN, groups = O). The groups give the identity its role:
//! `baton:agents` (an agent of the cluster named by the user), `baton:sources` (the source
//! whose id is the user), `baton:admins` (anything). Authorization: an agent may subscribe and
//! publish only for its own cluster, a source only as its own source id, each only in its own
//! direction. With no auth configured every request is allowed. The token file's table
//! ([`TokenTable`]) lives here, beside the identities it maps tokens to.

use std::collections::HashMap;
use std::path::Path;

use crate::cloudevents::log_limit::LogLimit;
use serde::Deserialize;
use tonic::Request;
use tonic::metadata::MetadataMap;
use tracing::warn;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::error::{BrokerError, RequestError};
use super::route::{Direction, Route};

pub const AGENTS_GROUP: &str = "baton:agents";
pub const SOURCES_GROUP: &str = "baton:sources";
pub const ADMINS_GROUP: &str = "baton:admins";

/// An authenticated caller.
/// Per-request warnings any client can trigger: at a bounded rate.
static UNKNOWN_TOKEN: LogLimit = LogLimit::per_event();
static NO_CREDENTIALS: LogLimit = LogLimit::per_event();

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user: String,
    pub groups: Vec<String>,
}

impl Identity {
    pub fn new(user: impl Into<String>, groups: Vec<String>) -> Self {
        Self {
            user: user.into(),
            groups,
        }
    }

    fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }
}

/// What a caller may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// Authentication is off: everything is allowed.
    Anyone,
    Admin(String),
    Agent {
        cluster: String,
    },
    Source {
        source: String,
    },
    /// Authenticated, but in no baton group: may do nothing.
    NoRole(String),
}

impl Principal {
    pub fn of(identity: &Identity) -> Self {
        if identity.in_group(ADMINS_GROUP) {
            Self::Admin(identity.user.clone())
        } else if identity.in_group(AGENTS_GROUP) {
            Self::Agent {
                cluster: identity.user.clone(),
            }
        } else if identity.in_group(SOURCES_GROUP) {
            Self::Source {
                source: identity.user.clone(),
            }
        } else {
            Self::NoRole(identity.user.clone())
        }
    }
}

/// Turns request credentials into a [`Principal`].
#[derive(Debug, Clone)]
pub struct Authenticator {
    tokens: Option<TokenTable>,
    mtls: bool,
}

impl Authenticator {
    pub fn new(tokens: Option<TokenTable>, mtls: bool) -> Self {
        Self { tokens, mtls }
    }

    pub fn enabled(&self) -> bool {
        self.tokens.is_some() || self.mtls
    }

    /// The caller of `request`; `Unauthenticated` for a bad token or no credentials.
    pub fn authenticate<T>(&self, request: &Request<T>) -> Result<Principal, RequestError> {
        if !self.enabled() {
            return Ok(Principal::Anyone);
        }
        if let Some(token) = bearer(request.metadata())? {
            let identity = self
                .tokens
                .as_ref()
                .and_then(|table| table.identity(token))
                .ok_or_else(|| {
                    if let Some(suppressed) = UNKNOWN_TOKEN.allow() {
                        warn!(suppressed, "refused a request with an unknown bearer token");
                    }
                    RequestError::Unauthenticated("invalid bearer token".into())
                })?;
            return Ok(Principal::of(identity));
        }
        if self.mtls
            && let Some(identity) = certificate_identity(request)
        {
            return Ok(Principal::of(&identity));
        }
        if let Some(suppressed) = NO_CREDENTIALS.allow() {
            warn!(suppressed, "refused a request without credentials");
        }
        Err(RequestError::Unauthenticated(
            "no credentials: send a bearer token or a client certificate".into(),
        ))
    }
}

/// The token of `authorization: Bearer <token>` (the prefix is optional, as in sdk-go).
fn bearer(metadata: &MetadataMap) -> Result<Option<&str>, RequestError> {
    let Some(value) = metadata.get("authorization") else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| RequestError::Unauthenticated("unreadable authorization metadata".into()))?;
    Ok(Some(value.strip_prefix("Bearer ").unwrap_or(value)))
}

/// CN and O of the first verified client certificate.
fn certificate_identity<T>(request: &Request<T>) -> Option<Identity> {
    let certs = request.peer_certs()?;
    let (_, cert) = X509Certificate::from_der(certs.first()?.as_ref()).ok()?;
    let subject = cert.subject();
    let user = subject.iter_common_name().next()?.as_str().ok()?.to_owned();
    let groups = subject
        .iter_organization()
        .filter_map(|o| o.as_str().ok().map(str::to_owned))
        .collect();
    Some(Identity::new(user, groups))
}

/// May `principal` subscribe as `{source, cluster_name}`?
pub fn authorize_subscribe(
    principal: &Principal,
    source: &str,
    cluster_name: &str,
) -> Result<(), RequestError> {
    let allowed = match principal {
        Principal::Anyone | Principal::Admin(_) => true,
        Principal::Agent { cluster } => source.is_empty() && cluster_name == cluster,
        Principal::Source { source: own } => cluster_name.is_empty() && source == own,
        Principal::NoRole(_) => false,
    };
    deny_unless(allowed, principal, || {
        format!("subscribe as source {source:?} / cluster {cluster_name:?}")
    })
}

/// May `principal` publish an event sent as `sender` and routed as `route`?
pub fn authorize_publish(
    principal: &Principal,
    sender: &str,
    route: &Route,
) -> Result<(), RequestError> {
    let allowed = match principal {
        Principal::Anyone | Principal::Admin(_) => true,
        Principal::Agent { cluster } => {
            route.direction == Direction::AgentToSources && &route.cluster == cluster
        }
        Principal::Source { source } => {
            route.direction == Direction::SourceToAgents && sender == source
        }
        Principal::NoRole(_) => false,
    };
    deny_unless(allowed, principal, || {
        format!(
            "publish {:?} for cluster {:?} as {sender:?}",
            route.direction, route.cluster
        )
    })
}

fn deny_unless(
    allowed: bool,
    principal: &Principal,
    what: impl FnOnce() -> String,
) -> Result<(), RequestError> {
    if allowed {
        return Ok(());
    }
    let what = what();
    warn!(?principal, what, "permission denied");
    Err(RequestError::Denied(format!(
        "{principal:?} may not {what}"
    )))
}

/// Bearer tokens and the identity each one stands for. The file format (YAML):
///
/// ```yaml
/// tokens:
///   - token: "agent-secret-1"
///     user: cluster1
///     groups: ["baton:agents"]
///   - token: "hub-secret"
///     user: maestro
///     groups: ["baton:sources"]
/// ```
#[derive(Clone, Default)]
pub struct TokenTable {
    by_token: HashMap<String, Identity>,
}

impl std::fmt::Debug for TokenTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the tokens themselves.
        f.debug_struct("TokenTable")
            .field("entries", &self.by_token.len())
            .finish()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenFile {
    tokens: Vec<TokenEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenEntry {
    token: String,
    user: String,
    #[serde(default)]
    groups: Vec<String>,
}

impl TokenTable {
    pub fn load(path: &Path) -> Result<Self, BrokerError> {
        let text = std::fs::read(path).map_err(|source| BrokerError::Read {
            what: "token file",
            path: path.to_owned(),
            source,
        })?;
        Self::from_yaml(&String::from_utf8_lossy(&text))
    }

    pub fn from_yaml(text: &str) -> Result<Self, BrokerError> {
        let file: TokenFile = serde_yaml_ng::from_str(text).map_err(BrokerError::TokenFile)?;
        let mut table = Self::default();
        for entry in file.tokens {
            table.insert(entry.token, Identity::new(entry.user, entry.groups))?;
        }
        Ok(table)
    }

    /// Adds one token (surrounding whitespace is not part of it).
    pub fn insert(&mut self, token: String, identity: Identity) -> Result<(), BrokerError> {
        let token = token.trim().to_owned();
        if token.is_empty() {
            return Err(BrokerError::EmptyToken(identity.user));
        }
        if let Some(existing) = self.by_token.get(&token) {
            return Err(BrokerError::DuplicateToken(
                existing.user.clone(),
                identity.user,
            ));
        }
        self.by_token.insert(token, identity);
        Ok(())
    }

    pub(crate) fn identity(&self, token: &str) -> Option<&Identity> {
        self.by_token.get(token.trim())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::route::Target;
    use crate::cloudevents::DataType;

    fn route(direction: Direction, cluster: &str) -> Route {
        Route {
            direction,
            data_type: "a.b.c".parse::<DataType>().unwrap(),
            target: Target::AllSources,
            cluster: cluster.into(),
            is_resync: false,
        }
    }

    #[test]
    fn agents_and_sources_are_confined_to_their_own_names() {
        let agent = Principal::of(&Identity::new("c1", vec![AGENTS_GROUP.into()]));
        let source = Principal::of(&Identity::new("hub", vec![SOURCES_GROUP.into()]));
        assert!(authorize_subscribe(&agent, "", "c1").is_ok());
        assert!(authorize_subscribe(&agent, "", "c2").is_err());
        assert!(authorize_subscribe(&agent, "hub", "").is_err());
        assert!(authorize_subscribe(&source, "hub", "").is_ok());
        assert!(authorize_subscribe(&source, "other", "").is_err());
        assert!(authorize_publish(&agent, "x", &route(Direction::AgentToSources, "c1")).is_ok());
        assert!(authorize_publish(&agent, "x", &route(Direction::AgentToSources, "c2")).is_err());
        assert!(authorize_publish(&agent, "x", &route(Direction::SourceToAgents, "c1")).is_err());
        assert!(authorize_publish(&source, "hub", &route(Direction::SourceToAgents, "c1")).is_ok());
        assert!(
            authorize_publish(&source, "evil", &route(Direction::SourceToAgents, "c1")).is_err()
        );
        let nobody = Principal::of(&Identity::new("x", vec![]));
        assert!(authorize_subscribe(&nobody, "", "x").is_err());
    }

    #[test]
    fn token_file_maps_tokens_to_identities() {
        let table = TokenTable::from_yaml(
            "tokens:\n  - token: t1\n    user: cluster1\n    groups: [\"baton:agents\"]\n",
        )
        .unwrap();
        let identity = table.identity("t1").unwrap();
        assert_eq!(identity.user, "cluster1");
        assert_eq!(identity.groups, vec!["baton:agents".to_owned()]);
        assert!(table.identity("t2").is_none());
        assert!(!format!("{table:?}").contains("t1"));
    }

    #[test]
    fn token_file_errors_are_clear() {
        let dup = "tokens:\n  - {token: a, user: x}\n  - {token: a, user: y}\n";
        assert!(matches!(
            TokenTable::from_yaml(dup),
            Err(BrokerError::DuplicateToken(..))
        ));
        let empty = "tokens:\n  - {token: ' ', user: x}\n";
        assert!(matches!(
            TokenTable::from_yaml(empty),
            Err(BrokerError::EmptyToken(_))
        ));
        let typo = "tokens:\n  - {tokn: a, user: x}\n";
        assert!(matches!(
            TokenTable::from_yaml(typo),
            Err(BrokerError::TokenFile(_))
        ));
    }
}
