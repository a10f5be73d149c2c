//! The REST API: routes and their OpenAPI documentation registered together, the tower
//! middleware stack, the operational endpoints (`/healthz`, `/readyz`, `/metrics`,
//! `/openapi.json`) and the web UI (`/ui/`, [`ui`]). Every API route passes
//! [`authorize::authorize`]; `/metrics` needs an admin token (or its own listener,
//! [`metrics_router`]); `/healthz`, `/readyz`, `/openapi.json` and the UI's files stay open.

pub mod auth;
pub mod authorize;
pub mod consumers;
pub mod extract;
pub mod maestro;
pub mod raw;
pub mod resources;
pub mod schema;
pub mod storable;
pub mod ui;
pub mod validate;
pub mod views;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, REQUEST_ID};
use super::metrics::{HttpLabels, method_label};
use super::state::AppState;

/// Largest accepted request body: bundles are big (Maestro's heavy case is ~49 KB), not unbounded.
pub const BODY_LIMIT: usize = 4 << 20;

#[derive(OpenApi)]
#[openapi(
    info(title = "baton hub API", description = "Consumers (managed clusters) and resources (manifest bundles) \
        shipped to them as OCM CloudEvents, with the status their agents report."),
    // Query parameter types: `IntoParams` refers to them but does not register them.
    components(schemas(crate::store::OrderBy, crate::store::Direction, crate::store::ResourceState)),
    tags((name = "consumers", description = "Managed clusters"), (name = "resources", description = "Manifest bundles and their status"),
        (name = "watch", description = "Endless `text/event-stream` watches (also `?watch=true` on the lists)"),
        (name = "maestro", description = "Maestro's REST API (/api/maestro/v1): its consumers and resource bundles, in its JSON shapes, for Maestro's clients (docs/maestro.md)"))
)]
struct ApiDoc;

/// The documented API routes (state still to be provided).
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(
            consumers::create_consumer,
            consumers::list_consumers
        ))
        .routes(routes!(
            consumers::get_consumer,
            consumers::patch_consumer,
            consumers::delete_consumer
        ))
        .routes(routes!(
            resources::create_resource,
            resources::list_resources
        ))
        .routes(routes!(
            resources::get_resource,
            resources::put_resource,
            resources::delete_resource
        ))
        .routes(routes!(resources::resource_history))
        .routes(routes!(resources::watch_resources))
        .routes(routes!(consumers::watch_consumers))
        .merge(maestro::routes())
}

/// The documented routes and their whole OpenAPI document.
fn parts() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (routes, mut doc) = api().split_for_parts();
    schema::complete(&mut doc);
    (routes, doc)
}

/// The OpenAPI document as committed in `openapi/openapi.json`.
pub fn openapi_json() -> String {
    let (_, doc) = parts();
    doc.to_pretty_json().unwrap_or_default()
}

/// The API's credentials (static tokens, JWTs); `None` means the API is open.
pub type ApiTokens = Option<Arc<auth::ApiAuth>>;

/// Where `/metrics` is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsOn {
    /// On the API's port, behind an admin token when the API has credentials.
    Api,
    /// On a listener of its own (`--metrics-addr`, [`metrics_router`]): not on the API's port.
    OwnListener,
}

/// The whole HTTP application, `/metrics` included.
pub fn router(state: AppState, tokens: ApiTokens) -> Router {
    router_with(state, tokens, MetricsOn::Api)
}

/// The whole HTTP application; `metrics` says whether `/metrics` is on it.
pub fn router_with(state: AppState, tokens: ApiTokens, metrics_on: MetricsOn) -> Router {
    let (api, doc) = parts();
    let doc_json = Arc::new(doc.to_pretty_json().unwrap_or_default());
    let gate = authorize::Gate {
        state: state.clone(),
        auth: tokens,
    };
    // `route_layer`: the gate sees the matched route and its path parameters.
    let api = api
        .route_layer(middleware::from_fn_with_state(
            gate.clone(),
            authorize::authorize,
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT));
    let mut app = Router::new()
        .merge(api)
        .merge(ui::routes())
        .route(
            "/openapi.json",
            get(move || async move {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    doc_json.as_str().to_owned(),
                )
            }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz));
    if metrics_on == MetricsOn::Api {
        app = app.route(
            "/metrics",
            get(metrics).route_layer(middleware::from_fn_with_state(
                gate,
                authorize::require_admin,
            )),
        );
    }
    app.fallback(|uri: axum::http::Uri| async move {
        let err = ApiError::NotFound("no such route".into());
        if maestro::is_maestro_path(uri.path()) {
            maestro::error::MaestroError(err).into_response()
        } else {
            err.into_response()
        }
    })
    .layer(middleware::from_fn_with_state(state.clone(), observe))
    .layer(TimeoutLayer::with_status_code(
        StatusCode::REQUEST_TIMEOUT,
        Duration::from_secs(30),
    ))
    .layer(PropagateRequestIdLayer::x_request_id())
    .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
        let id = req
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        tracing::info_span!("http", method = %req.method(), uri = %req.uri(), request_id = %id)
    }))
    .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
    .with_state(state)
}

/// Records latency by route template and makes the request id available to error bodies.
async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(req.method());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let response = REQUEST_ID.scope(request_id, next.run(req)).await;
    let labels = HttpLabels {
        method,
        route,
        status: response.status().as_u16(),
    };
    state
        .metrics
        .http_request_seconds
        .get_or_create(&labels)
        .observe(started.elapsed().as_secs_f64());
    response
}

/// How long `/readyz` waits for the database. A partitioned database does not refuse, it stops
/// answering: without this the probe waits out the pool's acquire timeout (10 s) and a load
/// balancer keeps sending traffic meanwhile.
const READY_PROBE_TIMEOUT: Duration = Duration::from_millis(1500);

async fn readyz(State(state): State<AppState>) -> Response {
    let db = tokio::time::timeout(READY_PROBE_TIMEOUT, state.store.ping())
        .await
        .map_err(|_elapsed| ())
        .and_then(|pinged| pinged.map_err(|_| ()));
    let transport = state.connections.source_connected();
    let body = serde_json::json!({
        "database": if db.is_ok() { "ok" } else { "unreachable" },
        "transport": if transport { "connected" } else { "disconnected" },
    });
    let status = if db.is_ok() && transport {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// `/metrics` alone, for its own listener (`--metrics-addr`): reached by the scraper's network,
/// not the API's callers.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .with_state(state)
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    if let Ok(depth) = state.store.pending_count().await {
        state.metrics.outbox_depth.set(depth);
    }
    if let Some(connected) = state.connections.connected_count() {
        state
            .metrics
            .connected_clusters
            .set(i64::try_from(connected).unwrap_or(i64::MAX));
    }
    if let Some(here) = state.connections.subscribed_here() {
        state
            .metrics
            .subscribed_clusters
            .set(i64::try_from(here).unwrap_or(i64::MAX));
    }
    if let Some(budget) = state.connections.local_budget() {
        let gauge = |bytes: u64| i64::try_from(bytes).unwrap_or(i64::MAX);
        state.metrics.local_queued_bytes.set(gauge(budget.held));
        state
            .metrics
            .local_queued_bytes_peak
            .set(gauge(budget.peak));
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
}
