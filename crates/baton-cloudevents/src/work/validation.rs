//! Manifest validation (docs/protocol.md §4.5, C11): applied by the agent codecs to every non-delete
//! spec, and by the source codecs before sending. A failure names the offending manifest.

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::model::Manifest;

/// The total size limit of a workload, in bytes as §4.5 counts them (500 KiB).
pub const MAX_MANIFESTS_SIZE: usize = 500 * 1024;
/// The default count limit. sdk-go has none beyond the size limit (which already caps a
/// workload of minimal manifests near 12,800), so this only stops absurd bundles early.
pub const MAX_MANIFESTS: usize = 10_000;

/// The limits a validator enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ManifestLimits {
    /// Most bytes of all manifests together.
    pub max_size: usize,
    /// Most manifests in one work.
    pub max_count: usize,
}

impl Default for ManifestLimits {
    fn default() -> Self {
        Self {
            max_size: MAX_MANIFESTS_SIZE,
            max_count: MAX_MANIFESTS,
        }
    }
}

/// Why a workload was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// No manifest at all.
    #[error("workload manifests should not be empty")]
    Empty,
    #[error("the workload has {count} manifests, more than the limit of {limit}")]
    /// More manifests than the limit.
    TooMany {
        /// How many the workload has.
        count: usize,
        /// The limit.
        limit: usize,
    },
    #[error("the size of manifests is {size} bytes which exceeds the {limit} limit")]
    /// The manifests together are larger than the limit.
    TooLarge {
        /// Their size in bytes.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// One manifest is not a valid Kubernetes object.
    #[error("manifest {index} (kind {kind:?}, name {name:?}) is invalid: {problem}")]
    Invalid {
        /// Its position in the workload.
        index: usize,
        /// Its `kind`, as far as it reads.
        kind: String,
        /// Its `metadata.name`, as far as it reads.
        name: String,
        /// What is wrong.
        problem: ManifestProblem,
    },
}

/// What is wrong with one manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ManifestProblem {
    /// Not a JSON object.
    #[error("it is not a JSON object")]
    NotAnObject,
    /// No `kind`.
    #[error("'kind' is missing")]
    MissingKind,
    /// No `metadata.name`.
    #[error("metadata.name must be set")]
    MissingName,
    /// `metadata.generateName` set: an agent could not find the object again.
    #[error("metadata.generateName must not be set")]
    GenerateName,
}

/// The size one manifest counts for: `1 + n + varint_len(n)` (§4.5).
pub fn manifest_size(manifest: &Manifest) -> usize {
    let n = manifest.json().len();
    1 + n + varint_len(n)
}

fn varint_len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

/// Validates a workload with the default limits.
pub fn validate(manifests: &[Manifest]) -> Result<(), ManifestError> {
    validate_with(manifests, ManifestLimits::default())
}

/// Validates a workload: non-empty, within the count and size limits, every manifest an
/// object with a kind and a name and without generateName.
pub fn validate_with(manifests: &[Manifest], limits: ManifestLimits) -> Result<(), ManifestError> {
    check_bounds(manifests, limits)?;
    for (index, manifest) in manifests.iter().enumerate() {
        check_one(index, object_fields(manifest).as_ref())?;
    }
    Ok(())
}

/// [`validate_with`] on the fields already read from each manifest (`fields[i]` is
/// [`object_fields`] of `manifests[i]`), for a caller that reads them for checks of its own:
/// each manifest is read once. A manifest without an entry is read here.
pub fn validate_read(
    manifests: &[Manifest],
    fields: &[Option<ObjectFields>],
    limits: ManifestLimits,
) -> Result<(), ManifestError> {
    check_bounds(manifests, limits)?;
    for (index, manifest) in manifests.iter().enumerate() {
        match fields.get(index) {
            Some(read) => check_one(index, read.as_ref())?,
            None => check_one(index, object_fields(manifest).as_ref())?,
        }
    }
    Ok(())
}

/// §4.5's bounds on the whole workload: not empty, the count and the size.
fn check_bounds(manifests: &[Manifest], limits: ManifestLimits) -> Result<(), ManifestError> {
    if manifests.is_empty() {
        return Err(ManifestError::Empty);
    }
    if manifests.len() > limits.max_count {
        return Err(ManifestError::TooMany {
            count: manifests.len(),
            limit: limits.max_count,
        });
    }
    let size: usize = manifests.iter().map(manifest_size).sum();
    if size > limits.max_size {
        return Err(ManifestError::TooLarge {
            size,
            limit: limits.max_size,
        });
    }
    Ok(())
}

