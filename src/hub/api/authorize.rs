//! The one gate every API route passes: authenticates the caller ([`super::auth`]), checks its
//! role against the operation, and, for a caller scoped to a consumer selector, checks the
//! consumer or resource the path names before the handler runs. Routes are told apart by
//! their template alone, so a new route inherits the rules: a path parameter after
//! `consumers` names a consumer, after `resources` or `resource-bundles` a resource; any other
//! parameter, and any collection not in [`SCOPE_AWARE`], is refused to scoped callers (403)
//! until it is taught here. Handlers of the collections in [`SCOPE_AWARE`] take [`Caller`]
//! and apply its scope themselves (list filters, the consumer a body names).
//! Must not hold SQL (the store does) nor choose status codes (`hub::error`).

use std::sync::Arc;

use axum::extract::{FromRequestParts, MatchedPath, RawPathParams, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use super::auth::{ApiAuth, Principal, Role};
use crate::hub::error::ApiError;
use crate::hub::state::AppState;
use crate::store::{ConsumerKey, StoreError};

/// Collection operations (no path parameter) whose handlers apply a scoped caller's selector.
pub const SCOPE_AWARE: &[(&str, &str)] = &[
    ("GET", "/api/v1/consumers"),
    ("POST", "/api/v1/consumers"),
    ("GET", "/api/v1/resources"),
    ("POST", "/api/v1/resources"),
    ("GET", "/api/maestro/v1/consumers"),
    ("POST", "/api/maestro/v1/consumers"),
    ("GET", "/api/maestro/v1/resource-bundles"),
];

/// What the gate needs: the store (to find a resource's consumer) and the credentials
/// (`None`: the API is open and every caller is unrestricted).
#[derive(Clone)]
pub struct Gate {
    pub state: AppState,
    pub auth: Option<Arc<ApiAuth>>,
}

/// The authenticated caller, for handlers that apply its scope.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        // Absent only on a route outside the gate: refuse rather than trust.
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .map(Caller)
            .ok_or_else(|| ApiError::Internal("route is not behind the authorization gate".into()))
    }
}

/// `err` in the error shape of the API the path belongs to (Maestro's under its prefix).
fn reject(maestro: bool, err: ApiError) -> Response {
    if maestro {
        super::maestro::error::MaestroError(err).into_response()
    } else {
        err.into_response()
    }
}

