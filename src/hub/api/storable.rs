//! The one check every string of a request passes before a store sees it: text that some
//! backend cannot keep is a 400 naming the field, so both stores answer the same. PostgreSQL's
//! `text` and `jsonb` refuse U+0000 (SQLite keeps it), and its `json` refuses a `\u` escape
//! of an unpaired UTF-16 surrogate, which serde_json lets through in documents it keeps as
//! text. The request extractors ([`super::extract`]) call [`Storable::check`] on every body and
//! query they parse, so no handler can forget it.
//! Documents nested deeper than [`MAX_JSON_DEPTH`] are refused here too: SQLite's JSON
//! functions stop at 1,000 levels and PostgreSQL's parser at its stack depth, so without a
//! limit below both the stores would answer differently, and with a 500.
//! Must not know the stores or the other rules of a field (names, manifests: `validate`).

use super::views::{
    ConsumerCreate, ConsumerPatch, PageParams, ResourceCreate, ResourceFilterParams, ResourceUpdate,
};
use crate::hub::error::ApiError;
use crate::store::{Labels, RawJson};

/// The deepest nesting of arrays and objects accepted in a document kept as JSON (a
/// Kubernetes manifest nests a dozen levels; the stores break at 1,000 or at their stack).
pub const MAX_JSON_DEPTH: usize = 100;

/// A request part whose strings can all be stored by every backend.
pub trait Storable {
    /// The first field holding text no backend may be given, as a 400 naming it.
    fn check(&self) -> Result<(), ApiError>;
}

/// A plain string: anything but U+0000.
pub fn text(field: &str, value: &str) -> Result<(), ApiError> {
    if value.contains('\0') {
        return Err(ApiError::field(field, "must not contain U+0000"));
    }
    Ok(())
}

/// An optional plain string.
pub fn optional_text(field: &str, value: Option<&str>) -> Result<(), ApiError> {
    value.map_or(Ok(()), |v| text(field, v))
}

/// Labels or annotations: keys and values are plain strings.
pub fn labels(field: &str, labels: &Labels) -> Result<(), ApiError> {
    for (key, value) in labels {
        if key.contains('\0') || value.contains('\0') {
            return Err(ApiError::field(
                field,
                format!("{key:?}: keys and values must not contain U+0000"),
            ));
        }
    }
    Ok(())
}

/// A JSON document kept as text: no string in it escapes U+0000 or an unpaired surrogate.
/// (Unescaped, neither can occur: JSON strings hold no raw control characters and Rust
/// strings no surrogates.)
/// Nested at most [`MAX_JSON_DEPTH`] levels.
pub fn document(field: &str, raw: &RawJson) -> Result<(), ApiError> {
    if deeper_than(raw.get(), MAX_JSON_DEPTH) {
        return Err(ApiError::field(
            field,
            format!("arrays and objects are nested more than {MAX_JSON_DEPTH} levels deep"),
        ));
    }
    match bad_escape(raw.get()) {
        None => Ok(()),
        Some(escape) => Err(ApiError::field(
            field,
            format!("a string escapes {escape}, which cannot be stored"),
        )),
    }
}

/// An optional document.
pub fn optional_document(field: &str, raw: Option<&RawJson>) -> Result<(), ApiError> {
    raw.map_or(Ok(()), |r| document(field, r))
}

impl Storable for ConsumerCreate {
    fn check(&self) -> Result<(), ApiError> {
        text("name", &self.name)?;
        labels("labels", &self.labels)
    }
}

impl Storable for ConsumerPatch {
    fn check(&self) -> Result<(), ApiError> {
        labels("labels", &self.labels)
    }
}

impl Storable for ResourceCreate {
    fn check(&self) -> Result<(), ApiError> {
        text("consumer_name", &self.consumer_name)?;
        optional_text("name", self.name.as_deref())?;
        spec(
            &self.manifests,
            self.delete_option.as_ref(),
            self.manifest_configs.as_ref(),
            &self.labels,
            &self.annotations,
        )
    }
}

impl Storable for ResourceUpdate {
    fn check(&self) -> Result<(), ApiError> {
        spec(
            &self.manifests,
            self.delete_option.as_ref(),
            self.manifest_configs.as_ref(),
            &self.labels,
            &self.annotations,
        )
    }
}

/// The documents and maps of a create or an update.
fn spec(
    manifests: &RawJson,
    delete_option: Option<&RawJson>,
    manifest_configs: Option<&RawJson>,
    labels_: &Labels,
    annotations: &Labels,
) -> Result<(), ApiError> {
    document("manifests", manifests)?;
    optional_document("delete_option", delete_option)?;
    optional_document("manifest_configs", manifest_configs)?;
    labels("labels", labels_)?;
    labels("annotations", annotations)
}

impl Storable for PageParams {
    fn check(&self) -> Result<(), ApiError> {
        Ok(()) // numbers and enums only
    }
}

impl Storable for ResourceFilterParams {
    fn check(&self) -> Result<(), ApiError> {
        optional_text("consumer_name", self.consumer_name.as_deref())?;
        optional_text("name", self.name.as_deref())?;
        optional_text("labels", self.labels.as_deref())
    }
}

