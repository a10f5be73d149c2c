//! Starting a simulated cluster: a work client over a transport, its state directory, and the
//! controller task. `baton agent` starts one, or N for load (`--simulate`).

use std::path::PathBuf;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::cluster::{ClusterError, SimulatedCluster};
use super::controller::Controller;
use crate::cloudevents::Transport;
use crate::work::WorkDataType;
use crate::work::client::{WorkClient, WorkClientError};

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Work(#[from] WorkClientError),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
}

/// One running simulated cluster.
pub struct SimulatedAgent {
    controller: Arc<Controller>,
    tasks: TaskTracker,
    stop: CancellationToken,
}

impl SimulatedAgent {
    /// Starts the agent of `cluster_name` over `transport`, serving `manifestbundles` (what
    /// the hub publishes). With a `state_dir`, what it holds and what it applied survive a
    /// restart (`<dir>/works/`, `<dir>/cluster.json`).
    pub async fn start(
        cluster_name: &str,
        transport: Arc<dyn Transport>,
        state_dir: Option<PathBuf>,
    ) -> Result<Self, AgentError> {
        Self::start_serving(cluster_name, transport, state_dir, WorkDataType::DEFAULT).await
    }

    /// Like [`SimulatedAgent::start`], serving `data_types`: one subscription per data type,
    /// each resyncing its specs when (re)established. Serve only what a source publishes: a
    /// spec resync for a data type no source subscribes to reaches nobody.
    pub async fn start_serving(
        cluster_name: &str,
        transport: Arc<dyn Transport>,
        state_dir: Option<PathBuf>,
        data_types: &[WorkDataType],
    ) -> Result<Self, AgentError> {
        let mut builder =
            WorkClient::builder(cluster_name, transport).data_types(data_types.iter().copied());
        let cluster = match &state_dir {
            Some(dir) => {
                builder = builder.state_dir(dir.join("works"));
                SimulatedCluster::open(dir).await?
            }
            None => SimulatedCluster::in_memory(),
        };
        let (client, watch) = builder.build().await?;
        let controller = Arc::new(Controller::new(Arc::new(client), cluster));
        let stop = CancellationToken::new();
        let tasks = TaskTracker::new();
        tasks.spawn(controller.clone().run(watch, stop.clone()));
        Ok(Self {
            controller,
            tasks,
            stop,
        })
    }

    pub fn controller(&self) -> &Arc<Controller> {
        &self.controller
    }

    /// Stops the controller, then the work client and its transport.
    pub async fn shutdown(&self) {
        self.stop.cancel();
        self.tasks.close();
        self.tasks.wait().await;
        self.controller.client().shutdown().await;
    }
}
