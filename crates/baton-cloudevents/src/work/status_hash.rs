//! The v1 status hash (docs/protocol.md §6.4, sdk-go `statushash.StatusHash`): SHA-256 over Go's
//! JSON of the work's `status` in Kubernetes unstructured form, as 64 lowercase hex digits.
//! The serde shape of [`ManifestWorkStatus`] is that unstructured form (see `model::status`);
//! [`super::go_json`] renders it with sorted keys and Go's escaping.

use sha2::{Digest, Sha256};

use super::go_json;
use super::model::{ManifestWork, ManifestWorkStatus};
use crate::resource::{HashError, StatusHasher};

/// The exact bytes the hash is computed over.
pub fn hashed_bytes(status: &ManifestWorkStatus) -> Result<Vec<u8>, serde_json::Error> {
    Ok(go_json::to_vec(&serde_json::to_value(status)?))
}

/// The status hash of `status`.
pub fn status_hash(status: &ManifestWorkStatus) -> Result<String, serde_json::Error> {
    Ok(status_hash_of_tree(&serde_json::to_value(status)?))
}

/// The status hash of a status already rendered as a tree (`serde_json::to_value` of a
/// [`ManifestWorkStatus`]), for a caller that needs the tree for something else too.
pub fn status_hash_of_tree(tree: &serde_json::Value) -> String {
    hex::encode(Sha256::digest(go_json::to_vec(tree)))
}

/// [`status_hash`] as the clients' [`StatusHasher`].
#[derive(Debug, Clone, Copy, Default)]
pub struct WorkStatusHasher;

impl StatusHasher<ManifestWork> for WorkStatusHasher {
    fn status_hash(&self, work: &ManifestWork) -> Result<String, HashError> {
        status_hash(&work.status).map_err(|e| HashError(Box::new(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_status_hashes_as_documented() {
        let status = ManifestWorkStatus::default();
        assert_eq!(hashed_bytes(&status).unwrap(), br#"{"resourceStatus":{}}"#);
        assert_eq!(
            status_hash(&status).unwrap(),
            "3a4ba43801251ccdf889a3154674d23a35ab996aacfc00de92e61dbb2f5cf189"
        );
    }

    #[test]
    fn the_hash_of_the_tree_is_the_hash_of_the_status() {
        let status = ManifestWorkStatus {
            conditions: vec![crate::work::model::Condition {
                type_: "Applied".into(),
                status: "True".into(),
                message: "<ok> & done".into(),
                ..Default::default()
            }],
            ..ManifestWorkStatus::default()
        };
        let tree = serde_json::to_value(&status).unwrap();
        assert_eq!(status_hash_of_tree(&tree), status_hash(&status).unwrap());
    }
}
