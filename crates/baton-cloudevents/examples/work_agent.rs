//! The ManifestWork agent side (sdk-go's
//! `NewClientHolderBuilder(config).WithClusterName(cluster).WithCodecs(...).NewAgentClientHolder`):
//! a work client built for one cluster, whose watch stream a controller consumes. This one
//! applies nothing: it reports every work `Applied` at its generation, and once the source
//! deletes a work it reports the deletion done (§4.7).
//!
//! Run beside `work_source` (same broker, source and cluster; see `common`). Exits 0 once a
//! work it applied was deleted.

mod common;

use baton_cloudevents::TransportRole;
use baton_cloudevents::work::WorkDataType;
use baton_cloudevents::work::client::{WatchEvent, WorkClient};
use baton_cloudevents::work::model::status::set_condition;
use baton_cloudevents::work::model::{Condition, ManifestWork, Time};

#[tokio::main]
async fn main() -> common::Result<()> {
    let cluster = common::cluster_name();
    let transport = common::transport(TransportRole::agent(&cluster))?;
    let (works, mut watch) = WorkClient::builder(&cluster, transport)
        .data_types([WorkDataType::ManifestBundles])
        .build()
        .await?;

    let mut applied = Vec::new();
    loop {
        match common::next(&mut watch, "work").await? {
            WatchEvent::Added(work) | WatchEvent::Modified(work) => {
                println!(
                    "apply {} generation {}",
                    work.metadata.name, work.metadata.generation
                );
                works
                    .update_status(&work.metadata.uid, applied_status(&work))
                    .await?;
                applied.push(work.metadata.uid);
            }
            WatchEvent::Deleted(work) => {
                println!("delete {}", work.metadata.name);
                works.complete_deletion(&work.metadata.uid).await?;
                if applied.contains(&work.metadata.uid) {
                    break;
                }
            }
        }
    }
    works.shutdown().await;
    Ok(())
}

/// The status a controller reports once the manifests of `work` are applied.
fn applied_status(work: &ManifestWork) -> baton_cloudevents::work::model::ManifestWorkStatus {
    let mut status = work.status.clone();
    set_condition(
        &mut status.conditions,
        Condition {
            type_: "Applied".to_owned(),
            status: "True".to_owned(),
            observed_generation: work.metadata.generation,
            last_transition_time: Some(Time::now()),
            reason: "AppliedManifestWorkComplete".to_owned(),
            message: format!("{} manifests applied", work.spec.workload.manifests.len()),
        },
    );
    status
}
