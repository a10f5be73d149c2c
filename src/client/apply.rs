//! `baton apply`: one bundle from the files, created or updated on each consumer. Idempotent:
//! an existing resource of that name is updated with the version it holds (a 409 is retried
//! once after re-reading it), and the hub keeps an identical spec as it is (`unchanged`).

use std::collections::BTreeMap;
use std::io::IsTerminal as _;

use futures::StreamExt as _;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;

use super::args::ApplyArgs;
use super::error::ClientError;
use super::http::Hub;
use super::input::{self, Bundle};
use crate::hub::api::views::{
    CONSUMERS_PATH, ConsumerView, RESOURCES_PATH, ResourceCreate, ResourceUpdate, ResourceView,
};

/// The API's label map and raw JSON document (`store::Labels`, `store::RawJson`: the same
/// types, named here without importing the store).
type Labels = BTreeMap<String, String>;
type RawJson = Box<serde_json::value::RawValue>;

/// Consumers applied to at once.
const PARALLEL: usize = 8;

/// What `apply` did on one consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Created,
    Configured,
    Unchanged,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Created => "created",
            Self::Configured => "configured",
            Self::Unchanged => "unchanged",
        })
    }
}

/// The bundle as sent: the same for every consumer.
struct Spec {
    name: String,
    manifests: Vec<Value>,
    delete_option: Option<Value>,
    manifest_configs: Option<Value>,
    labels: Labels,
    annotations: Labels,
}

pub async fn run(hub: &Hub, args: ApplyArgs) -> Result<(), ClientError> {
    let bundle = input::read(&args.files)?;
    let spec = spec(bundle, &args)?;
    let consumers = match &args.selector {
        Some(selector) => selected(hub, selector).await?,
        None => args.consumer.clone(),
    };
    let bar = progress(consumers.len());
    let mut results = futures::stream::iter(&consumers)
        .map(|consumer| apply_one(hub, consumer, &spec))
        .buffered(PARALLEL);
    let mut failed = 0;
    for consumer in &consumers {
        let Some(result) = results.next().await else {
            break;
        };
        bar.suspend(|| match result {
            Ok(outcome) => println!("resource/{consumer}/{} {outcome}", spec.name),
            Err(err) => {
                failed += 1;
                eprintln!("error: resource/{consumer}/{}: {err}", spec.name);
            }
        });
        bar.inc(1);
    }
    bar.finish();
    match failed {
        0 => Ok(()),
        _ => Err(ClientError::Failed(format!(
            "apply failed on {failed} of {} consumers",
            consumers.len()
        ))),
    }
}

/// A bar on stderr for applies to several consumers, only on a terminal.
fn progress(len: usize) -> ProgressBar {
    if len < 2 || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len as u64), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("applying {bar:30} {pos}/{len} consumers") {
        bar.set_style(style);
    }
    bar
}

/// The consumers whose labels match every `key=value` of the selector.
async fn selected(hub: &Hub, selector: &str) -> Result<Vec<String>, ClientError> {
    let wanted = pairs(selector.split(','), "--selector")?;
    let all = hub.list_all::<ConsumerView>(CONSUMERS_PATH, &[]).await?;
    let names: Vec<String> = all
        .items
        .into_iter()
        .filter(|c| wanted.iter().all(|(k, v)| c.labels.get(k) == Some(v)))
        .map(|c| c.name)
        .collect();
    if names.is_empty() {
        return Err(ClientError::NotFound(format!(
            "no consumer matches --selector {selector}"
        )));
    }
    Ok(names)
}

/// `key=value` terms (blank ones skipped) as a map; `flag` names the source in errors.
pub fn pairs<'a>(
    terms: impl IntoIterator<Item = &'a str>,
    flag: &str,
) -> Result<BTreeMap<String, String>, ClientError> {
    let mut map = BTreeMap::new();
    for term in terms.into_iter().map(str::trim).filter(|t| !t.is_empty()) {
        let (key, value) = term
            .split_once('=')
            .ok_or_else(|| ClientError::Usage(format!("{flag} {term:?}: expected key=value")))?;
        map.insert(key.trim().to_owned(), value.trim().to_owned());
    }
    Ok(map)
}