/// The checks of one manifest, on its fields (`None`: not an object).
fn check_one(index: usize, fields: Option<&ObjectFields>) -> Result<(), ManifestError> {
    let invalid = |kind: &str, name: &str, problem| ManifestError::Invalid {
        index,
        kind: kind.to_owned(),
        name: name.to_owned(),
        problem,
    };
    let Some(fields) = fields else {
        return Err(invalid("", "", ManifestProblem::NotAnObject));
    };
    let problem = if fields.kind.is_empty() {
        Some(ManifestProblem::MissingKind)
    } else if fields.name.is_empty() {
        Some(ManifestProblem::MissingName)
    } else if !fields.generate_name.is_empty() {
        Some(ManifestProblem::GenerateName)
    } else {
        None
    };
    match problem {
        Some(problem) => Err(invalid(&fields.kind, &fields.name, problem)),
        None => Ok(()),
    }
}

/// The fields of a manifest that §4.5 (and the hub's `apiVersion` check) look at. A field
/// that is missing, null or not a string reads as "".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectFields {
    /// `apiVersion`.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.generateName`.
    pub generate_name: String,
}

/// The §4.5 fields of `manifest`, `None` if it is not a JSON object. Reads only those fields
/// (the rest of the object is skipped, not built into a tree); a manifest the quick reading
/// refuses (duplicate keys) is read as a whole value, whose last key wins.
pub fn object_fields(manifest: &Manifest) -> Option<ObjectFields> {
    let text = manifest.json().trim_start();
    if !text.starts_with('{') {
        return None;
    }
    quick_fields(text).or_else(|| value_fields(manifest))
}

#[derive(Deserialize)]
struct TopFields<'a> {
    #[serde(borrow, default, rename = "apiVersion")]
    api_version: Option<&'a RawValue>,
    #[serde(borrow, default)]
    kind: Option<&'a RawValue>,
    #[serde(borrow, default)]
    metadata: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct MetaFields<'a> {
    #[serde(borrow, default)]
    name: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "generateName")]
    generate_name: Option<&'a RawValue>,
}

fn quick_fields(object: &str) -> Option<ObjectFields> {
    let top: TopFields<'_> = serde_json::from_str(object).ok()?;
    let text = |raw: Option<&RawValue>| -> Option<String> {
        match raw {
            Some(raw) if raw.get().starts_with('"') => serde_json::from_str(raw.get()).ok(),
            _ => Some(String::new()),
        }
    };
    let meta = match top.metadata {
        Some(raw) if raw.get().starts_with('{') => {
            serde_json::from_str::<MetaFields<'_>>(raw.get()).ok()?
        }
        _ => MetaFields {
            name: None,
            generate_name: None,
        },
    };
    Some(ObjectFields {
        api_version: text(top.api_version)?,
        kind: text(top.kind)?,
        name: text(meta.name)?,
        generate_name: text(meta.generate_name)?,
    })
}

