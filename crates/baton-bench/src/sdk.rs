//! Scenario `sdk`: the SDK alone, without the hub: baton's `SourceClient` (bundle codec) and
//! the `WorkClient` agent (inside the reference agent's controller) move N works through
//! create → applied → update → applied → delete → confirmed over Mosquitto; the whole run and
//! each phase are timed.
//!
//! In the same run, sdk-go's own source and agent take the same number of works through the
//! same lifecycle on their own topics of the same Mosquitto ([`crate::sdk_go`]); the report
//! gives both and `baton_speedup` (sdk-go's total over baton's).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use async_trait::async_trait;
use futures::StreamExt;
use serde_json::json;
use tokio::sync::Notify;

use crate::args::{Common, parse_duration};
use crate::env;
use crate::report::Report;
use crate::sdk_go;
use crate::stats::round;
use baton::agent::run::SimulatedAgent;
use baton_cloudevents::resource::handler_fn;
use baton_cloudevents::transport::mqtt::{MqttConfig, MqttTransport};
use baton_cloudevents::work::model::{Manifest, ManifestWork, Time, manifest_bundles_data_type};
use baton_cloudevents::work::source_status::{StatusOutcome, apply_status};
use baton_cloudevents::work::{BundleSourceCodec, WorkStatusHasher};
use baton_cloudevents::{
    Action, EventType, ListError, ListOptions, Lister, SourceClient, SubResource, TransportRole,
};

#[derive(Debug, clap::Args)]
pub struct SdkArgs {
    #[command(flatten)]
    pub common: Common,
    /// Works taken through the lifecycle.
    #[arg(long, default_value_t = 300)]
    pub works: usize,
    /// Clusters the works are spread over (one agent each).
    #[arg(long, default_value_t = 1)]
    pub clusters: usize,
    /// Throttle the source's publishes (events/s; sdk-go's default limiter holds ~50/s).
    #[arg(long)]
    pub publish_rate_limit: Option<f64>,
    /// Run only baton's pair, not sdk-go's (the Go interop program).
    #[arg(long)]
    pub without_sdk_go: bool,
    /// Give up on a phase after this long.
    #[arg(long, default_value = "120s", value_parser = parse_duration)]
    pub timeout: Duration,
}

/// The source's cache: what it wants, with the status agents reported.
#[derive(Default)]
struct Cache {
    works: Mutex<HashMap<String, ManifestWork>>,
    changed: Notify,
}

impl Cache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, ManifestWork>> {
        self.works.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Works whose Applied condition observed `generation`, and how many are left.
    fn applied_at(&self, generation: i64) -> usize {
        self.lock()
            .values()
            .filter(|w| {
                w.status.conditions.iter().any(|c| {
                    c.type_ == "Applied"
                        && c.status == "True"
                        && c.observed_generation == generation
                })
            })
            .count()
    }
}

#[async_trait]
impl Lister<ManifestWork> for Cache {
    async fn list(&self, options: &ListOptions) -> Result<Vec<ManifestWork>, ListError> {
        Ok(self
            .lock()
            .values()
            .filter(|w| {
                options.cluster_name.is_empty() || w.metadata.namespace == options.cluster_name
            })
            .cloned()
            .collect())
    }
}

fn work(cluster: &str, i: usize, generation: i64) -> anyhow::Result<ManifestWork> {
    let mut work = ManifestWork::default();
    work.metadata.name = format!("work-{i}");
    work.metadata.namespace = cluster.to_owned();
    work.metadata.uid = uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("{cluster}/{i}").as_bytes(),
    )
    .to_string();
    work.metadata.generation = generation;
    work.spec.workload.manifests = vec![Manifest::from_json(format!(
        r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"cm-{i}","namespace":"default"}},"data":{{"generation":"{generation}"}}}}"#
    ))?];
    Ok(work)
}

pub async fn run(args: SdkArgs) -> anyhow::Result<()> {
    let services = env::services(&args.common).await?;
    let sid = format!("sdk-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let yaml = format!(
        "brokerHost: {}\ntopics:\n  sourceEvents: sources/{sid}/consumers/+/sourceevents\n  agentEvents: sources/{sid}/consumers/+/agentevents\n  sourceBroadcast: sources/{sid}/sourcebroadcast\n",
        services.mqtt_host
    );
    let config = MqttConfig::from_yaml(&yaml)?;
    let results = lifecycle(&args, &sid, &config).await?;
    let go = if args.without_sdk_go {
        json!({ "error": "not run (--without-sdk-go)" })
    } else {
        sdk_go::lifecycle(&services.mqtt_host, args.works, args.timeout).await
    };
    let speedup = match (go["total_s"].as_f64(), results["total_s"].as_f64()) {
        (Some(go), Some(baton)) if baton > 0.0 => json!(round(go / baton)),
        _ => serde_json::Value::Null,
    };
    Report {
        scenario: "sdk",
        params: json!({
            "works": args.works,
            "clusters": args.clusters,
            "publish_rate_limit": args.publish_rate_limit,
            "broker": services.mqtt_host,
        }),
        results: json!({
            "baton": results,
            "sdk_go": go,
            "baton_speedup": speedup,
        }),
    }
    .print();
    Ok(())
}

