//! The documents of a create or update request kept as JSON text: what the hub stores, answers
//! and publishes, without building a `serde_json::Value` tree of every object. Owns one rule:
//! stored text is compact. Text from serde_json, Go's `encoding/json` and most clients already
//! is, and passes through untouched; a pretty-printed request is re-rendered compactly once
//! (so spacing never counts toward §4.5's size limit, as before).

use serde_json::Value;

use crate::hub::error::ApiError;
use crate::store::RawJson;

/// `raw` unchanged if it has no whitespace outside strings, else re-rendered compactly.
pub fn compact(field: &str, raw: RawJson) -> Result<RawJson, ApiError> {
    if is_compact(raw.get()) {
        return Ok(raw);
    }
    serde_json::from_str::<Value>(raw.get())
        .and_then(|value| serde_json::value::to_raw_value(&value))
        .map_err(|e| ApiError::field(field, e.to_string()))
}

/// Whether JSON `text` has no whitespace between its tokens.
fn is_compact(text: &str) -> bool {
    let (mut in_string, mut escaped) = (false, false);
    for &byte in text.as_bytes() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
        } else {
            match byte {
                b'"' => in_string = true,
                b' ' | b'\n' | b'\r' | b'\t' => return false,
                _ => {}
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> RawJson {
        serde_json::value::RawValue::from_string(text.to_owned()).expect("json")
    }

    #[test]
    fn compact_text_passes_through_and_spacing_outside_strings_is_removed() {
        let kept = r#"[{"b":"with spaces \" and \\","a":[1,2]}]"#;
        assert_eq!(compact("m", raw(kept)).expect("ok").get(), kept);
        let pretty = "[ {\n  \"a\" : \"x y\",\n\t\"b\": [1, 2] } ]";
        assert_eq!(
            compact("m", raw(pretty)).expect("ok").get(),
            r#"[{"a":"x y","b":[1,2]}]"#
        );
        assert!(!is_compact(r#"{"a": 1}"#));
        assert!(is_compact(r#"{"a \"b\" ":"\\"}"#));
    }
}
