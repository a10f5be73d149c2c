//! `get`, `describe`, `delete` and `wait` of resources, named by ID or `CONSUMER/NAME`.

use std::time::Duration;

use chrono::Utc;
use serde::Deserialize;
use serde_json::Value;

use super::args::{
    ConditionTerm, DeleteWhat, DescribeWhat, Format, GetWhat, ResourceFilterArgs, ResourceRef,
    WaitArgs, WaitFor,
};
use super::error::ClientError;
use super::http::Hub;
use super::output::{self, Condition, Table};
use crate::hub::api::views::{ListView, RESOURCES_PATH, ResourceView};

/// How often `wait` and `delete --wait` look again.
const POLL: Duration = Duration::from_millis(250);

/// The resource a reference names.
pub async fn resolve(hub: &Hub, reference: &ResourceRef) -> Result<ResourceView, ClientError> {
    match reference {
        ResourceRef::Id(id) => hub.get(&format!("{RESOURCES_PATH}/{id}")).await,
        ResourceRef::Named { consumer, name } => {
            let query = [("consumer_name", consumer.clone()), ("name", name.clone())];
            hub.resources(&query)
                .await?
                .items
                .into_iter()
                .next()
                .ok_or_else(|| ClientError::NotFound(String::new()))
        }
    }
    .map_err(|err| {
        if err.is_not_found() {
            ClientError::NotFound(format!("{reference} not found"))
        } else {
            err
        }
    })
}

/// The list's query: the API's filters (the `condition` filter is also applied here, so a hub
/// without it still answers right).
pub fn query(filter: &ResourceFilterArgs) -> Vec<(&'static str, String)> {
    let mut query = Vec::new();
    if let Some(consumer) = &filter.consumer {
        query.push(("consumer_name", consumer.clone()));
    }
    if let Some(selector) = &filter.selector {
        query.push(("labels", selector.clone()));
    }
    for condition in &filter.condition {
        query.push(("condition", condition.to_string()));
    }
    query
}

/// Whether the resource's top-level conditions hold every term.
pub fn matches(resource: &ResourceView, terms: &[ConditionTerm]) -> bool {
    terms.iter().all(|term| {
        output::condition(resource, &term.type_).is_some_and(|c| c.status == term.status)
    })
}

pub async fn get(hub: &Hub, what: GetWhat) -> Result<(), ClientError> {
    match what {
        GetWhat::Resources(args) => {
            let mut list = hub.resources(&query(&args.filter)).await?;
            list.items.retain(|r| matches(r, &args.filter.condition));
            // Like kubectl, by name: the API's creation order differs between runs of a
            // parallel apply.
            list.items.sort_by(|a, b| {
                (&a.consumer_name, &a.name, a.id).cmp(&(&b.consumer_name, &b.name, b.id))
            });
            list.size = u32::try_from(list.items.len()).unwrap_or(u32::MAX);
            list.total = i64::from(list.size);
            print_resources(args.output, &list)
        }
        GetWhat::Resource { reference, output } => {
            let resource = resolve(hub, &reference).await?;
            match output {
                Format::Json | Format::Yaml => output::print_document(output, &resource),
                _ => print_resources(
                    output,
                    &ListView {
                        kind: "ResourceList".into(),
                        page: 1,
                        size: 1,
                        total: 1,
                        items: vec![resource],
                    },
                ),
            }
        }
    }
}

fn print_resources(format: Format, list: &ListView<ResourceView>) -> Result<(), ClientError> {
    match format {
        Format::Json | Format::Yaml => output::print_document(format, list),
        Format::Name => {
            for resource in &list.items {
                println!("resource/{}", output::reference(resource));
            }
            Ok(())
        }
        Format::Table | Format::Wide => {
            if list.items.is_empty() {
                eprintln!("No resources found.");
            } else {
                output::resource_table(&list.items, format == Format::Wide).print();
            }
            Ok(())
        }
    }
}

