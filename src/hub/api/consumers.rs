//! `/api/v1/consumers`: the managed clusters the hub knows. Thin handlers: parse, call the
//! store, map.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::authorize::Caller;
use super::extract::{ApiJson, ApiQuery};
use super::validate;
use super::views::{ConsumerCreate, ConsumerPatch, ConsumerView, ListView, PageParams};
use crate::hub::error::{ApiError, ErrorBody};
use crate::hub::state::AppState;
use crate::store::{ConsumerFilter, Labels, NewConsumer};

/// A scoped caller may only give a consumer labels its selector reaches (or lose it).
fn within_reach(caller: &Caller, labels: &Labels) -> Result<(), ApiError> {
    if caller.0.reaches(labels) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "labels: the token's consumer selector would not reach the consumer".into(),
        ))
    }
}

fn view(state: &AppState, consumer: crate::store::Consumer) -> ConsumerView {
    let connected = state.connections.is_connected(&consumer.name);
    let at = state.connections.connection(&consumer.name);
    ConsumerView::new(consumer, connected, at)
}

/// Register a consumer (managed cluster).
#[utoipa::path(post, path = "/api/v1/consumers", tag = "consumers", request_body = ConsumerCreate,
    responses((status = 201, description = "Created", body = ConsumerView), (status = 400, description = "A field is invalid; `field` names it", body = ErrorBody),
        (status = 409, description = "The name is taken", body = ErrorBody), (status = 413, description = "The body is over the size limit", body = ErrorBody), (status = 415, description = "The body is not JSON (Content-Type)", body = ErrorBody)))]
pub async fn create_consumer(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<ConsumerCreate>,
) -> Result<(StatusCode, Json<ConsumerView>), ApiError> {
    let name = validate::consumer_name("name", &body.name)?;
    within_reach(&caller, &body.labels)?;
    let consumer = state
        .store
        .create_consumer(NewConsumer {
            name,
            labels: body.labels,
        })
        .await?;
    Ok((StatusCode::CREATED, Json(view(&state, consumer))))
}

/// List consumers.
#[utoipa::path(get, path = "/api/v1/consumers", tag = "consumers", params(PageParams),
    responses((status = 200, description = "A page of consumers", body = ListView<ConsumerView>), (status = 400, description = "A field is invalid; `field` names it", body = ErrorBody)))]
pub async fn list_consumers(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiQuery(params): ApiQuery<PageParams>,
) -> Result<Json<ListView<ConsumerView>>, ApiError> {
    let page = validate::page(&params)?;
    let filter = ConsumerFilter {
        labels: caller.scope,
    };
    let found = state.store.list_consumers_where(&filter, page).await?;
    let items: Vec<ConsumerView> = found.items.into_iter().map(|c| view(&state, c)).collect();
    Ok(Json(ListView {
        kind: "ConsumerList".into(),
        page: page.page,
        size: items.len() as u32,
        total: found.total,
        items,
    }))
}

/// Get a consumer by id or name.
#[utoipa::path(get, path = "/api/v1/consumers/{id_or_name}", tag = "consumers",
    params(("id_or_name" = String, Path, description = "consumer id (uuid) or name", min_length = 1, max_length = 63, pattern = "^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[a-z0-9]([-a-z0-9]*[a-z0-9])?)$")),
    responses((status = 200, description = "The consumer", body = ConsumerView), (status = 400, description = "A field is invalid; `field` names it", body = ErrorBody), (status = 404, description = "No such consumer", body = ErrorBody)))]
pub async fn get_consumer(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Json<ConsumerView>, ApiError> {
    let consumer = state
        .store
        .get_consumer(&validate::consumer_key(&key)?)
        .await?;
    Ok(Json(view(&state, consumer)))
}

/// Replace a consumer's labels.
#[utoipa::path(patch, path = "/api/v1/consumers/{id_or_name}", tag = "consumers", request_body = ConsumerPatch,
    params(("id_or_name" = String, Path, description = "consumer id (uuid) or name", min_length = 1, max_length = 63, pattern = "^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[a-z0-9]([-a-z0-9]*[a-z0-9])?)$")),
    responses((status = 200, description = "The consumer", body = ConsumerView), (status = 400, description = "A field is invalid; `field` names it", body = ErrorBody), (status = 404, description = "No such consumer", body = ErrorBody),
        (status = 413, description = "The body is over the size limit", body = ErrorBody), (status = 415, description = "The body is not JSON (Content-Type)", body = ErrorBody)))]
pub async fn patch_consumer(
    State(state): State<AppState>,
    Path(key): Path<String>,
    caller: Caller,
    ApiJson(body): ApiJson<ConsumerPatch>,
) -> Result<Json<ConsumerView>, ApiError> {
    within_reach(&caller, &body.labels)?;
    let consumer = state
        .store
        .update_consumer_labels(&validate::consumer_key(&key)?, body.labels)
        .await?;
    Ok(Json(view(&state, consumer)))
}

/// Delete a consumer; refused (409) while it has resources.
#[utoipa::path(delete, path = "/api/v1/consumers/{id_or_name}", tag = "consumers",
    params(("id_or_name" = String, Path, description = "consumer id (uuid) or name", min_length = 1, max_length = 63, pattern = "^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[a-z0-9]([-a-z0-9]*[a-z0-9])?)$")),
    responses((status = 204, description = "Deleted"), (status = 400, description = "A field is invalid; `field` names it", body = ErrorBody), (status = 404, description = "No such consumer", body = ErrorBody),
        (status = 409, description = "The consumer still has resources", body = ErrorBody)))]
pub async fn delete_consumer(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<StatusCode, ApiError> {
    state
        .store
        .delete_consumer(&validate::consumer_key(&key)?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
