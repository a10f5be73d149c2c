//! `/api/v1/resources`: manifest bundles and their reported status. Every change commits to
//! the store (with its publish marker; the commit wakes the publisher); the response never
//! waits for the broker.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use super::authorize::Caller;
use super::extract::{ApiJson, ApiQuery};
use super::views::{
    HistoryView, ListView, PageParams, ResourceCreate, ResourceFilterParams, ResourceUpdate,
    ResourceView, ResourceWatchEvent, StatusFilterParams, WatchParams, WatchSince,
};
use super::{raw, validate};
use crate::hub::error::{ApiError, ErrorBody};
use crate::hub::state::AppState;
use crate::store::{
    ConsumerKey, Labels, NewResource, RawJson, ResourceFilter, ResourceSpec, StoreError,
};

fn resource_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw)
        .map_err(|_| ApiError::field("id", format!("{raw:?} is not a resource id (a UUID)")))
}

/// The request's documents, compact and checked, as the spec to store.
fn spec_of(
    manifests: RawJson,
    delete_option: Option<RawJson>,
    manifest_configs: Option<RawJson>,
    labels: Labels,
    annotations: Labels,
) -> Result<ResourceSpec, ApiError> {
    let spec = ResourceSpec {
        manifests: raw::compact("manifests", manifests)?,
        delete_option: delete_option
            .map(|d| raw::compact("delete_option", d))
            .transpose()?,
        manifest_configs: manifest_configs
            .map(|c| raw::compact("manifest_configs", c))
            .transpose()?,
        labels,
        annotations,
    };
    validate::bundle(
        &spec.manifests,
        spec.delete_option.as_ref(),
        spec.manifest_configs.as_ref(),
    )?;
    Ok(spec)
}

// Answered from the request's own text and the row's generated fields; the doc comment
// below is the OpenAPI summary.
/// Create a resource (version 1) and queue it for its consumer's agent.
#[utoipa::path(post, path = "/api/v1/resources", tag = "resources", request_body = ResourceCreate,
    responses((status = 201, description = "Created at version 1", body = ResourceView), (status = 400, description = "A field is invalid; `field` names it", body = ErrorBody),
        (status = 404, description = "No such consumer", body = ErrorBody), (status = 409, description = "The name is taken on this consumer", body = ErrorBody),
        (status = 413, description = "The body is over the size limit", body = ErrorBody), (status = 415, description = "The body is not JSON (Content-Type)", body = ErrorBody)))]
pub async fn create_resource(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiJson(body): ApiJson<ResourceCreate>,
) -> Result<(StatusCode, Json<ResourceView>), ApiError> {
    validate::consumer_name("consumer_name", &body.consumer_name)?;
    if caller.is_scoped() {
        // A consumer that does not exist is the store's 404, as for every caller.
        let key = ConsumerKey::Name(body.consumer_name.clone());
        match state.store.get_consumer(&key).await {
            Ok(consumer) if !caller.reaches(&consumer.labels) => {
                return Err(ApiError::Forbidden(
                    "consumer_name: the token's consumer selector does not reach this consumer"
                        .into(),
                ));
            }
            Ok(_) | Err(StoreError::ConsumerNotFound(_)) => {}
            Err(err) => return Err(err.into()),
        }
    }
    validate::resource_name(body.name.as_deref())?;
    let spec = spec_of(
        body.manifests,
        body.delete_option,
        body.manifest_configs,
        body.labels,
        body.annotations,
    )?;
    let new = NewResource {
        id: None,
        consumer_name: body.consumer_name,
        name: body.name,
        source: None,
        spec,
    };
    let created = state.creates.create(new).await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

// The items are written from the stored JSON text without parsing it (a list of large
// bundles is mostly copying); the doc comment below is the OpenAPI summary.
/// List resources, filtered and paged.
///
/// With `watch=true` (not a parameter here: see `watch_resources`) the answer is a
/// `text/event-stream` of `ResourceWatchEvent`s with the same filters instead of a page.
#[utoipa::path(get, path = "/api/v1/resources", tag = "resources", params(PageParams, ResourceFilterParams, StatusFilterParams),
    responses((status = 200, description = "A page of resources", body = ListView<ResourceView>), (status = 400, description = "A field is invalid; `field` names it", body = ErrorBody)))]
pub async fn list_resources(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiQuery(paging): ApiQuery<PageParams>,
    ApiQuery(filters): ApiQuery<ResourceFilterParams>,
    ApiQuery(watch): ApiQuery<WatchParams>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let page = validate::page(&paging)?;
    let mut filter = filter_of(filters, query.as_deref())?;
    filter.consumer_labels = caller.scope;
    if watch.watch == Some(true) {
        return watch_of(&state, filter, watch.since, &headers).await;
    }
    let found = state.store.list_resources(&filter, page).await?;
    let items: Vec<ResourceView> = found.items.into_iter().map(Into::into).collect();
    Ok(Json(ListView {
        kind: "ResourceList".into(),
        page: page.page,
        size: items.len() as u32,
        total: found.total,
        items,
    })
    .into_response())
}

/// The filters of a list or watch: name and labels from `filters`, the status filters from the
/// raw `query`.
fn filter_of(
    filters: ResourceFilterParams,
    query: Option<&str>,
) -> Result<ResourceFilter, ApiError> {
    if let Some(consumer) = &filters.consumer_name {
        validate::consumer_name("consumer_name", consumer)?;
    }
    validate::resource_name(filters.name.as_deref())?;
    let (conditions, state) = validate::status_filter(query)?;
    Ok(ResourceFilter {
        consumer_name: filters.consumer_name,
        name: filters.name,
        labels: validate::label_selector(filters.labels.as_deref())?,
        conditions,
        state,
        ..ResourceFilter::default()
    })
}

