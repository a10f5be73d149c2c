//! `/api/v1/consumers`: the managed clusters the hub knows, with their connection and health
//! (`hub::health`), and their watch (`hub::consumer_watch`). Thin handlers: parse, call the
//! store, map.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::authorize::Caller;
use super::extract::{ApiJson, ApiQuery};
use super::validate;
use super::views::{
    ConsumerCreate, ConsumerFilterParams, ConsumerPatch, ConsumerView, ConsumerWatchEvent,
    ListView, PageParams, WatchParams,
};
use crate::hub::error::{ApiError, ErrorBody};
use crate::hub::state::AppState;
use crate::store::{
    Consumer, ConsumerFilter, Direction, Labels, NewConsumer, OrderBy, PageRequest, StoreError,
    labels_match,
};

/// A scoped caller may only give a consumer labels its selector reaches (or lose it).
pub(crate) fn within_reach(caller: &Caller, labels: &Labels) -> Result<(), ApiError> {
    if caller.0.reaches(labels) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "labels: the token's consumer selector would not reach the consumer".into(),
        ))
    }
}

async fn view(state: &AppState, consumer: Consumer) -> Result<ConsumerView, ApiError> {
    let mut views = state.fleet.views(vec![consumer], false).await?;
    views
        .pop()
        .ok_or_else(|| ApiError::from(StoreError::Corrupt("a consumer without a view".into())))
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
    within_reach(&caller, &body.labels)?;
    let consumer = create(&state, &body.name, body.labels).await?;
    Ok((StatusCode::CREATED, Json(view(&state, consumer).await?)))
}

/// Registers the consumer `name` (checked here) with `labels`: every API's create.
pub async fn create(state: &AppState, name: &str, labels: Labels) -> Result<Consumer, ApiError> {
    let name = validate::consumer_name("name", name)?;
    Ok(state
        .store
        .create_consumer(NewConsumer { name, labels })
        .await?)
}

/// List consumers, with their connection and health.
///
/// With `watch=true` (not a parameter here: see `watch_consumers`) the answer is a
/// `text/event-stream` of `ConsumerWatchEvent`s instead of a page.
#[utoipa::path(get, path = "/api/v1/consumers", tag = "consumers", params(PageParams, ConsumerFilterParams),
    responses((status = 200, description = "A page of consumers", body = ListView<ConsumerView>), (status = 400, description = "A field is invalid; `field` names it", body = ErrorBody)))]
pub async fn list_consumers(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiQuery(params): ApiQuery<PageParams>,
    ApiQuery(filter): ApiQuery<ConsumerFilterParams>,
    ApiQuery(watch): ApiQuery<WatchParams>,
) -> Result<Response, ApiError> {
    let page = validate::page(&params)?;
    if watch.watch == Some(true) {
        return Ok(state
            .consumer_changes
            .watch(filter.healthy, caller.scope)
            .await?
            .into_response());
    }
    let (items, total) = match filter.healthy {
        None => {
            let found = state
                .store
                .list_consumers(
                    &ConsumerFilter {
                        labels: caller.scope,
                        ..ConsumerFilter::default()
                    },
                    page,
                )
                .await?;
            (state.fleet.views(found.items, false).await?, found.total)
        }
        // Health is computed, not stored: every consumer's, then the page of the matches.
        Some(healthy) => {
            let all: Vec<ConsumerView> = sorted(state.fleet.all().await?, page)
                .into_iter()
                .filter(|v| v.healthy == healthy && labels_match(&caller.scope, &v.labels))
                .collect();
            let total = all.len() as i64;
            let items = all
                .into_iter()
                .skip(usize::try_from(page.offset()).unwrap_or(usize::MAX))
                .take(page.size as usize)
                .collect();
            (items, total)
        }
    };
    Ok(Json(ListView {
        kind: "ConsumerList".into(),
        page: page.page,
        size: items.len() as u32,
        total,
        items,
    })
    .into_response())
}

/// `views` in the order `page` asks for, ties broken by id as the store's lists do.
fn sorted(mut views: Vec<ConsumerView>, page: PageRequest) -> Vec<ConsumerView> {
    views.sort_by(|a, b| {
        let by = match page.order_by {
            OrderBy::CreatedAt => a.created_at.cmp(&b.created_at),
            OrderBy::UpdatedAt => a.updated_at.cmp(&b.updated_at),
            OrderBy::Name => a.name.cmp(&b.name),
        }
        .then(a.id.cmp(&b.id));
        match page.direction {
            Direction::Asc => by,
            Direction::Desc => by.reverse(),
        }
    });
    views
}

/// Watch consumers (`text/event-stream`): the same stream as `GET /api/v1/consumers?watch=true`.
///
/// Starts with an `ADDED` event per consumer (the current state), then `ADDED`, `MODIFIED`
/// (labels, connection or health changed) and `DELETED` events; each event's `data` is a
/// `ConsumerWatchEvent`. Idle streams get a `: heartbeat` comment every 15 s. Endless: client
/// generators and fuzzers should not call it as a plain request.
#[utoipa::path(get, path = "/api/v1/watch/consumers", tag = "watch", params(ConsumerFilterParams),
    responses((status = 200, description = "An endless `text/event-stream`; each event's `data` is one of these", content_type = "text/event-stream", body = ConsumerWatchEvent),
        (status = 400, description = "A field is invalid; `field` names it", body = ErrorBody)))]
pub async fn watch_consumers(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiQuery(filter): ApiQuery<ConsumerFilterParams>,
) -> Result<Response, ApiError> {
    Ok(state
        .consumer_changes
        .watch(filter.healthy, caller.scope)
        .await?
        .into_response())
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
    Ok(Json(view(&state, consumer).await?))
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
    Ok(Json(view(&state, consumer).await?))
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
