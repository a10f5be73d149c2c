//! `baton watch resources`: reads the API's watch stream (`GET /api/v1/resources?watch=true`,
//! Server-Sent Events, docs/api.md) and prints a row (or the event's JSON) per change. A
//! dropped connection is reopened with `Last-Event-ID`, so nothing is skipped or repeated.

use std::future::Future;
use std::time::Duration;

use chrono::Utc;
use reqwest::Method;
use serde::Deserialize;

use super::args::{WatchFormat, WatchWhat};
use super::error::ClientError;
use super::http::Hub;
use super::output;
use super::resources::{matches, query};
use crate::hub::api::views::{RESOURCES_PATH, ResourceView};

/// Wait before reopening a dropped stream.
const RECONNECT: Duration = Duration::from_secs(1);

/// One watch event's `data`.
#[derive(Debug, Deserialize)]
struct WatchEvent {
    #[serde(rename = "type")]
    type_: String,
    position: i64,
    consumer_name: Option<String>,
    name: Option<String>,
    object: Option<ResourceView>,
}

/// One server-sent event: its `id:`, `event:` and joined `data:` lines.
#[derive(Debug, Default, PartialEq)]
struct Sse {
    id: Option<String>,
    event: String,
    data: String,
}

/// Takes the next complete event off the front of `buffer` (comments and blank blocks
/// skipped); `None` until one is complete. Bytes, not text: a chunk may end inside a
/// character.
fn next_event(buffer: &mut Vec<u8>) -> Option<Sse> {
    loop {
        let end = buffer.windows(2).position(|w| w == b"\n\n")?;
        let block: Vec<u8> = buffer.drain(..end + 2).collect();
        let block = String::from_utf8_lossy(&block);
        let mut sse = Sse::default();
        for line in block.lines() {
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "id" => sse.id = Some(value.to_owned()),
                "event" => sse.event = value.to_owned(),
                "data" => {
                    if !sse.data.is_empty() {
                        sse.data.push('\n');
                    }
                    sse.data.push_str(value);
                }
                _ => {} // a comment (heartbeat) or a field this client does not use
            }
        }
        if !sse.data.is_empty() || !sse.event.is_empty() {
            return Some(sse);
        }
    }
}

pub async fn run(
    hub: &Hub,
    what: WatchWhat,
    stop: impl Future<Output = ()> + Send,
) -> Result<(), ClientError> {
    let WatchWhat::Resources(args) = what;
    let terms = args.filter.condition.clone();
    let query = query(&args.filter);
    let mut last_id = args.since.map(|s| s.to_string());
    let mut printer = Printer::new(args.output);
    let mut streamed = false;
    tokio::pin!(stop);
    loop {
        let mut request = hub
            .request(Method::GET, RESOURCES_PATH)
            .query(&query)
            .query(&[("watch", "true")]);
        if let Some(id) = &last_id {
            request = request.header("Last-Event-ID", id);
        }
        let sent = tokio::select! {
            () = &mut stop => return Ok(()),
            sent = hub.send(request) => sent,
        };
        let mut response = match sent {
            Ok(response) => response,
            // The hub went away after the watch began (a restart): try again from the last id.
            Err(err @ ClientError::Connect { .. }) if streamed => {
                tracing::warn!(%err, "watch connection lost; reconnecting");
                tokio::select! {
                    () = &mut stop => return Ok(()),
                    () = tokio::time::sleep(RECONNECT) => continue,
                }
            }
            Err(err) => return Err(err),
        };
        streamed = true;
        let mut buffer = Vec::new();
        loop {
            let chunk = tokio::select! {
                () = &mut stop => return Ok(()),
                chunk = response.chunk() => chunk,
            };
            match chunk {
                Ok(Some(bytes)) => buffer.extend_from_slice(&bytes),
                Ok(None) | Err(_) => break, // reopened below, from the last id
            }
            while let Some(sse) = next_event(&mut buffer) {
                if sse.event == "ERROR" {
                    // The hub dropped this watcher (too far behind): resume from the last id.
                    tracing::warn!(data = %sse.data, "watch ended by the hub; resuming");
                    continue;
                }
                let event: WatchEvent = match serde_json::from_str(&sse.data) {
                    Ok(event) => event,
                    Err(err) => {
                        // One bad event does not end the watch; the next ones may be fine.
                        tracing::warn!(%err, id = ?sse.id, "skipping a watch event that is not the API's JSON");
                        last_id = sse.id.or(last_id);
                        continue;
                    }
                };
                last_id = sse.id.or(Some(event.position.to_string()));
                let shown = event.object.as_ref().is_none_or(|r| matches(r, &terms));
                if shown {
                    printer.print(&sse.data, &event);
                }
            }
        }
        tokio::select! {
            () = &mut stop => return Ok(()),
            () = tokio::time::sleep(RECONNECT) => {}
        }
    }
}

/// Rows with fixed minimum widths (a stream cannot measure its future rows), or JSON lines.
struct Printer {
    format: WatchFormat,
    header: bool,
}

const WIDTHS: [usize; 7] = [9, 24, 20, 8, 8, 10, 5];

impl Printer {
    fn new(format: WatchFormat) -> Self {
        Self {
            format,
            header: false,
        }
    }

    fn print(&mut self, data: &str, event: &WatchEvent) {
        if self.format == WatchFormat::Json {
            println!("{data}");
            return;
        }
        if !self.header {
            self.header = true;
            let headers = [
                "EVENT",
                "NAME",
                "CONSUMER",
                "VERSION",
                "APPLIED",
                "AVAILABLE",
                "AGE",
            ];
            println!("{}", line(headers.iter().map(|h| (*h).to_owned()), false));
        }
        let cells: Vec<String> = match &event.object {
            Some(resource) => std::iter::once(event.type_.clone())
                .chain(output::resource_row(resource, false, Utc::now()))
                .collect(),
            None => vec![
                event.type_.clone(),
                event.name.clone().unwrap_or_else(|| "<none>".into()),
                event.consumer_name.clone().unwrap_or_default(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
            ],
        };
        println!("{}", line(cells, output::colour()));
    }
}

fn line(cells: impl IntoIterator<Item = String>, colour: bool) -> String {
    let cells: Vec<String> = cells.into_iter().collect();
    let mut out = String::new();
    for (index, cell) in cells.iter().enumerate() {
        out.push_str(&if colour {
            output::paint(cell)
        } else {
            cell.clone()
        });
        if index + 1 < cells.len() {
            let width = WIDTHS.get(index).copied().unwrap_or(0);
            out.push_str(&" ".repeat(width.saturating_sub(cell.chars().count()) + 3));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_on_blank_lines_and_comments_are_skipped() {
        let mut buffer =
            b": heartbeat\n\nid: 7\nevent: ADDED\ndata: {\"a\":1}\n\nid: 8\nevent: MOD".to_vec();
        assert_eq!(
            next_event(&mut buffer),
            Some(Sse {
                id: Some("7".into()),
                event: "ADDED".into(),
                data: "{\"a\":1}".into()
            })
        );
        assert_eq!(next_event(&mut buffer), None);
        assert_eq!(buffer, b"id: 8\nevent: MOD");
    }
}
