//! `baton consumers create|list|get|label|delete`.

use std::collections::BTreeMap;

use chrono::Utc;

use super::apply::pairs;
use super::args::{ConsumersCommand, Format};
use super::error::ClientError;
use super::http::Hub;
use super::output::{self, Table};
use crate::hub::api::views::{
    CONSUMERS_PATH, ConsumerCreate, ConsumerPatch, ConsumerView, ListView,
};

pub async fn run(hub: &Hub, command: ConsumersCommand) -> Result<(), ClientError> {
    match command {
        ConsumersCommand::Create { name, labels } => {
            let body = ConsumerCreate {
                name,
                labels: pairs(labels.iter().map(String::as_str), "--label")?,
            };
            let created: ConsumerView = hub.post(CONSUMERS_PATH, &body).await?;
            println!("consumer/{} created", created.name);
        }
        ConsumersCommand::List { output } => {
            let list = hub.list_all::<ConsumerView>(CONSUMERS_PATH, &[]).await?;
            print(output, &list)?;
        }
        ConsumersCommand::Get { name, output } => {
            let consumer = get(hub, &name).await?;
            match output {
                Format::Json | Format::Yaml => output::print_document(output, &consumer)?,
                _ => print(
                    output,
                    &ListView {
                        kind: "ConsumerList".into(),
                        page: 1,
                        size: 1,
                        total: 1,
                        items: vec![consumer],
                    },
                )?,
            }
        }
        ConsumersCommand::Label { name, changes } => {
            let consumer = get(hub, &name).await?;
            let mut labels = consumer.labels;
            for change in &changes {
                match change.strip_suffix('-') {
                    Some(key) if !change.contains('=') => {
                        labels.remove(key);
                    }
                    _ => labels.extend(pairs([change.as_str()], "label")?),
                }
            }
            let path = format!("{CONSUMERS_PATH}/{}", consumer.id);
            let patched: ConsumerView = hub.patch(&path, &ConsumerPatch { labels }).await?;
            println!("consumer/{} labeled", patched.name);
        }
        ConsumersCommand::Delete { name } => {
            let consumer = get(hub, &name).await?;
            hub.delete(&format!("{CONSUMERS_PATH}/{}", consumer.id))
                .await?;
            println!("consumer/{} deleted", consumer.name);
        }
    }
    Ok(())
}

async fn get(hub: &Hub, name: &str) -> Result<ConsumerView, ClientError> {
    hub.get(&format!("{CONSUMERS_PATH}/{name}"))
        .await
        .map_err(|e| {
            if e.is_not_found() {
                ClientError::NotFound(format!("consumer {name:?} not found"))
            } else {
                e
            }
        })
}

fn print(format: Format, list: &ListView<ConsumerView>) -> Result<(), ClientError> {
    match format {
        Format::Json | Format::Yaml => return output::print_document(format, list),
        Format::Name => {
            for consumer in &list.items {
                println!("consumer/{}", consumer.name);
            }
            return Ok(());
        }
        Format::Table | Format::Wide => {}
    }
    if list.items.is_empty() {
        eprintln!("No consumers found.");
        return Ok(());
    }
    let now = Utc::now();
    let wide = format == Format::Wide;
    let mut table = if wide {
        Table::new(["NAME", "CONNECTED", "LABELS", "AGE", "ID"])
    } else {
        Table::new(["NAME", "CONNECTED", "LABELS", "AGE"])
    };
    for consumer in &list.items {
        let mut row = vec![
            consumer.name.clone(),
            consumer
                .connected
                .map_or_else(|| "unknown".to_owned(), |c| c.to_string()),
            labels(&consumer.labels),
            output::age(consumer.created_at, now),
        ];
        if wide {
            row.push(consumer.id.to_string());
        }
        table.row(row);
    }
    table.print();
    Ok(())
}

fn labels(labels: &BTreeMap<String, String>) -> String {
    if labels.is_empty() {
        return "<none>".into();
    }
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}
