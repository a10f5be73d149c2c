//! The client's errors: each renders as one line a person can act on (the API's error body
//! naming its field, the server and the flag to fix a connection, the file and line of bad
//! YAML).

use std::path::PathBuf;

use crate::hub::error::ErrorBody;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The hub answered with an error body.
    #[error("{}", render_api(*.status, .body))]
    Api { status: u16, body: Box<ErrorBody> },
    /// The hub answered something that is not the API's JSON.
    #[error("{server} answered HTTP {status}: {text}")]
    Unexpected {
        server: String,
        status: u16,
        text: String,
    },
    #[error(
        "cannot reach the hub at {server}: {cause} (set the server with --server, BATON_SERVER \
         or a context in {config})"
    )]
    Connect {
        server: String,
        cause: String,
        config: String,
    },
    #[error("request to {server} failed: {cause}")]
    Http { server: String, cause: String },
    #[error("{}: {message}", .path.display())]
    File { path: PathBuf, message: String },
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Failed(String),
}

impl ClientError {
    /// True when the hub said 404 (or the client found nothing by that name).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Api { status: 404, .. } | Self::NotFound(_))
    }

    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Api { status: 409, .. })
    }
}

/// `field manifests[0].kind: must not be empty (HTTP 400 invalid-field, request 3f2…)`.
fn render_api(status: u16, body: &ErrorBody) -> String {
    let field = body
        .field
        .as_deref()
        .map(|f| format!("field {f}: "))
        .unwrap_or_default();
    let request = if body.operation_id.is_empty() {
        String::new()
    } else {
        format!(", request {}", body.operation_id)
    };
    format!(
        "{field}{} (HTTP {status} {}{request})",
        body.reason, body.code
    )
}
