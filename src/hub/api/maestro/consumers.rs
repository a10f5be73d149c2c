//! `/api/maestro/v1/consumers`: Maestro's consumer paths over the store's consumers. Thin
//! handlers: parse, call the store as `api::consumers` does, present in Maestro's shape.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::error::{MaestroError, MaestroErrorBody};
use super::views::{ConsumerCreate, ConsumerList, ConsumerPatch, ListParams, MaestroConsumer};
use super::{MaestroJson, MaestroQuery, search};
use crate::hub::api::authorize::Caller;
use crate::hub::api::consumers as own;
use crate::hub::api::validate;
use crate::hub::error::ApiError;
use crate::hub::state::AppState;
use crate::store::{ConsumerField, ConsumerFilter, ConsumerKey};

/// The consumer a path names: Maestro's id, or (as baton's own paths allow) its name; a key
/// that can name no consumer is simply not found, as on Maestro.
fn consumer_key(id: &str) -> Result<ConsumerKey, MaestroError> {
    validate::consumer_key(id)
        .map_err(|_| ApiError::NotFound(format!("consumer {id} not found")).into())
}

/// Create a consumer.
#[utoipa::path(post, path = "/api/maestro/v1/consumers", operation_id = "maestro_create_consumer", tag = super::TAG, request_body = ConsumerCreate,
    responses((status = 201, description = "Created", body = MaestroConsumer), (status = 400, description = "A field is invalid; `field` names it", body = MaestroErrorBody),
        (status = 409, description = "The name is taken", body = MaestroErrorBody), (status = 413, description = "The body is over the size limit", body = MaestroErrorBody), (status = 415, description = "The body is not JSON (Content-Type)", body = MaestroErrorBody)))]
pub async fn create_consumer(
    State(state): State<AppState>,
    caller: Caller,
    MaestroJson(body): MaestroJson<ConsumerCreate>,
) -> Result<(StatusCode, Json<MaestroConsumer>), MaestroError> {
    if body.id.as_deref().is_some_and(|id| !id.is_empty()) {
        return Err(ApiError::field("id", "is assigned by the hub; leave it out").into());
    }
    let labels = body.labels.unwrap_or_default();
    own::within_reach(&caller, &labels)?;
    let consumer = own::create(&state, &body.name, labels).await?;
    Ok((StatusCode::CREATED, Json(consumer.into())))
}

/// List consumers.
#[utoipa::path(get, path = "/api/maestro/v1/consumers", operation_id = "maestro_list_consumers", tag = super::TAG, params(ListParams),
    responses((status = 200, description = "A page of consumers", body = ConsumerList), (status = 400, description = "A parameter is invalid or the search unsupported; `field` names it", body = MaestroErrorBody)))]
pub async fn list_consumers(
    State(state): State<AppState>,
    Caller(caller): Caller,
    MaestroQuery(params): MaestroQuery<ListParams>,
) -> Result<Json<ConsumerList>, MaestroError> {
    let page = super::page(&params)?;
    let filter = ConsumerFilter {
        labels: caller.scope,
        search: search::parse::<ConsumerField>(
            params.search.as_deref().unwrap_or(""),
            &state.source_id,
        )?,
    };
    let found = state.store.list_consumers(&filter, page).await?;
    let items: Vec<MaestroConsumer> = found.items.into_iter().map(Into::into).collect();
    Ok(Json(ConsumerList {
        kind: "ConsumerList".into(),
        page: page.page,
        size: u32::try_from(items.len()).unwrap_or(u32::MAX),
        total: found.total,
        items,
    }))
}

/// Get a consumer by id (or name).
#[utoipa::path(get, path = "/api/maestro/v1/consumers/{id}", operation_id = "maestro_get_consumer", tag = super::TAG,
    params(("id" = String, Path, description = "consumer id (or name)")),
    responses((status = 200, description = "The consumer", body = MaestroConsumer), (status = 404, description = "No such consumer", body = MaestroErrorBody)))]
pub async fn get_consumer(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<MaestroConsumer>, MaestroError> {
    let consumer = state.store.get_consumer(&consumer_key(&id)?).await?;
    Ok(Json(consumer.into()))
}

/// Replace a consumer's labels (when the body has `labels`).
#[utoipa::path(patch, path = "/api/maestro/v1/consumers/{id}", operation_id = "maestro_patch_consumer", tag = super::TAG, request_body = ConsumerPatch,
    params(("id" = String, Path, description = "consumer id (or name)")),
    responses((status = 200, description = "The consumer", body = MaestroConsumer), (status = 400, description = "A field is invalid; `field` names it", body = MaestroErrorBody),
        (status = 404, description = "No such consumer", body = MaestroErrorBody), (status = 413, description = "The body is over the size limit", body = MaestroErrorBody),
        (status = 415, description = "The body is not JSON (Content-Type)", body = MaestroErrorBody)))]
pub async fn patch_consumer(
    State(state): State<AppState>,
    Path(id): Path<String>,
    MaestroJson(body): MaestroJson<ConsumerPatch>,
) -> Result<Json<MaestroConsumer>, MaestroError> {
    let key = consumer_key(&id)?;
    let consumer = match body.labels {
        Some(labels) => state.store.update_consumer_labels(&key, labels).await?,
        None => state.store.get_consumer(&key).await?,
    };
    Ok(Json(consumer.into()))
}

/// Delete a consumer; refused (409) while it has resource bundles.
#[utoipa::path(delete, path = "/api/maestro/v1/consumers/{id}", operation_id = "maestro_delete_consumer", tag = super::TAG,
    params(("id" = String, Path, description = "consumer id (or name)")),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such consumer", body = MaestroErrorBody),
        (status = 409, description = "The consumer still has resource bundles", body = MaestroErrorBody)))]
pub async fn delete_consumer(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, MaestroError> {
    state.store.delete_consumer(&consumer_key(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