async fn lifecycle(
    args: &SdkArgs,
    sid: &str,
    config: &MqttConfig,
) -> anyhow::Result<serde_json::Value> {
    let cache = Arc::new(Cache::default());
    let transport =
        Arc::new(MqttTransport::builder(config.clone(), TransportRole::source(sid)).build()?);
    let mut builder = SourceClient::builder(sid, transport, cache.clone(), WorkStatusHasher)
        .codec(BundleSourceCodec::new());
    if let Some(qps) = args.publish_rate_limit {
        builder = builder.rate_limit(qps, (qps * 2.0).ceil().max(1.0) as u32);
    }
    let source = builder.build();
    let handler_cache = cache.clone();
    source
        .subscribe(handler_fn(move |_action, received: ManifestWork| {
            let cache = handler_cache.clone();
            async move {
                let id = received.metadata.uid.clone();
                let cached = cache.lock().get(&id).cloned();
                match apply_status(cached.as_ref(), &received) {
                    StatusOutcome::Update(updated) => {
                        cache.lock().insert(id, *updated);
                    }
                    StatusOutcome::Deleted => {
                        cache.lock().remove(&id);
                    }
                    StatusOutcome::NotFound | StatusOutcome::Ignore(_) => {}
                }
                cache.changed.notify_waiters();
                Ok(())
            }
        }))
        .await?;
    let clusters = env::cluster_names(&format!("{sid}-c"), args.clusters.max(1));
    let mut agents: Vec<SimulatedAgent> = Vec::new();
    for cluster in &clusters {
        let t = MqttTransport::builder(config.clone(), TransportRole::agent(cluster)).build()?;
        agents.push(SimulatedAgent::start(cluster, Arc::new(t), None).await?);
    }
    // Subscriptions settle before the first publish (MQTT drops what no one subscribed to).
    tokio::time::sleep(Duration::from_millis(500)).await;

    let n = args.works;
    let works = |generation: i64| -> anyhow::Result<Vec<ManifestWork>> {
        (0..n)
            .map(|i| work(&clusters[i % clusters.len()], i, generation))
            .collect()
    };
    let started = Instant::now();
    let mut phases = serde_json::Map::new();
    let steps: [(&str, Action, i64); 3] = [
        ("create", Action::CreateRequest, 1),
        ("update", Action::UpdateRequest, 2),
        ("delete", Action::DeleteRequest, 2),
    ];
    for (name, action, generation) in steps {
        let phase = Instant::now();
        let mut batch = works(generation)?;
        if action == Action::DeleteRequest {
            for w in &mut batch {
                w.metadata.deletion_timestamp = Some(Time::now());
            }
        }
        for w in &batch {
            let mut cache = cache.lock();
            let status = cache
                .get(&w.metadata.uid)
                .map(|c| (c.status.clone(), c.metadata.annotations.clone()));
            let mut w = w.clone();
            if let Some((status, annotations)) = status {
                w.status = status;
                w.metadata.annotations = annotations;
            }
            cache.insert(w.metadata.uid.clone(), w);
        }
        let ty = EventType::new(
            manifest_bundles_data_type(),
            SubResource::Spec,
            action.clone(),
        );
        let published: Vec<Result<(), _>> = futures::stream::iter(&batch)
            .map(|w| source.publish(&ty, w))
            .buffer_unordered(32)
            .collect()
            .await;
        published
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
            .context("publishing")?;
        let done = |cache: &Cache| match action {
            Action::DeleteRequest => cache.lock().is_empty(),
            _ => cache.applied_at(generation) >= n,
        };
        let deadline = phase + args.timeout;
        while !done(&cache) {
            anyhow::ensure!(
                Instant::now() < deadline,
                "phase {name} did not finish within {:?}",
                args.timeout
            );
            let _ =
                tokio::time::timeout(Duration::from_millis(100), cache.changed.notified()).await;
        }
        phases.insert(
            format!("{name}_s"),
            json!(round(phase.elapsed().as_secs_f64())),
        );
    }
    let total = started.elapsed().as_secs_f64();
    for agent in &agents {
        agent.shutdown().await;
    }
    source.shutdown().await;
    phases.insert("total_s".into(), json!(round(total)));
    phases.insert("works_per_s".into(), json!(round(n as f64 / total)));
    Ok(serde_json::Value::Object(phases))
}
