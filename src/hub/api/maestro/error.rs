//! Maestro's error body (`kind`, `id`, `href`, `code` `maestro-N`, `reason`, `operation_id`)
//! for the failures of its paths. The status code is still [`ApiError::status`]'s: only the
//! body is Maestro's, with its numeric code for the kind of failure, and `field` naming the
//! offending field as on baton's own paths.

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::search::SearchError;
use super::views::BASE_PATH;
use crate::hub::error::ApiError;
use crate::store::StoreError;

/// A failure of a Maestro path.
#[derive(Debug)]
pub struct MaestroError(pub ApiError);

impl From<ApiError> for MaestroError {
    fn from(err: ApiError) -> Self {
        Self(err)
    }
}

impl From<StoreError> for MaestroError {
    fn from(err: StoreError) -> Self {
        Self(err.into())
    }
}

impl From<SearchError> for MaestroError {
    fn from(err: SearchError) -> Self {
        Self(ApiError::field("search", err.to_string()))
    }
}

/// Maestro's error body (its `Error` schema), plus `field`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = maestro::Error)]
pub struct MaestroErrorBody {
    /// Always `Error`.
    pub kind: String,
    /// Maestro's error number, e.g. `7` (not found).
    pub id: String,
    pub href: String,
    /// `maestro-` and the number.
    pub code: String,
    pub reason: String,
    /// The request id (also in the `x-request-id` header).
    pub operation_id: String,
    /// The offending field, for a bad request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// Maestro's number (`pkg/errors`) for a failure: 6 conflict, 7 not found, 8 validation,
/// 9 general, 4 forbidden, 15 unauthenticated, 17 malformed request, 23 bad search.
fn number(err: &ApiError) -> u16 {
    match err {
        ApiError::InvalidField { field, .. } if field == "search" => 23,
        ApiError::InvalidField { .. } | ApiError::Unprocessable(_) => 8,
        ApiError::MalformedJson(_)
        | ApiError::UnsupportedMediaType
        | ApiError::PayloadTooLarge(_) => 17,
        ApiError::NotFound(_) => 7,
        ApiError::Conflict(_) => 6,
        ApiError::Unauthorized => 15,
        ApiError::Forbidden(_) => 4,
        ApiError::Gone(_) | ApiError::Unavailable(_) | ApiError::Internal(_) => 9,
    }
}

impl IntoResponse for MaestroError {
    fn into_response(self) -> Response {
        let number = number(&self.0);
        let r = self.0.report();
        let body = MaestroErrorBody {
            kind: "Error".into(),
            id: number.to_string(),
            href: format!("{BASE_PATH}/errors/{number}"),
            code: format!("maestro-{number}"),
            reason: r.reason,
            operation_id: r.operation_id,
            field: r.field,
        };
        (r.status, Json(body)).into_response()
    }
}
