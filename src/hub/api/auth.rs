//! Who a REST caller is: a bearer token from `--api-token-file` or a JWT verified against
//! `--api-jwks-file`, resolved to a [`Principal`] (a [`Role`] and a consumer label scope).
//! Owns the token file's format and the JWT checks (signature, issuer, audience, expiry, the
//! role and scope claims). Must not decide what a route needs: `authorize` does, per request.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use crate::store::{Labels, labels_match};

/// What a caller may do, each role including the ones below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// `GET` the consumers and resources in scope.
    Read,
    /// Also create, change and delete resources in scope.
    Write,
    /// Also register, relabel and delete consumers, and read `/metrics`.
    Admin,
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "read" => Ok(Self::Read),
            "write" => Ok(Self::Write),
            "admin" => Ok(Self::Admin),
            other => Err(format!("role {other:?} is not read, write or admin")),
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Admin => "admin",
        })
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub role: Role,
    /// The labels a consumer must carry for the caller to reach it and its resources; empty:
    /// every consumer.
    pub scope: Labels,
}

impl Principal {
    /// The caller of an API without credentials configured.
    pub fn unrestricted() -> Self {
        Self {
            role: Role::Admin,
            scope: Labels::new(),
        }
    }

    pub fn is_scoped(&self) -> bool {
        !self.scope.is_empty()
    }

    /// Whether a consumer with `labels` is within reach.
    pub fn reaches(&self, labels: &Labels) -> bool {
        labels_match(&self.scope, labels)
    }
}

/// `env=dev,team=a` → the labels it requires (the syntax of the `labels` list filter).
pub fn parse_selector(text: &str) -> Result<Labels, String> {
    let mut labels = Labels::new();
    for term in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let (key, value) = term
            .split_once('=')
            .ok_or_else(|| format!("selector term {term:?} is not key=value"))?;
        let (key, value) = (key.trim(), value.trim());
        if key.is_empty() {
            return Err(format!("selector term {term:?} has no key"));
        }
        labels.insert(key.to_owned(), value.to_owned());
    }
    Ok(labels)
}

#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    #[error("--api-token-file {path}: {source}")]
    TokenFileRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("--api-token-file {path} line {line}: {reason}")]
    TokenLine {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("--api-token-file {0}: no tokens in the file")]
    NoTokens(PathBuf),
    #[error("--api-jwks-file {path}: {reason}")]
    Jwks { path: PathBuf, reason: String },
    #[error("--api-jwks-file needs --api-jwt-issuer and --api-jwt-audience")]
    JwtClaimsMissing,
}

/// The static tokens of `--api-token-file`. A line is `TOKEN [ROLE [SELECTOR]]`: a token alone
/// is an admin (the file's first format); blank lines and `#` comments are ignored.
pub fn load_token_file(path: &Path) -> Result<HashMap<String, Principal>, AuthConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| AuthConfigError::TokenFileRead {
        path: path.to_owned(),
        source,
    })?;
    let mut tokens = HashMap::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |reason: String| AuthConfigError::TokenLine {
            path: path.to_owned(),
            line: index + 1,
            reason,
        };
        let mut fields = line.split_whitespace();
        let token = fields.next().unwrap_or_default().to_owned();
        let role = fields
            .next()
            .map_or(Ok(Role::Admin), str::parse)
            .map_err(bad)?;
        let scope = parse_selector(fields.next().unwrap_or("")).map_err(bad)?;
        if fields.next().is_some() {
            return Err(bad("expected TOKEN [ROLE [SELECTOR]]".into()));
        }
        tokens.insert(token, Principal { role, scope });
    }
    if tokens.is_empty() {
        return Err(AuthConfigError::NoTokens(path.to_owned()));
    }
    Ok(tokens)
}

/// How JWTs are checked and mapped to a [`Principal`].
#[derive(Debug, Clone)]
pub struct JwtSettings {
    pub jwks_file: PathBuf,
    pub issuer: String,
    pub audience: String,
    /// The claim holding the role (`read`, `write` or `admin`).
    pub role_claim: String,
    /// The claim holding the consumer selector (`env=dev`); absent: every consumer.
    pub scope_claim: String,
}

/// Verifies bearer JWTs against the public keys of a JWKS file.
pub struct JwtVerifier {
    /// By key id; a token without `kid` is tried against a key only when there is one.
    keys: Vec<(Option<String>, Algorithm, DecodingKey)>,
    issuer: String,
    audience: String,
    role_claim: String,
    scope_claim: String,
}