/// A watch from `Last-Event-ID` (which wins) or `since`.
async fn watch_of(
    state: &AppState,
    filter: ResourceFilter,
    since: Option<i64>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let since = match headers.get("last-event-id") {
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|id| id.trim().parse::<i64>().ok())
                .ok_or_else(|| {
                    ApiError::field("Last-Event-ID", "must be an event id (an integer)")
                })?,
        ),
        None => since,
    };
    Ok(state.changes.watch(filter, since).await?.into_response())
}

/// Watch resources (`text/event-stream`): the same stream as `GET /api/v1/resources?watch=true`.
///
/// `ADDED`, `MODIFIED` (spec, deletion mark or reported status changed) and `DELETED` events of
/// the resources matching the filters, in commit order; each event's id is its position in the
/// change feed and its `data` a `ResourceWatchEvent`. Resume with `Last-Event-ID` (or `since`):
/// every change after it, nothing twice; a position older than the kept feed is 410 (list
/// again). The status filters match the resource as read for the event; `DELETED` events pass
/// them. Idle streams get a `: heartbeat` comment every 15 s; a client too far behind gets a
/// final `ERROR` event. Endless: client generators and fuzzers should not call it as a plain
/// request.
#[utoipa::path(get, path = "/api/v1/watch/resources", tag = "watch", params(ResourceFilterParams, StatusFilterParams, WatchSince),
    responses((status = 200, description = "An endless `text/event-stream`; each event's `data` is one of these", content_type = "text/event-stream", body = ResourceWatchEvent),
        (status = 400, description = "A field is invalid; `field` names it", body = ErrorBody),
        (status = 410, description = "The resume position is older than the kept change feed: list again", body = ErrorBody)))]
pub async fn watch_resources(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiQuery(filters): ApiQuery<ResourceFilterParams>,
    ApiQuery(since): ApiQuery<WatchSince>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let mut filter = filter_of(filters, query.as_deref())?;
    filter.consumer_labels = caller.scope;
    watch_of(&state, filter, since.since, &headers).await
}

/// A resource's condition history: the last 100 changes of a top-level condition's status or
/// reason, newest first.
#[utoipa::path(get, path = "/api/v1/resources/{id}/history", tag = "resources",
    params(("id" = Uuid, Path, description = "resource id")),
    responses((status = 200, description = "The transitions, newest first", body = HistoryView), (status = 400, description = "A field is invalid; `field` names it", body = ErrorBody), (status = 404, description = "No such resource", body = ErrorBody)))]
pub async fn resource_history(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<HistoryView>, ApiError> {
    let items = state.store.condition_history(resource_id(&id)?).await?;
    Ok(Json(HistoryView {
        kind: "ConditionHistory".into(),
        items: items.into_iter().map(Into::into).collect(),
    }))
}

/// Get a resource with its reported status.
#[utoipa::path(get, path = "/api/v1/resources/{id}", tag = "resources",
    params(("id" = Uuid, Path, description = "resource id")),
    responses((status = 200, description = "The resource", body = ResourceView), (status = 400, description = "A field is invalid; `field` names it", body = ErrorBody), (status = 404, description = "No such resource", body = ErrorBody)))]
pub async fn get_resource(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ResourceView>, ApiError> {
    Ok(Json(
        state.store.get_resource(resource_id(&id)?).await?.into(),
    ))
}

/// Replace a resource's spec. `version` must be the current one (409 otherwise); an identical
/// spec changes nothing and publishes nothing.
#[utoipa::path(put, path = "/api/v1/resources/{id}", tag = "resources", request_body = ResourceUpdate,
    params(("id" = Uuid, Path, description = "resource id")),
    responses((status = 200, description = "Updated (or unchanged)", body = ResourceView), (status = 400, description = "A field is invalid; `field` names it", body = ErrorBody), (status = 404, description = "No such resource", body = ErrorBody),
        (status = 409, description = "The version is stale, or the resource is being deleted", body = ErrorBody), (status = 413, description = "The body is over the size limit", body = ErrorBody), (status = 415, description = "The body is not JSON (Content-Type)", body = ErrorBody),
        (status = 422, description = "The version cannot go higher", body = ErrorBody)))]
pub async fn put_resource(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ResourceUpdate>,
) -> Result<Json<ResourceView>, ApiError> {
    let id = resource_id(&id)?;
    validate::version(body.version)?;
    let spec = spec_of(
        body.manifests,
        body.delete_option,
        body.manifest_configs,
        body.labels,
        body.annotations,
    )?;
    let updated = state.store.update_resource(id, body.version, spec).await?;
    Ok(Json(updated.value.into()))
}

/// Delete a resource: marks it deleting and queues the delete; the row goes once the agent
/// confirms (then GET is 404).
#[utoipa::path(delete, path = "/api/v1/resources/{id}", tag = "resources",
    params(("id" = Uuid, Path, description = "resource id")),
    responses((status = 202, description = "Deleting: the row goes once the agent confirms", body = ResourceView),
        (status = 400, description = "A field is invalid; `field` names it", body = ErrorBody), (status = 404, description = "No such resource", body = ErrorBody)))]
pub async fn delete_resource(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<ResourceView>), ApiError> {
    let deleting = state.store.delete_resource(resource_id(&id)?).await?;
    Ok((StatusCode::ACCEPTED, Json(deleting.into())))
}