/// Flags over the wrapper document over the file name.
fn spec(bundle: Bundle, args: &ApplyArgs) -> Result<Spec, ClientError> {
    let wrapper = bundle.wrapper.unwrap_or_default();
    let name = args
        .name
        .clone()
        .or(wrapper.name)
        .or(bundle.default_name)
        .ok_or_else(|| {
            ClientError::Usage(
                "name the resource: --name, or `name` in a ResourceBundle document".into(),
            )
        })?;
    let mut labels = wrapper.labels;
    labels.extend(pairs(args.labels.iter().map(String::as_str), "--label")?);
    let mut annotations = wrapper.annotations;
    annotations.extend(pairs(
        args.annotations.iter().map(String::as_str),
        "--annotation",
    )?);
    let flag_document = |flag: &str, text: &Option<String>| -> Result<Option<Value>, ClientError> {
        text.as_deref()
            .map(|t| {
                serde_yaml_ng::from_str::<Value>(t)
                    .map_err(|e| ClientError::Usage(format!("{flag}: {e}")))
            })
            .transpose()
    };
    Ok(Spec {
        name,
        manifests: bundle.manifests,
        delete_option: flag_document("--delete-option", &args.delete_option)?
            .or(wrapper.delete_option),
        manifest_configs: flag_document("--manifest-configs", &args.manifest_configs)?
            .or(wrapper.manifest_configs),
        labels,
        annotations,
    })
}

fn raw(value: &Value) -> Result<RawJson, ClientError> {
    serde_json::value::to_raw_value(value)
        .map_err(|e| ClientError::Failed(format!("cannot encode the bundle: {e}")))
}

async fn find(hub: &Hub, consumer: &str, name: &str) -> Result<Option<ResourceView>, ClientError> {
    let query = [
        ("consumer_name", consumer.to_owned()),
        ("name", name.to_owned()),
    ];
    Ok(hub.resources(&query).await?.items.into_iter().next())
}

async fn apply_one(hub: &Hub, consumer: &str, spec: &Spec) -> Result<Outcome, ClientError> {
    let existing = match find(hub, consumer, &spec.name).await? {
        Some(existing) => existing,
        None => {
            let create = ResourceCreate {
                consumer_name: consumer.to_owned(),
                name: Some(spec.name.clone()),
                manifests: raw(&Value::from(spec.manifests.clone()))?,
                delete_option: spec.delete_option.as_ref().map(raw).transpose()?,
                manifest_configs: spec.manifest_configs.as_ref().map(raw).transpose()?,
                labels: spec.labels.clone(),
                annotations: spec.annotations.clone(),
            };
            match hub.post::<ResourceView>(RESOURCES_PATH, &create).await {
                Ok(_) => return Ok(Outcome::Created),
                // Created meanwhile by someone else: update it below.
                Err(err) if err.is_conflict() => {
                    find(hub, consumer, &spec.name).await?.ok_or(err)?
                }
                Err(err) => return Err(err),
            }
        }
    };
    match update(hub, &existing, spec).await {
        Err(err) if err.is_conflict() => {
            let reread = hub
                .get::<ResourceView>(&format!("{RESOURCES_PATH}/{}", existing.id))
                .await?;
            update(hub, &reread, spec).await
        }
        other => other,
    }
}

/// PUT with the version held; the hub leaves an identical spec (and its version) as it is.
async fn update(hub: &Hub, existing: &ResourceView, spec: &Spec) -> Result<Outcome, ClientError> {
    let body = ResourceUpdate {
        version: existing.version,
        manifests: raw(&Value::from(spec.manifests.clone()))?,
        delete_option: spec.delete_option.as_ref().map(raw).transpose()?,
        manifest_configs: spec.manifest_configs.as_ref().map(raw).transpose()?,
        labels: spec.labels.clone(),
        annotations: spec.annotations.clone(),
    };
    let updated: ResourceView = hub
        .put(&format!("{RESOURCES_PATH}/{}", existing.id), &body)
        .await?;
    Ok(if updated.version == existing.version {
        Outcome::Unchanged
    } else {
        Outcome::Configured
    })
}
