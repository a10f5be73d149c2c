//! The ManifestWork source side, the hub's (left "TODO" in sdk-go's README): create a work for
//! a cluster, wait for the agent to report it applied, update it, wait for the new generation,
//! delete it and wait for the agent to report it gone.
//!
//! Run beside `work_agent` (same broker, source and cluster; see `common`):
//!
//! ```text
//! cargo run --example work_agent -- mqtt://127.0.0.1:1883 &
//! cargo run --example work_source -- mqtt://127.0.0.1:1883
//! ```
//!
//! Exits 0 once the agent reported the deletion done.

mod common;

use std::time::Duration;

use baton_cloudevents::TransportRole;
use baton_cloudevents::work::model::status::find_condition;
use baton_cloudevents::work::model::{Manifest, ManifestWork};
use baton_cloudevents::work::source::{
    SourceWatchEvent, SourceWorkClient, SourceWorkError, SourceWorkWatch,
};

#[tokio::main]
async fn main() -> common::Result<()> {
    let (source_id, cluster) = (common::source_id(), common::cluster_name());
    let transport = common::transport(TransportRole::source(&source_id))?;
    let (works, mut watch) = SourceWorkClient::builder(&source_id, transport)
        .build()
        .await?;

    let mut work = ManifestWork::default();
    work.metadata.namespace = cluster.clone();
    work.metadata.name = "web".to_owned();
    work.spec.workload.manifests = vec![config_map("web", "v1")?];
    let created = create(&works, work).await?;
    let id = created.metadata.uid.clone();
    println!("created {id}");
    applied_at(&mut watch, &id, 1).await?;

    let mut spec = created.spec.clone();
    spec.workload.manifests.push(config_map("web-extra", "v2")?);
    works.update(&id, spec).await?;
    applied_at(&mut watch, &id, 2).await?;

    works.delete(&id).await?;
    loop {
        if let SourceWatchEvent::Deleted(gone) = common::next(&mut watch, "deletion report").await?
            && gone.metadata.uid == id
        {
            println!("agent deleted {id}");
            break;
        }
    }
    works.shutdown().await;
    Ok(())
}

/// Creates `work`, trying again while the broker is not reached yet (a create that was not
/// sent is undone).
async fn create(works: &SourceWorkClient, work: ManifestWork) -> common::Result<ManifestWork> {
    let give_up = tokio::time::Instant::now() + common::deadline();
    loop {
        match works.create(work.clone()).await {
            Ok(created) => return Ok(created),
            Err(SourceWorkError::Client(err)) if tokio::time::Instant::now() < give_up => {
                eprintln!("create not sent ({err}); trying again");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(err) => return Err(err.into()),
        }
    }
}

/// Waits until the agent reports work `id` `Applied` at `generation`.
async fn applied_at(watch: &mut SourceWorkWatch, id: &str, generation: i64) -> common::Result<()> {
    loop {
        let event = common::next(watch, "Applied status").await?;
        let work = event.work();
        let applied = find_condition(&work.status.conditions, "Applied")
            .filter(|c| c.is_true())
            .map(|c| c.observed_generation);
        println!("status of {}: Applied at {applied:?}", work.metadata.name);
        if work.metadata.uid == id && applied == Some(generation) {
            return Ok(());
        }
    }
}

fn config_map(name: &str, data: &str) -> common::Result<Manifest> {
    Ok(Manifest::from_json(format!(
        r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}","namespace":"default"}},"data":{{"version":"{data}"}}}}"#
    ))?)
}