/// Whether valid JSON `text` nests arrays and objects more than `limit` levels deep. It
/// counts brackets outside strings, without recursion, so any depth is measured safely.
fn deeper_than(text: &str, limit: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut bytes = text.bytes();
    while let Some(byte) = bytes.next() {
        match (in_string, byte) {
            (true, b'\\') => {
                bytes.next(); // the escaped character, which may be a quote
            }
            (_, b'"') => in_string = !in_string,
            (false, b'[' | b'{') => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            (false, b']' | b'}') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// The first `\uXXXX` escape in JSON `text` that is U+0000 or not part of a surrogate pair.
fn bad_escape(text: &str) -> Option<&'static str> {
    let bytes = text.as_bytes();
    // A high surrogate seen last, waiting for its low half.
    let mut pending_high = false;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            if pending_high {
                return Some("an unpaired surrogate");
            }
            i += 1;
            continue;
        }
        // Inside a string (outside one JSON has no backslash): `\` and the escaped character.
        let &escaped = bytes.get(i + 1)?;
        if escaped != b'u' {
            if pending_high {
                return Some("an unpaired surrogate");
            }
            i += 2;
            continue;
        }
        let unit = text
            .get(i + 2..i + 6)
            .and_then(|hex| u16::from_str_radix(hex, 16).ok())?;
        match unit {
            0 => return Some("U+0000"),
            0xD800..=0xDBFF if !pending_high => pending_high = true,
            0xDC00..=0xDFFF if pending_high => pending_high = false,
            0xD800..=0xDFFF => return Some("an unpaired surrogate"),
            _ if pending_high => return Some("an unpaired surrogate"),
            _ => {}
        }
        i += 6;
    }
    pending_high.then_some("an unpaired surrogate")
}

/// Numbers and booleans only: nothing to check.
impl Storable for super::views::WatchParams {
    fn check(&self) -> Result<(), ApiError> {
        Ok(())
    }
}

/// A number only.
impl Storable for super::views::WatchSince {
    fn check(&self) -> Result<(), ApiError> {
        Ok(())
    }
}

/// A boolean only.
impl Storable for super::views::ConsumerFilterParams {
    fn check(&self) -> Result<(), ApiError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> RawJson {
        serde_json::value::RawValue::from_string(text.to_owned()).expect("json")
    }

    #[test]
    fn escapes_a_backend_cannot_store_are_found_and_others_pass() {
        for ok in [
            r#"[{"a":"b"}]"#,
            r#"{"a":"\\u0000"}"#,
            r#"{"a":"\u0001 \n \" \\"}"#,
            r#"{"\ud83d\ude00":"\uD83D\uDE00"}"#,
            r#"{"a":"é \u00e9"}"#,
        ] {
            assert_eq!(bad_escape(ok), None, "{ok}");
            assert!(document("manifests", &raw(ok)).is_ok());
        }
        for (bad, what) in [
            (r#"{"a":"x\u0000"}"#, "U+0000"),
            (r#"{"a\u0000":1}"#, "U+0000"),
            (r#"{"a":"\ud800"}"#, "an unpaired surrogate"),
            (r#"{"a":"\ud800x"}"#, "an unpaired surrogate"),
            (r#"{"a":"\ud800\n"}"#, "an unpaired surrogate"),
            (r#"{"a":"\ud800\u0041"}"#, "an unpaired surrogate"),
            (r#"{"a":"\udc00"}"#, "an unpaired surrogate"),
        ] {
            assert_eq!(bad_escape(bad), Some(what), "{bad}");
        }
    }

    #[test]
    fn depth_counts_brackets_outside_strings() {
        assert!(!deeper_than("1", 0));
        assert!(!deeper_than(r#"[{"a":[]}]"#, 3));
        assert!(deeper_than(r#"[{"a":[[]]}]"#, 3));
        assert!(!deeper_than(r#"[{"a":"[[[[\"[[[["}]"#, 2));
        assert!(!deeper_than(r#"[[1],[2],{"b":3}]"#, 2));
        let deep = format!("{}{}", "[".repeat(101), "]".repeat(101));
        assert!(document("manifests", &raw(&deep)).is_err());
        let ok = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(document("manifests", &raw(&ok)).is_ok());
    }

    #[test]
    fn text_and_labels_refuse_nul_naming_the_field() {
        assert!(text("name", "ok").is_ok());
        let err = text("name", "a\0").expect_err("nul");
        assert!(matches!(err, ApiError::InvalidField { ref field, .. } if field == "name"));
        let bad = Labels::from([("a\0".to_owned(), "b".to_owned())]);
        let err = labels("annotations", &bad).expect_err("nul key");
        assert!(matches!(err, ApiError::InvalidField { ref field, .. } if field == "annotations"));
        let bad = Labels::from([("a".to_owned(), "\0".to_owned())]);
        assert!(labels("labels", &bad).is_err());
    }
}