fn unauthorized(maestro: bool) -> Response {
    let mut response = reject(maestro, ApiError::Unauthorized);
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// The caller a request's `Authorization: Bearer` names; `None`: answer 401.
fn authenticate(auth: Option<&ApiAuth>, req: &Request) -> Option<Principal> {
    let Some(auth) = auth else {
        return Some(Principal::unrestricted());
    };
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .and_then(|token| auth.authenticate(token))
}

fn is_read(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The role an operation needs: reading needs `read`; changing the fleet's consumers needs
/// `admin` (a consumer's labels decide every scoped caller's reach); other changes `write`.
pub fn required_role(method: &Method, template: &str) -> Role {
    if is_read(method) {
        Role::Read
    } else if template.split('/').any(|segment| segment == "consumers")
        && !template.split('/').any(|s| s.starts_with("resource"))
    {
        Role::Admin
    } else {
        Role::Write
    }
}

/// What a path parameter names, from the template segment before it.
enum Addressed {
    Consumer(String),
    Resource(String),
    Unknown,
}

fn addressed(template: &str, params: &RawPathParams) -> Vec<Addressed> {
    let segments: Vec<&str> = template.split('/').collect();
    params
        .iter()
        .map(|(name, value)| {
            let placeholder = format!("{{{name}}}");
            let before = segments
                .iter()
                .position(|s| *s == placeholder)
                .and_then(|i| i.checked_sub(1))
                .map(|i| segments[i]);
            match before {
                Some("consumers") => Addressed::Consumer(value.to_owned()),
                Some("resources" | "resource-bundles") => Addressed::Resource(value.to_owned()),
                _ => Addressed::Unknown,
            }
        })
        .collect()
}

/// The gate, as middleware on the API routes (`route_layer`: the route is matched).
pub async fn authorize(State(gate): State<Gate>, mut req: Request, next: Next) -> Response {
    let maestro = super::maestro::is_maestro_path(req.uri().path());
    let Some(principal) = authenticate(gate.auth.as_deref(), &req) else {
        return unauthorized(maestro);
    };
    let template = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let method = req.method().clone();
    let needed = required_role(&method, &template);
    if principal.role < needed {
        return reject(
            maestro,
            ApiError::Forbidden(format!(
                "this operation needs the {needed} role; the token has {}",
                principal.role
            )),
        );
    }
    if principal.is_scoped() {
        let (mut parts, body) = req.into_parts();
        let params = RawPathParams::from_request_parts(&mut parts, &())
            .await
            .ok();
        req = Request::from_parts(parts, body);
        let targets = params.map(|p| addressed(&template, &p)).unwrap_or_default();
        if targets.is_empty() && !SCOPE_AWARE.contains(&(method.as_str(), template.as_str())) {
            return reject(
                maestro,
                ApiError::Forbidden(
                    "this operation is not available to tokens scoped to a consumer selector"
                        .into(),
                ),
            );
        }
        for target in targets {
            if let Err(err) = check_target(&gate.state, &principal, &method, target).await {
                return reject(maestro, err);
            }
        }
    }
    req.extensions_mut().insert(principal);
    next.run(req).await
}

/// Whether a scoped caller reaches what the path names. What does not exist is left to the
/// handler (its 400 or 404); what exists out of reach is a 404 to a read (as if it did not
/// exist) and a 403 to a change.
async fn check_target(
    state: &AppState,
    principal: &Principal,
    method: &Method,
    target: Addressed,
) -> Result<(), ApiError> {
    let (labels, hidden) = match target {
        Addressed::Unknown => {
            return Err(ApiError::Forbidden(
                "this operation is not available to tokens scoped to a consumer selector".into(),
            ));
        }
        Addressed::Consumer(key) => {
            let key = ConsumerKey::parse(&key);
            match state.store.get_consumer(&key).await {
                Ok(consumer) => (
                    consumer.labels,
                    StoreError::ConsumerNotFound(key.to_string()),
                ),
                Err(StoreError::ConsumerNotFound(_)) => return Ok(()),
                Err(err) => return Err(err.into()),
            }
        }
        Addressed::Resource(id) => {
            let Ok(id) = Uuid::parse_str(&id) else {
                return Ok(());
            };
            let resource = match state.store.get_resource(id).await {
                Ok(resource) => resource,
                Err(StoreError::ResourceNotFound(_)) => return Ok(()),
                Err(err) => return Err(err.into()),
            };
            let key = ConsumerKey::Name(resource.consumer_name.clone());
            match state.store.get_consumer(&key).await {
                Ok(consumer) => (consumer.labels, StoreError::ResourceNotFound(id)),
                // A resource always has its consumer; hide it if that ever fails.
                Err(StoreError::ConsumerNotFound(_)) => {
                    return Err(StoreError::ResourceNotFound(id).into());
                }
                Err(err) => return Err(err.into()),
            }
        }
    };
    if principal.reaches(&labels) {
        Ok(())
    } else if is_read(method) {
        Err(hidden.into())
    } else {
        Err(ApiError::Forbidden(
            "the token's consumer selector does not reach this consumer".into(),
        ))
    }
}

/// For the operational endpoints that show fleet-wide figures (`/metrics`): an admin only.
pub async fn require_admin(State(gate): State<Gate>, req: Request, next: Next) -> Response {
    match authenticate(gate.auth.as_deref(), &req) {
        Some(principal) if principal.role == Role::Admin && !principal.is_scoped() => {
            next.run(req).await
        }
        Some(_) => ApiError::Forbidden("this endpoint needs an unscoped admin token".into())
            .into_response(),
        None => unauthorized(false),
    }
}
