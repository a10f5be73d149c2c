//! Terminal output: kubectl-style aligned tables (colours only on a terminal, never with
//! `NO_COLOR`), the API's JSON or YAML, ages, and the status conditions columns read from a
//! resource's reported ManifestWork status.

use std::io::IsTerminal as _;

use anstyle::{AnsiColor, Style};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::args::Format;
use super::error::ClientError;
use crate::hub::api::views::ResourceView;

/// Whether stdout gets colours.
pub fn colour() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Columns padded to their widest cell, three spaces apart, like kubectl.
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new<const N: usize>(headers: [&str; N]) -> Self {
        Self {
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: impl IntoIterator<Item = String>) {
        self.rows.push(cells.into_iter().collect());
    }

    /// The table's lines, cells coloured (by [`paint`]) when `colour`.
    pub fn render(&self, colour: bool) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for (index, row) in std::iter::once(&self.headers).chain(&self.rows).enumerate() {
            let mut line = String::new();
            for (column, cell) in row.iter().enumerate() {
                let last = column + 1 == row.len();
                let painted = if colour && index > 0 {
                    paint(cell)
                } else {
                    cell.clone()
                };
                line.push_str(&painted);
                if !last {
                    let pad = widths[column] - cell.chars().count() + 3;
                    line.push_str(&" ".repeat(pad));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    pub fn print(&self) {
        print!("{}", self.render(colour()));
    }
}

/// Condition statuses in colour: True green, False red, Unknown yellow.
pub fn paint(cell: &str) -> String {
    let colour = match cell {
        "True" => AnsiColor::Green,
        "False" => AnsiColor::Red,
        "Unknown" => AnsiColor::Yellow,
        _ => return cell.to_owned(),
    };
    let style = Style::new().fg_color(Some(colour.into()));
    format!("{style}{cell}{style:#}")
}

/// Prints the API's JSON (pretty) or the same as YAML.
pub fn print_document(format: Format, document: &impl Serialize) -> Result<(), ClientError> {
    // Through `Value`: the views hold raw JSON text that only serde_json can re-read.
    let value = serde_json::to_value(document)
        .map_err(|e| ClientError::Failed(format!("cannot render the answer: {e}")))?;
    let text = match format {
        Format::Yaml => serde_yaml_ng::to_string(&value)
            .map_err(|e| ClientError::Failed(format!("cannot render YAML: {e}")))?,
        _ => {
            let mut text = serde_json::to_string_pretty(&value)
                .map_err(|e| ClientError::Failed(format!("cannot render JSON: {e}")))?;
            text.push('\n');
            text
        }
    };
    print!("{text}");
    Ok(())
}

/// How long ago, kubectl-style: `45s`, `3m20s`, `12m`, `5h`, `3d`.
pub fn age(since: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let s = (now - since).num_seconds().max(0);
    match s {
        0..120 => format!("{s}s"),
        120..600 => format!("{}m{}s", s / 60, s % 60),
        600..10_800 => format!("{}m", s / 60),
        10_800..172_800 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// One status condition of a ManifestWork (`status.conditions[]`).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub message: String,
    pub observed_generation: Option<i64>,
    pub last_transition_time: Option<DateTime<Utc>>,
}

/// The resource's reported status as a JSON value (null before the first report).
pub fn status(resource: &ResourceView) -> Value {
    resource
        .status
        .as_ref()
        .and_then(|raw| serde_json::from_str(raw.get()).ok())
        .unwrap_or(Value::Null)
}

/// Conditions of a `conditions` array (unparseable entries skipped).
pub fn conditions(list: &Value) -> Vec<Condition> {
    list.as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|c| serde_json::from_value(c.clone()).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// The resource's top-level condition of this type.
pub fn condition(resource: &ResourceView, type_: &str) -> Option<Condition> {
    conditions(&status(resource)["conditions"])
        .into_iter()
        .find(|c| c.type_ == type_)
}

/// `CONSUMER/NAME`, or the id of an unnamed resource.
pub fn reference(resource: &ResourceView) -> String {
    match &resource.name {
        Some(name) => format!("{}/{name}", resource.consumer_name),
        None => resource.id.to_string(),
    }
}

/// The columns of a resource row (wide adds ID, MANIFESTS and DELETING).
pub fn resource_row(resource: &ResourceView, wide: bool, now: DateTime<Utc>) -> Vec<String> {
    let state =
        |type_: &str| condition(resource, type_).map_or_else(|| "-".to_owned(), |c| c.status);
    let mut row = vec![
        resource.name.clone().unwrap_or_else(|| "<none>".into()),
        resource.consumer_name.clone(),
        resource.version.to_string(),
        state("Applied"),
        state("Available"),
        age(resource.created_at, now),
    ];
    if wide {
        let manifests =
            serde_json::from_str::<Vec<Value>>(resource.manifests.get()).map_or(0, |m| m.len());
        row.extend([
            resource.id.to_string(),
            manifests.to_string(),
            resource.deleted_at.is_some().to_string(),
        ]);
    }
    row
}

pub const RESOURCE_HEADERS: [&str; 6] =
    ["NAME", "CONSUMER", "VERSION", "APPLIED", "AVAILABLE", "AGE"];
pub const RESOURCE_WIDE_HEADERS: [&str; 9] = [
    "NAME",
    "CONSUMER",
    "VERSION",
    "APPLIED",
    "AVAILABLE",
    "AGE",
    "ID",
    "MANIFESTS",
    "DELETING",
];

/// A table of resources.
pub fn resource_table(resources: &[ResourceView], wide: bool) -> Table {
    let now = Utc::now();
    let mut table = if wide {
        Table::new(RESOURCE_WIDE_HEADERS)
    } else {
        Table::new(RESOURCE_HEADERS)
    };
    for resource in resources {
        table.row(resource_row(resource, wide, now));
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_on_the_widest_cell() {
        let mut table = Table::new(["NAME", "AGE"]);
        table.row(["a-long-name".to_owned(), "5s".to_owned()]);
        table.row(["b".to_owned(), "True".to_owned()]);
        assert_eq!(
            table.render(false),
            "NAME          AGE\na-long-name   5s\nb             True\n"
        );
        assert!(table.render(true).contains("\u{1b}["));
    }

    #[test]
    fn ages_read_like_kubectl() {
        let now = Utc::now();
        let ago = |s| age(now - chrono::Duration::seconds(s), now);
        assert_eq!(ago(5), "5s");
        assert_eq!(ago(200), "3m20s");
        assert_eq!(ago(1800), "30m");
        assert_eq!(ago(7200 * 3), "6h");
        assert_eq!(ago(86_400 * 3), "3d");
    }
}
