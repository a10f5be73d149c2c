//! The one place HTTP status codes are chosen: [`ApiError`] and its JSON body
//! `{kind: "Error", code, reason, href, operation_id, field?}`. Bad input is always a 4xx that
//! says what is wrong; only a failing database or transport is a 5xx.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::hub::create_batcher::CreateError;
use crate::store::StoreError;

/// An API failure, with the HTTP status it maps to.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A field of the request is missing or invalid; `field` names it (JSON path).
    #[error("{field}: {reason}")]
    InvalidField { field: String, reason: String },
    #[error("request body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("expected Content-Type: application/json")]
    UnsupportedMediaType,
    #[error("request body is larger than the {0} byte limit")]
    PayloadTooLarge(usize),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unprocessable(String),
    /// A watch position older than the retained change feed (Kubernetes' 410 for a too-old
    /// resourceVersion): the client lists again.
    #[error("{0}")]
    Gone(String),
    #[error("missing or invalid bearer token")]
    Unauthorized,
    /// The caller is known but its role or scope does not reach this operation.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn field(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidField {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidField { .. } | Self::MalformedJson(_) => StatusCode::BAD_REQUEST,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Gone(_) => StatusCode::GONE,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A stable, machine-readable code per kind of failure.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidField { .. } => "invalid-field",
            Self::MalformedJson(_) => "malformed-json",
            Self::UnsupportedMediaType => "unsupported-media-type",
            Self::PayloadTooLarge(_) => "payload-too-large",
            Self::NotFound(_) => "not-found",
            Self::Conflict(_) => "conflict",
            Self::Gone(_) => "gone",
            Self::Unprocessable(_) => "unprocessable",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }
}

/// The JSON body of every error response.
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct ErrorBody {
    /// Always `Error`.
    pub kind: String,
    /// Stable code, e.g. `invalid-field`, `not-found`, `conflict`.
    pub code: String,
    /// What went wrong, for humans.
    pub reason: String,
    /// Where the code is documented.
    pub href: String,
    /// The request id (also in the `x-request-id` header and every log line of the request).
    pub operation_id: String,
    /// The offending field (JSON path) for `invalid-field`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

tokio::task_local! {
    /// The id of the request being served, for error bodies.
    pub static REQUEST_ID: String;
}

/// What an error response says, once logged: the same for every body shape (this API's
/// [`ErrorBody`], Maestro's in `api::maestro`).
pub struct Reported {
    pub status: StatusCode,
    /// [`ApiError::code`].
    pub code: &'static str,
    /// For the client: never a 5xx's cause, which goes to the log only.
    pub reason: String,
    pub operation_id: String,
    /// The offending field of an [`ApiError::InvalidField`].
    pub field: Option<String>,
}

impl ApiError {
    /// Logs the error (5xx with its cause, at error level) and returns what its response says.
    pub fn report(self) -> Reported {
        let status = self.status();
        let operation_id = REQUEST_ID.try_with(Clone::clone).unwrap_or_default();
        if status.is_server_error() {
            tracing::error!(error = %self, %operation_id, "request failed");
        } else {
            tracing::info!(error = %self, status = status.as_u16(), "request refused");
        }
        let reason = match &self {
            // The cause (a database's or a library's words) is for the log, found by the id.
            Self::Internal(_) => "internal error".to_owned(),
            _ => self.to_string(),
        };
        Reported {
            status,
            code: self.code(),
            reason,
            operation_id,
            field: match self {
                Self::InvalidField { field, .. } => Some(field),
                _ => None,
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let r = self.report();
        let body = ErrorBody {
            kind: "Error".into(),
            code: r.code.into(),
            reason: r.reason,
            href: format!("/api/v1/errors/{}", r.code),
            operation_id: r.operation_id,
            field: r.field,
        };
        (r.status, Json(body)).into_response()
    }
}

impl From<CreateError> for ApiError {
    fn from(err: CreateError) -> Self {
        match err {
            CreateError::Store(err) => err.into(),
            CreateError::Stopped => Self::Unavailable(err.to_string()),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::ConsumerNotFound(_) | StoreError::ResourceNotFound(_) => {
                Self::NotFound(err.to_string())
            }
            StoreError::ConsumerExists(_)
            | StoreError::ConsumerInUse(..)
            | StoreError::ResourceNameTaken { .. }
            | StoreError::ResourceExists(_)
            | StoreError::VersionConflict { .. }
            | StoreError::ResourceDeleting(_) => Self::Conflict(err.to_string()),
            StoreError::VersionExhausted => Self::Unprocessable(err.to_string()),
            StoreError::FeedGone { .. } => Self::Gone(err.to_string()),
            StoreError::Database(sqlx::Error::PoolTimedOut) => {
                Self::Unavailable("database unavailable".into())
            }
            StoreError::Database(_)
            | StoreError::Migration(_)
            | StoreError::Corrupt(_)
            | StoreError::Locked { .. }
            | StoreError::Io { .. }
            | StoreError::UnsupportedUrl(_) => Self::Internal(err.to_string()),
        }
    }
}