/// One entry of `GET /resources/{id}/history`.
#[derive(Debug, Deserialize)]
struct Transition {
    #[serde(rename = "type")]
    type_: String,
    status: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    message: String,
    time: chrono::DateTime<Utc>,
}

#[derive(Debug, Deserialize)]
struct History {
    items: Vec<Transition>,
}

pub async fn describe(hub: &Hub, what: DescribeWhat) -> Result<(), ClientError> {
    let DescribeWhat::Resource { reference } = what;
    let resource = resolve(hub, &reference).await?;
    let now = Utc::now();
    let labels = |map: &std::collections::BTreeMap<String, String>| {
        if map.is_empty() {
            "<none>".to_owned()
        } else {
            map.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        }
    };
    println!(
        "Name:         {}",
        resource.name.as_deref().unwrap_or("<none>")
    );
    println!("ID:           {}", resource.id);
    println!("Consumer:     {}", resource.consumer_name);
    println!("Version:      {}", resource.version);
    println!("Labels:       {}", labels(&resource.labels));
    println!("Annotations:  {}", labels(&resource.annotations));
    println!(
        "Created:      {} ({} ago)",
        resource.created_at.to_rfc3339(),
        output::age(resource.created_at, now)
    );
    if let Some(deleted) = resource.deleted_at {
        println!("Deleting:     since {}", deleted.to_rfc3339());
    }
    let status = output::status(&resource);
    println!("Conditions:");
    print_conditions(&output::conditions(&status["conditions"]), now);
    println!("Manifests:");
    let manifests: Vec<Value> = serde_json::from_str(resource.manifests.get()).unwrap_or_default();
    let reported = status["resourceStatus"]["manifests"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for (index, manifest) in manifests.iter().enumerate() {
        let meta = &manifest["metadata"];
        let namespace = meta["namespace"]
            .as_str()
            .map(|n| format!("{n}/"))
            .unwrap_or_default();
        println!(
            "  [{index}] {} {} {namespace}{}",
            manifest["apiVersion"].as_str().unwrap_or("?"),
            manifest["kind"].as_str().unwrap_or("?"),
            meta["name"].as_str().unwrap_or("?"),
        );
        let own = reported
            .iter()
            .find(|m| m["resourceMeta"]["ordinal"].as_u64() == Some(index as u64));
        match own {
            Some(m) => print_conditions(&output::conditions(&m["conditions"]), now),
            None => println!("    <no status reported>"),
        }
    }
    println!("History:");
    let path = format!("{RESOURCES_PATH}/{}/history", resource.id);
    match hub.get::<History>(&path).await {
        Ok(history) if history.items.is_empty() => println!("  <none>"),
        Ok(history) => {
            let mut table = Table::new(["AGE", "TYPE", "STATUS", "REASON", "MESSAGE"]);
            for t in history.items {
                table.row([
                    output::age(t.time, now),
                    t.type_,
                    t.status,
                    t.reason,
                    t.message,
                ]);
            }
            print_indented(&table);
        }
        // A hub that keeps no history answers 404 for the path.
        Err(err) if err.is_not_found() => println!("  <not kept by this hub>"),
        Err(err) => return Err(err),
    }
    Ok(())
}

fn print_conditions(conditions: &[Condition], now: chrono::DateTime<Utc>) {
    if conditions.is_empty() {
        println!("    <none>");
        return;
    }
    let mut table = Table::new(["TYPE", "STATUS", "REASON", "AGE", "MESSAGE"]);
    for c in conditions {
        table.row([
            c.type_.clone(),
            c.status.clone(),
            c.reason.clone(),
            c.last_transition_time
                .map_or_else(|| "-".to_owned(), |t| output::age(t, now)),
            c.message.clone(),
        ]);
    }
    print_indented(&table);
}

fn print_indented(table: &Table) {
    for line in table.render(output::colour()).lines() {
        println!("    {line}");
    }
}

pub async fn delete(hub: &Hub, what: DeleteWhat) -> Result<(), ClientError> {
    let DeleteWhat::Resource {
        reference,
        wait,
        timeout,
    } = what;
    let resource = resolve(hub, &reference).await?;
    let name = output::reference(&resource);
    hub.delete(&format!("{RESOURCES_PATH}/{}", resource.id))
        .await?;
    if !wait {
        println!("resource/{name} deleting");
        return Ok(());
    }
    let deadline = Deadline {
        at: tokio::time::Instant::now() + timeout,
        limit: timeout,
    };
    wait_for(hub, &resource, &WaitFor::Delete, deadline).await?;
    println!("resource/{name} deleted");
    Ok(())
}

pub async fn wait(hub: &Hub, args: WaitArgs) -> Result<(), ClientError> {
    let deadline = Deadline {
        at: tokio::time::Instant::now() + args.timeout,
        limit: args.timeout,
    };
    for reference in &args.resources {
        let resource = match resolve(hub, reference).await {
            Err(err) if err.is_not_found() && args.condition == WaitFor::Delete => {
                println!("{reference} deleted");
                continue;
            }
            other => other?,
        };
        wait_for(hub, &resource, &args.condition, deadline).await?;
        let met = match &args.condition {
            WaitFor::Delete => "deleted".to_owned(),
            WaitFor::Condition { type_, status } => format!("condition met ({type_}={status})"),
        };
        println!("resource/{} {met}", output::reference(&resource));
    }
    Ok(())
}

/// When waiting ends, and the `--timeout` it came from (for the message).
#[derive(Debug, Clone, Copy)]
struct Deadline {
    at: tokio::time::Instant,
    limit: Duration,
}

/// Polls the resource until `until` holds; on timeout the error says what was seen last.
async fn wait_for(
    hub: &Hub,
    resource: &ResourceView,
    until: &WaitFor,
    deadline: Deadline,
) -> Result<(), ClientError> {
    let path = format!("{RESOURCES_PATH}/{}", resource.id);
    let name = output::reference(resource);
    loop {
        let seen = hub.get::<ResourceView>(&path).await;
        let last = match (until, seen) {
            (WaitFor::Delete, Err(err)) if err.is_not_found() => return Ok(()),
            (WaitFor::Delete, Ok(_)) => "it still exists (the agent has not confirmed)".to_owned(),
            (WaitFor::Condition { .. }, Err(err)) if err.is_not_found() => {
                return Err(ClientError::Failed(format!("resource/{name} was deleted")));
            }
            (_, Err(err)) => return Err(err),
            (WaitFor::Condition { type_, status }, Ok(current)) => {
                match output::condition(&current, type_) {
                    Some(c)
                        if &c.status == status
                            && c.observed_generation.is_none_or(|g| g == current.version) =>
                    {
                        return Ok(());
                    }
                    Some(c) if c.observed_generation.is_some_and(|g| g != current.version) => {
                        format!(
                            "the agent has not reported on version {} yet (last {type_}={} for version {})",
                            current.version,
                            c.status,
                            c.observed_generation.unwrap_or_default()
                        )
                    }
                    Some(c) => format!("{type_}={} ({}: {})", c.status, c.reason, c.message),
                    None if current.status.is_none() => "no status reported yet".to_owned(),
                    None => format!("no {type_} condition reported"),
                }
            }
        };
        if tokio::time::Instant::now() >= deadline.at {
            let wanted = match until {
                WaitFor::Delete => "deletion".to_owned(),
                WaitFor::Condition { type_, status } => format!("condition {type_}={status}"),
            };
            return Err(ClientError::Failed(format!(
                "timed out after {:?} waiting for {wanted} of resource/{name}: {last}",
                deadline.limit
            )));
        }
        tokio::time::sleep(POLL).await;
    }
}
