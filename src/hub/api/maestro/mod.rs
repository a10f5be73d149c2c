//! Maestro's REST API (`/api/maestro/v1`, openshift-online/maestro `openapi/openapi.yaml`):
//! consumers (create, list, get, patch labels, delete) and resource bundles (list, get,
//! delete), with Maestro's JSON shapes, error body and `search` parameter, so that Maestro's
//! clients read baton as they read Maestro (docs/maestro.md, "REST API").
//!
//! Owns the Maestro shapes ([`views`]), the search language ([`search`]) and the error body
//! ([`error`]). The handlers call the same store as baton's own API ([`super::consumers`],
//! [`super::resources`]); they must not write SQL or keep state of their own.

pub mod bundles;
pub mod consumers;
pub mod error;
pub mod search;
pub mod views;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{ApiJson, ApiQuery};
use super::storable::Storable;
use super::validate::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
use crate::hub::error::ApiError;
use crate::hub::state::AppState;
use crate::store::{Direction, OrderBy, PageRequest};
use error::MaestroError;
pub use views::BASE_PATH;
use views::ListParams;

/// The OpenAPI tag of these paths.
pub const TAG: &str = "maestro";

/// Maestro's routes, documented under [`TAG`].
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(
            consumers::create_consumer,
            consumers::list_consumers
        ))
        .routes(routes!(
            consumers::get_consumer,
            consumers::patch_consumer,
            consumers::delete_consumer
        ))
        .routes(routes!(bundles::list_bundles))
        .routes(routes!(bundles::get_bundle, bundles::delete_bundle))
}

/// Whether `path` is one of Maestro's: its failures answer with Maestro's error body.
pub fn is_maestro_path(path: &str) -> bool {
    path.strip_prefix(BASE_PATH)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// A JSON body, refused with Maestro's error body.
pub struct MaestroJson<T>(pub T);

impl<S, T> FromRequest<S> for MaestroJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Storable,
{
    type Rejection = MaestroError;

    async fn from_request(req: Request, state: &S) -> Result<Self, MaestroError> {
        let ApiJson(body) = ApiJson::from_request(req, state).await?;
        Ok(Self(body))
    }
}

/// Query parameters, refused with Maestro's error body.
pub struct MaestroQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for MaestroQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Storable,
{
    type Rejection = MaestroError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, MaestroError> {
        let ApiQuery(query) = ApiQuery::from_request_parts(parts, state).await?;
        Ok(Self(query))
    }
}

/// The page a list asks for: Maestro's `page` (from 1), `size` (default 100; 0 lists no items
/// but counts them) and `orderBy` (one key, `asc` or `desc`).
fn page(params: &ListParams) -> Result<PageRequest, ApiError> {
    let page = params.page.unwrap_or(1);
    if page == 0 {
        return Err(ApiError::field("page", "pages count from 1"));
    }
    let size = params.size.unwrap_or(DEFAULT_PAGE_SIZE);
    if size > MAX_PAGE_SIZE {
        return Err(ApiError::field(
            "size",
            format!("at most {MAX_PAGE_SIZE} (Maestro's clients ask for 400)"),
        ));
    }
    let (order_by, direction) = order(params.order_by.as_deref().unwrap_or(""))?;
    Ok(PageRequest {
        page,
        size,
        order_by,
        direction,
    })
}

/// Maestro's `orderBy`: `KEY [asc|desc]`, one key of `created_at`, `updated_at`, `name`.
fn order(text: &str) -> Result<(OrderBy, Direction), ApiError> {
    let mut words = text.split_whitespace();
    let (Some(key), direction, None) = (words.next(), words.next(), words.next()) else {
        return if text.trim().is_empty() {
            Ok((OrderBy::CreatedAt, Direction::Asc))
        } else {
            Err(ApiError::field(
                "orderBy",
                "one key and an optional direction, e.g. `created_at desc`",
            ))
        };
    };
    let order_by = match key {
        "created_at" => OrderBy::CreatedAt,
        "updated_at" => OrderBy::UpdatedAt,
        "name" => OrderBy::Name,
        other => {
            return Err(ApiError::field(
                "orderBy",
                format!("{other:?} is not supported (created_at, updated_at or name)"),
            ));
        }
    };
    let direction = match direction {
        None | Some("asc") => Direction::Asc,
        Some("desc") => Direction::Desc,
        Some(other) => {
            return Err(ApiError::field(
                "orderBy",
                format!("direction {other:?} is neither asc nor desc"),
            ));
        }
    };
    Ok((order_by, direction))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_takes_one_key_and_a_direction() {
        assert_eq!(order("").unwrap(), (OrderBy::CreatedAt, Direction::Asc));
        assert_eq!(
            order(" name  desc ").unwrap(),
            (OrderBy::Name, Direction::Desc)
        );
        assert_eq!(
            order("updated_at").unwrap(),
            (OrderBy::UpdatedAt, Direction::Asc)
        );
        for bad in ["version", "name up", "name asc, id", "name asc desc"] {
            assert!(
                matches!(order(bad), Err(ApiError::InvalidField { ref field, .. }) if field == "orderBy"),
                "{bad}"
            );
        }
    }

    #[test]
    fn maestro_paths_are_those_under_its_base() {
        assert!(is_maestro_path("/api/maestro/v1"));
        assert!(is_maestro_path("/api/maestro/v1/consumers/x"));
        assert!(!is_maestro_path("/api/maestro/v10"));
        assert!(!is_maestro_path("/api/v1/consumers"));
    }
}
