//! Go `encoding/json` rendering of a generic JSON value, as the status hash needs it
//! (docs/protocol.md §6.4 step 2): object keys sorted by bytes at every level, no whitespace, Go's
//! string escaping, integers exact. Rust strings are valid UTF-8 by construction, so Go's
//! "invalid UTF-8 becomes \ufffd" rule is already applied where the bytes were decoded.

use std::fmt::Write as _;

use serde_json::Value;

/// Renders `value` as Go's `json.Marshal` of the equivalent `map[string]interface{}`.
pub fn to_vec(value: &Value) -> Vec<u8> {
    let mut out = String::new();
    write_value(value, &mut out);
    out.into_bytes()
}

fn write_value(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write_value(item, out);
            }
            out.push('}');
        }
    }
}

/// Integers as decimal; floats as Go's `strconv.FormatFloat(f, 'f'|'e', -1, 64)` choice
/// (exponent form below 1e-6 and from 1e21).
fn write_number(n: &serde_json::Number, out: &mut String) {
    if let Some(i) = n.as_i64() {
        let _ = write!(out, "{i}");
    } else if let Some(u) = n.as_u64() {
        let _ = write!(out, "{u}");
    } else if let Some(f) = n.as_f64() {
        let abs = f.abs();
        if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
            // Go: 1e+21, 1e-07 (two-digit exponent at least).
            let text = format!("{f:e}");
            let (mantissa, exp) = text.split_once('e').unwrap_or((&text, "0"));
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp),
            };
            let _ = write!(out, "{mantissa}e{sign}{digits:0>2}");
        } else {
            let _ = write!(out, "{f}");
        }
    }
}

fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(value: Value) -> String {
        String::from_utf8(to_vec(&value)).unwrap()
    }

    #[test]
    fn escapes_like_go() {
        assert_eq!(
            render(json!(
                "<a> & \"b\" \\ \n\r\t\u{8}\u{c}\u{1}\u{1f}\u{7f} é \u{2028}\u{2029}"
            )),
            "\"\\u003ca\\u003e \\u0026 \\\"b\\\" \\\\ \\n\\r\\t\\b\\f\\u0001\\u001f\u{7f} é \\u2028\\u2029\""
        );
    }

    #[test]
    fn sorts_keys_by_bytes_and_keeps_integers_exact() {
        assert_eq!(
            render(json!({"b": 1, "B": [true, null], "a": {"z": 9007199254740993_i64, "y": -42}})),
            r#"{"B":[true,null],"a":{"y":-42,"z":9007199254740993},"b":1}"#
        );
    }

    #[test]
    fn floats_follow_go_formatting() {
        assert_eq!(render(json!(1.5)), "1.5");
        assert_eq!(render(json!(1e21)), "1e+21");
        assert_eq!(render(json!(1e-7)), "1e-07");
    }
}