/// Why a JWT was refused (for the log; the caller only sees 401).
#[derive(Debug, thiserror::Error)]
pub enum JwtRefused {
    #[error("no key of the JWKS matches the token's kid and algorithm")]
    NoKey,
    #[error(transparent)]
    Invalid(#[from] jsonwebtoken::errors::Error),
    #[error("claim {0:?}: {1}")]
    Claim(String, String),
}

impl JwtVerifier {
    /// Reads the JWKS; only asymmetric signing keys are kept (a shared secret in a key file
    /// would let any reader of it mint tokens).
    pub fn load(settings: &JwtSettings) -> Result<Self, AuthConfigError> {
        let bad = |reason: String| AuthConfigError::Jwks {
            path: settings.jwks_file.clone(),
            reason,
        };
        if settings.issuer.is_empty() || settings.audience.is_empty() {
            return Err(AuthConfigError::JwtClaimsMissing);
        }
        let text = std::fs::read_to_string(&settings.jwks_file).map_err(|e| bad(e.to_string()))?;
        let set: JwkSet =
            serde_json::from_str(&text).map_err(|e| bad(format!("not a JWK set: {e}")))?;
        let mut keys = Vec::new();
        for jwk in &set.keys {
            let algorithm = match (&jwk.algorithm, jwk.common.key_algorithm) {
                (_, Some(alg)) => alg
                    .to_string()
                    .parse::<Algorithm>()
                    .map_err(|e| bad(format!("key {:?}: {e}", jwk.common.key_id)))?,
                (AlgorithmParameters::RSA(_), None) => Algorithm::RS256,
                (AlgorithmParameters::EllipticCurve(ec), None) => match ec.curve {
                    jsonwebtoken::jwk::EllipticCurve::P384 => Algorithm::ES384,
                    _ => Algorithm::ES256,
                },
                (AlgorithmParameters::OctetKeyPair(_), None) => Algorithm::EdDSA,
                (AlgorithmParameters::OctetKey(_), None) => {
                    return Err(bad("symmetric (oct) keys are not accepted".into()));
                }
            };
            if matches!(
                algorithm,
                Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
            ) {
                return Err(bad("HMAC algorithms are not accepted".into()));
            }
            let key = DecodingKey::from_jwk(jwk)
                .map_err(|e| bad(format!("key {:?}: {e}", jwk.common.key_id)))?;
            keys.push((jwk.common.key_id.clone(), algorithm, key));
        }
        if keys.is_empty() {
            return Err(bad("no keys in the set".into()));
        }
        Ok(Self {
            keys,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            role_claim: settings.role_claim.clone(),
            scope_claim: settings.scope_claim.clone(),
        })
    }

    /// The principal a valid token names.
    pub fn verify(&self, token: &str) -> Result<Principal, JwtRefused> {
        let header = jsonwebtoken::decode_header(token)?;
        let (_, algorithm, key) = self
            .keys
            .iter()
            .find(|(kid, alg, _)| {
                *alg == header.alg
                    && match (&header.kid, kid) {
                        (Some(wanted), Some(kid)) => wanted == kid,
                        (None, _) => self.keys.len() == 1,
                        (Some(_), None) => false,
                    }
            })
            .ok_or(JwtRefused::NoKey)?;
        let mut validation = Validation::new(*algorithm);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.leeway = 30;
        let data =
            jsonwebtoken::decode::<HashMap<String, serde_json::Value>>(token, key, &validation)?;
        let claim = |name: &str| data.claims.get(name).and_then(serde_json::Value::as_str);
        let role = claim(&self.role_claim)
            .ok_or_else(|| JwtRefused::Claim(self.role_claim.clone(), "missing".into()))?
            .parse()
            .map_err(|e| JwtRefused::Claim(self.role_claim.clone(), e))?;
        let scope = parse_selector(claim(&self.scope_claim).unwrap_or(""))
            .map_err(|e| JwtRefused::Claim(self.scope_claim.clone(), e))?;
        Ok(Principal { role, scope })
    }
}

/// The REST API's credentials: static tokens, JWTs, or both.
#[derive(Default)]
pub struct ApiAuth {
    pub tokens: HashMap<String, Principal>,
    pub jwt: Option<JwtVerifier>,
}

impl std::fmt::Debug for ApiAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the tokens themselves.
        f.debug_struct("ApiAuth")
            .field("tokens", &self.tokens.len())
            .field("jwt", &self.jwt.is_some())
            .finish()
    }
}

impl ApiAuth {
    /// Static tokens, each an admin of every consumer.
    pub fn admin_tokens<I: IntoIterator<Item = String>>(tokens: I) -> Self {
        Self {
            tokens: tokens
                .into_iter()
                .map(|t| (t, Principal::unrestricted()))
                .collect(),
            jwt: None,
        }
    }

    /// The principal `bearer` names, if any. A static token is looked up first; anything
    /// shaped like a JWT then goes to the verifier.
    pub fn authenticate(&self, bearer: &str) -> Option<Principal> {
        if let Some(principal) = self.tokens.get(bearer) {
            return Some(principal.clone());
        }
        let verifier = self.jwt.as_ref()?;
        match verifier.verify(bearer) {
            Ok(principal) => Some(principal),
            Err(err) => {
                tracing::debug!(%err, "bearer JWT refused");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_lines_give_roles_and_scopes_and_a_bare_token_is_an_admin() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens");
        std::fs::write(
            &path,
            "# comment\nold-style\nreader read\ndev-writer write env=dev,team=a\n",
        )
        .unwrap();
        let tokens = load_token_file(&path).unwrap();
        assert_eq!(tokens["old-style"], Principal::unrestricted());
        assert_eq!(tokens["reader"].role, Role::Read);
        assert!(!tokens["reader"].is_scoped());
        let dev = &tokens["dev-writer"];
        assert_eq!(dev.role, Role::Write);
        assert_eq!(dev.scope.get("env").map(String::as_str), Some("dev"));
        assert_eq!(dev.scope.get("team").map(String::as_str), Some("a"));
    }

    #[test]
    fn a_bad_token_line_names_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens");
        std::fs::write(&path, "ok\nbad owner\n").unwrap();
        let err = load_token_file(&path).unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("owner"), "{err}");
    }
}