fn value_fields(manifest: &Manifest) -> Option<ObjectFields> {
    let object = match manifest.to_value() {
        Ok(Value::Object(object)) => object,
        _ => return None,
    };
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_owned();
    let metadata = object.get("metadata");
    Some(ObjectFields {
        api_version: text(object.get("apiVersion")),
        kind: text(object.get("kind")),
        name: text(metadata.and_then(|m| m.get("name"))),
        generate_name: text(metadata.and_then(|m| m.get("generateName"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(text: &str) -> Manifest {
        Manifest::from_json(text).unwrap()
    }

    fn config_map(name: &str) -> Manifest {
        manifest(&format!(
            r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}"}}}}"#
        ))
    }

    fn invalid(manifests: &[Manifest]) -> (usize, String, String, ManifestProblem) {
        match validate(manifests) {
            Err(ManifestError::Invalid {
                index,
                kind,
                name,
                problem,
            }) => (index, kind, name, problem),
            other => panic!("expected an invalid manifest, got {other:?}"),
        }
    }

    #[test]
    fn a_100_byte_manifest_counts_102() {
        let padding = "x".repeat(100 - r#"{"a":""}"#.len());
        let m = manifest(&format!(r#"{{"a":"{padding}"}}"#));
        assert_eq!(m.json().len(), 100);
        assert_eq!(manifest_size(&m), 102);
        assert_eq!(varint_len(127), 1);
        assert_eq!(varint_len(128), 2);
    }

    #[test]
    fn each_bad_manifest_is_named() {
        let ok = config_map("a");
        assert_eq!(
            invalid(&[ok.clone(), manifest(r#"["not","an","object"]"#)]),
            (
                1,
                String::new(),
                String::new(),
                ManifestProblem::NotAnObject
            )
        );
        assert_eq!(
            invalid(&[manifest(r#"{"metadata":{"name":"x"}}"#)]),
            (0, String::new(), "x".into(), ManifestProblem::MissingKind)
        );
        assert_eq!(
            invalid(&[
                ok.clone(),
                ok.clone(),
                manifest(r#"{"kind":"Secret","metadata":{}}"#)
            ]),
            (
                2,
                "Secret".into(),
                String::new(),
                ManifestProblem::MissingName
            )
        );
        let generated = manifest(r#"{"kind":"Pod","metadata":{"name":"p","generateName":"p-"}}"#);
        assert_eq!(
            invalid(&[generated]),
            (0, "Pod".into(), "p".into(), ManifestProblem::GenerateName)
        );
        let message = validate(&[manifest(r#"{"kind":"Pod","metadata":{}}"#)])
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("manifest 0") && message.contains("Pod"),
            "{message}"
        );
    }

    #[test]
    fn the_quick_field_reading_agrees_with_the_whole_value() {
        for text in [
            r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","labels":{"x":"y"}},"data":{"k":"v"}}"#,
            r#"{"kind":"Pod","metadata":{"name":"p\u0041","generateName":"p-"}}"#,
            r#"{"kind":7,"apiVersion":null,"metadata":"not an object"}"#,
            r#"{"kind":"A","metadata":{"name":{"nested":"x"}}}"#,
            r#"{"kind":"A","kind":"B","metadata":{"name":"dup"}}"#,
            r#" {"kind":"Spaced" , "metadata" : { "name" : "s" } }"#,
            r#"{}"#,
        ] {
            let m = manifest(text);
            assert_eq!(object_fields(&m), value_fields(&m), "{text}");
        }
        assert_eq!(object_fields(&manifest(r#"["kind","metadata"]"#)), None);
        assert_eq!(object_fields(&manifest(r#""text""#)), None);
        let dup = object_fields(&manifest(r#"{"kind":"A","kind":"B"}"#)).unwrap();
        assert_eq!(dup.kind, "B", "the last key wins, as in a whole value");
    }

    #[test]
    fn validating_read_fields_decides_as_validating_the_manifests() {
        let workloads = [
            vec![config_map("a"), config_map("b")],
            vec![config_map("a"), manifest(r#"[1]"#)],
            vec![manifest(r#"{"kind":"Secret","metadata":{}}"#)],
            vec![],
        ];
        for manifests in workloads {
            let fields: Vec<_> = manifests.iter().map(object_fields).collect();
            let limits = ManifestLimits::default();
            assert_eq!(
                validate_read(&manifests, &fields, limits),
                validate_with(&manifests, limits)
            );
            assert_eq!(
                validate_read(&manifests, &[], limits),
                validate_with(&manifests, limits),
                "a manifest without fields is read"
            );
        }
    }

    #[test]
    fn empty_too_many_and_too_large_are_refused() {
        assert_eq!(validate(&[]), Err(ManifestError::Empty));
        let many = vec![config_map("a"); MAX_MANIFESTS + 1];
        assert!(matches!(
            validate(&many),
            Err(ManifestError::TooMany { count, .. }) if count == MAX_MANIFESTS + 1
        ));
        let big = manifest(&format!(
            r#"{{"kind":"ConfigMap","metadata":{{"name":"big"}},"data":{{"x":"{}"}}}}"#,
            "y".repeat(MAX_MANIFESTS_SIZE)
        ));
        assert!(matches!(
            validate(&[big]),
            Err(ManifestError::TooLarge {
                limit: MAX_MANIFESTS_SIZE,
                ..
            })
        ));
        // Exactly at the limit passes.
        let exact_len = MAX_MANIFESTS_SIZE - 1 - 3;
        let prefix = r#"{"kind":"A","metadata":{"name":"n"},"d":""#;
        let filler = "z".repeat(exact_len - prefix.len() - 2);
        let exact = manifest(&format!("{prefix}{filler}\"}}"));
        assert_eq!(manifest_size(&exact), MAX_MANIFESTS_SIZE);
        assert_eq!(validate(&[exact]), Ok(()));
    }
}
