//! `/api/maestro/v1/resource-bundles`: Maestro's view of the store's resources, whichever API
//! or source created them. Read and delete only, as on Maestro (its sources create bundles
//! over gRPC; baton's own API creates them too).

use crate::hub::api::authorize::Caller;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use uuid::Uuid;

use super::error::{MaestroError, MaestroErrorBody};
use super::views::{ListParams, ResourceBundle, ResourceBundleList};
use super::{MaestroQuery, search};
use crate::hub::error::ApiError;
use crate::hub::state::AppState;
use crate::store::{ResourceField, ResourceFilter};

/// The bundle a path names; anything but a UUID names none.
fn bundle_id(id: &str) -> Result<Uuid, MaestroError> {
    Uuid::parse_str(id)
        .map_err(|_| ApiError::NotFound(format!("resource bundle {id} not found")).into())
}

/// List resource bundles.
#[utoipa::path(get, path = "/api/maestro/v1/resource-bundles", operation_id = "maestro_list_bundles", tag = super::TAG, params(ListParams),
    responses((status = 200, description = "A page of resource bundles", body = ResourceBundleList), (status = 400, description = "A parameter is invalid or the search unsupported; `field` names it", body = MaestroErrorBody)))]
pub async fn list_bundles(
    State(state): State<AppState>,
    Caller(caller): Caller,
    MaestroQuery(params): MaestroQuery<ListParams>,
) -> Result<Json<ResourceBundleList>, MaestroError> {
    let page = super::page(&params)?;
    let filter = ResourceFilter {
        consumer_labels: caller.scope,
        search: search::parse::<ResourceField>(
            params.search.as_deref().unwrap_or(""),
            &state.source_id,
        )?,
        ..ResourceFilter::default()
    };
    let found = state.store.list_resources(&filter, page).await?;
    let items = found
        .items
        .into_iter()
        .map(ResourceBundle::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(ResourceBundleList {
        kind: "ResourceBundleList".into(),
        page: page.page,
        size: u32::try_from(items.len()).unwrap_or(u32::MAX),
        total: found.total,
        items,
    }))
}

/// Get a resource bundle by id.
#[utoipa::path(get, path = "/api/maestro/v1/resource-bundles/{id}", operation_id = "maestro_get_bundle", tag = super::TAG,
    params(("id" = String, Path, description = "resource bundle id")),
    responses((status = 200, description = "The resource bundle", body = ResourceBundle), (status = 404, description = "No such resource bundle", body = MaestroErrorBody)))]
pub async fn get_bundle(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ResourceBundle>, MaestroError> {
    let resource = state.store.get_resource(bundle_id(&id)?).await?;
    Ok(Json(resource.try_into()?))
}

/// Delete a resource bundle: marked deleting, removed once the agent confirms.
#[utoipa::path(delete, path = "/api/maestro/v1/resource-bundles/{id}", operation_id = "maestro_delete_bundle", tag = super::TAG,
    params(("id" = String, Path, description = "resource bundle id")),
    responses((status = 204, description = "Deletion requested"), (status = 404, description = "No such resource bundle", body = MaestroErrorBody)))]
pub async fn delete_bundle(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, MaestroError> {
    state.store.delete_resource(bundle_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
