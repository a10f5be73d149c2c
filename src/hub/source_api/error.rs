//! Why the source API refused a request ([`SourceApiError`]): the one place its gRPC status
//! codes are chosen. A store failure is logged here and answered without its text.
//!
//! A refusal about a resource (not found, exists, stale version) carries a Kubernetes
//! `StatusError` as JSON in its message, as sdk-go's own gRPC server does (docs/protocol.md
//! §8.6.2): sdk-go's source client turns it back into the error (`errors.ToStatusError`), so a
//! caller tests it with `apierrors.IsConflict`, `IsNotFound`, `IsAlreadyExists`.

use tracing::error;

use crate::store::StoreError;

/// A refused Publish or Subscribe of the source API.
#[derive(Debug, thiserror::Error)]
pub enum SourceApiError {
    /// Not a CloudEvent the API takes (sdk-go reads `InvalidArgument` as a bad request).
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Unauthenticated(String),
    /// A source acting as another, or on another source's resource.
    #[error("{0}")]
    Denied(String),
    #[error("resource {0} not found")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    /// A stale `resourceversion`, or a change to a resource being deleted.
    #[error("{0}")]
    Conflict(String),
    /// The hub is stopping.
    #[error("the hub is stopping")]
    Unavailable,
    /// A store failure; its text goes to the log only.
    #[error("internal error")]
    Internal(#[source] StoreError),
}

impl From<StoreError> for SourceApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::ResourceNotFound(id) => Self::NotFound(id.to_string()),
            StoreError::ConsumerNotFound(name) => {
                Self::Invalid(format!("clustername: consumer {name} not found"))
            }
            err @ (StoreError::ResourceNameTaken { .. } | StoreError::ResourceExists(_)) => {
                Self::AlreadyExists(err.to_string())
            }
            err @ (StoreError::VersionConflict { .. }
            | StoreError::ResourceDeleting(_)
            | StoreError::VersionExhausted) => Self::Conflict(err.to_string()),
            err => Self::Internal(err),
        }
    }
}

impl From<crate::broker::RequestError> for SourceApiError {
    fn from(err: crate::broker::RequestError) -> Self {
        use crate::broker::RequestError;
        match err {
            RequestError::Invalid(m) => Self::Invalid(m),
            RequestError::Unauthenticated(m) => Self::Unauthenticated(m),
            RequestError::Denied(m) => Self::Denied(m),
        }
    }
}

impl From<SourceApiError> for tonic::Status {
    fn from(err: SourceApiError) -> Self {
        use tonic::Status;
        match err {
            SourceApiError::Invalid(m) => Status::invalid_argument(m),
            SourceApiError::Unauthenticated(m) => Status::unauthenticated(m),
            SourceApiError::Denied(m) => Status::permission_denied(m),
            SourceApiError::NotFound(id) => Status::not_found(status_error(
                404,
                "NotFound",
                &format!("resource {id} not found"),
            )),
            SourceApiError::AlreadyExists(m) => {
                Status::already_exists(status_error(409, "AlreadyExists", &m))
            }
            SourceApiError::Conflict(m) => {
                Status::failed_precondition(status_error(409, "Conflict", &m))
            }
            SourceApiError::Unavailable => Status::unavailable("the hub is stopping"),
            SourceApiError::Internal(err) => {
                error!(%err, "source API: store error");
                Status::internal("internal error")
            }
        }
    }
}

/// A Kubernetes `StatusError` as Go's `encoding/json` writes it (its one field, `ErrStatus`,
/// has no JSON tag), about ManifestWorks.
fn status_error(code: u16, reason: &str, message: &str) -> String {
    serde_json::json!({
        "ErrStatus": {
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "details": {"group": "work.open-cluster-management.io", "kind": "manifestworks"},
            "code": code,
        }
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_version_is_a_kubernetes_conflict_in_the_message() {
        let err = SourceApiError::from(StoreError::VersionConflict {
            id: uuid::Uuid::nil(),
            expected: 1,
            current: 2,
        });
        let status = tonic::Status::from(err);
        assert_eq!(status.code(), tonic::Code::FailedPrecondition);
        let body: serde_json::Value = serde_json::from_str(status.message()).unwrap();
        assert_eq!(body["ErrStatus"]["reason"], "Conflict");
        assert_eq!(body["ErrStatus"]["code"], 409);
        assert!(
            body["ErrStatus"]["message"]
                .as_str()
                .unwrap()
                .contains("is at version 2, not 1")
        );
    }

    #[test]
    fn a_store_failure_says_only_internal_error() {
        let err = SourceApiError::from(StoreError::Corrupt("secret detail".into()));
        let status = tonic::Status::from(err);
        assert_eq!(status.code(), tonic::Code::Internal);
        assert_eq!(status.message(), "internal error");
    }
}
