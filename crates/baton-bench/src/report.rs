//! A scenario's outcome: a human table on stdout, then one JSON line
//! `{"scenario":..., "params":..., "results":...}` that scripts and the smoke test parse.

use serde_json::{Map, Value, json};

pub struct Report {
    pub scenario: &'static str,
    pub params: Value,
    pub results: Value,
}

impl Report {
    /// Prints the table, then the JSON line (last line of stdout).
    pub fn print(&self) {
        println!("== baton bench {} ==", self.scenario);
        print_section("params", &self.params);
        print_section("results", &self.results);
        let line = json!({
            "scenario": self.scenario,
            "params": self.params,
            "results": self.results,
        });
        println!("{line}");
    }
}

fn print_section(title: &str, value: &Value) {
    println!("{title}:");
    let mut rows = Vec::new();
    flatten("", value, &mut rows);
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (key, value) in rows {
        println!("  {key:<width$}  {value}");
    }
}

/// `{"a": {"b": 1}}` → `a.b  1`.
fn flatten(prefix: &str, value: &Value, rows: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => flatten_map(prefix, map, rows),
        Value::String(s) => rows.push((prefix.to_owned(), s.clone())),
        other => rows.push((prefix.to_owned(), other.to_string())),
    }
}

fn flatten_map(prefix: &str, map: &Map<String, Value>, rows: &mut Vec<(String, String)>) {
    for (key, value) in map {
        let name = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        flatten(&name, value, rows);
    }
}
