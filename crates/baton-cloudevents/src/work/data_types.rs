//! The ManifestWork data types an agent can serve (docs/protocol.md §2.4, §4.9), as a closed set
//! parsed once from configuration (`baton agent --data-type`). An agent subscribes once per
//! data type it serves, so it should serve the ones its sources publish and no more: OCM's
//! work agent serves one (`manifestbundles`), which is what baton's hub publishes.

use std::fmt;
use std::str::FromStr;

use crate::DataType;

use super::model::{manifest_bundles_data_type, manifests_data_type};

/// One ManifestWork data type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WorkDataType {
    /// `io.open-cluster-management.works.v1alpha1.manifestbundles`: every v1.x source.
    ManifestBundles,
    /// `io.open-cluster-management.works.v1alpha1.manifests`: sdk-go up to v0.15.
    Manifests,
}

impl WorkDataType {
    /// What an agent serves unless told otherwise: what baton's hub (and Maestro) publish.
    pub const DEFAULT: &'static [WorkDataType] = &[WorkDataType::ManifestBundles];

    /// The full data type (`io.open-cluster-management.works.v1alpha1.<name>`).
    pub fn data_type(self) -> DataType {
        match self {
            Self::ManifestBundles => manifest_bundles_data_type(),
            Self::Manifests => manifests_data_type(),
        }
    }

    /// The short name (`manifestbundles`, `manifests`): the data type's resource.
    pub fn name(self) -> &'static str {
        match self {
            Self::ManifestBundles => "manifestbundles",
            Self::Manifests => "manifests",
        }
    }
}

impl fmt::Display for WorkDataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A data type name no agent serves.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown work data type {0:?}: expected manifestbundles or manifests (or their full names)"
)]
pub struct UnknownDataType(pub String);

impl FromStr for WorkDataType {
    type Err = UnknownDataType;

    /// Accepts the short name or the full data type
    /// (`io.open-cluster-management.works.v1alpha1.manifestbundles`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        [Self::ManifestBundles, Self::Manifests]
            .into_iter()
            .find(|t| s == t.name() || s == t.data_type().to_string())
            .ok_or_else(|| UnknownDataType(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_full_names_parse_and_others_do_not() {
        for t in [WorkDataType::ManifestBundles, WorkDataType::Manifests] {
            assert_eq!(t.name().parse::<WorkDataType>(), Ok(t));
            assert_eq!(t.data_type().to_string().parse::<WorkDataType>(), Ok(t));
            assert_eq!(t.to_string(), t.name());
        }
        assert_eq!(
            "io.open-cluster-management.works.v1alpha1.manifestbundles".parse(),
            Ok(WorkDataType::ManifestBundles)
        );
        assert!("bundles".parse::<WorkDataType>().is_err());
        assert!("io.example.v1.manifests".parse::<WorkDataType>().is_err());
    }
}
