//! The agent's side of a status resync (§6.6): the answer from its store, retried with
//! backoff when it cannot be sent, and a spec resync when the request names works the agent
//! does not hold (their specs were lost on the way). See the parent module's doc.

use std::collections::{HashMap, HashSet};
use std::sync::PoisonError;
use std::time::{Duration, Instant};

use ::cloudevents::AttributesReader;
use tracing::{debug, info};

use super::Shared;
use crate::Event;
use crate::client_core;
use crate::error::{ClientError, CodecError};
use crate::event_type::{Action, DataType, EventType, SubResource};
use crate::extensions as ext;
use crate::payload::StatusHashList;
use crate::resource::ResourceObject;
use crate::stats::Stats;

/// Least time between two spec resyncs asked for because a status resync named works the
/// agent does not hold.
const MISSING_SPECS_EVERY: Duration = Duration::from_secs(10);

impl<T: ResourceObject> Shared<T> {
    /// §6.6: answer a source's status resync request from the agent's store.
    pub(super) async fn answer_status_resync(
        &self,
        event: &Event,
        event_type: &EventType,
    ) -> Result<(), ClientError> {
        let codec = self.core.codec(&event_type.data_type)?;
        let requested: StatusHashList = match ext::data_bytes(event) {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|source| CodecError::Json {
                what: "a status resync request",
                source,
            })?,
            None => StatusHashList::default(),
        };
        let requested: HashMap<&str, &str> = requested
            .status_hashes
            .iter()
            .map(|h| (h.resource_id.as_str(), h.status_hash.as_str()))
            .collect();
        // sdk-go lists every work in the store, not only the requesting source's (§6.6).
        let objects = self
            .lister
            .list(&self.list_options("", &event_type.data_type))
            .await?;
        let response = EventType::new(
            event_type.data_type.clone(),
            SubResource::Status,
            Action::ResyncResponse,
        );
        for object in &objects {
            if !requested.is_empty() {
                let Some(hash) = requested.get(object.resource_id()) else {
                    continue;
                };
                if self.hasher.status_hash(object)? == *hash {
                    continue;
                }
            }
            let event = codec.encode(&self.core.sender_id, &response, object)?;
            self.core.send(&event).await?;
        }
        Stats::bump(&self.core.stats.resyncs_answered);
        let held: HashSet<&str> = objects.iter().map(ResourceObject::resource_id).collect();
        let unlisted: Vec<&str> = requested
            .keys()
            .copied()
            .filter(|id| !held.contains(id))
            .collect();
        self.ask_for_missing_specs(event, &event_type.data_type, &unlisted)
            .await
    }

    /// After a status resync addressed to this cluster (a broadcast lists every cluster's
    /// resources): the ids it names that the agent does not hold under any data type are
    /// specs that never arrived, so the source is asked for its specs again, at most once per
    /// [`MISSING_SPECS_EVERY`] (a spec the agent keeps failing to store must not turn the two
    /// resyncs into a loop).
    async fn ask_for_missing_specs(
        &self,
        event: &Event,
        data_type: &DataType,
        unlisted: &[&str],
    ) -> Result<(), ClientError> {
        let addressed =
            matches!(ext::string(event, ext::CLUSTER_NAME), Ok(Some(c)) if c == self.cluster_name);
        if !addressed || unlisted.is_empty() {
            return Ok(());
        }
        let options = self.list_options("", data_type);
        let mut missing = 0;
        for id in unlisted {
            if self.lister.get(id, &options).await?.is_none() {
                missing += 1;
            }
        }
        if missing == 0 {
            return Ok(());
        }
        let asked = *self
            .missing_specs_asked
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if asked.is_some_and(|at| at.elapsed() < MISSING_SPECS_EVERY) {
            debug!(cluster = %self.cluster_name, missing, "works still missing; their specs were asked for recently");
            return Ok(());
        }
        let source = event.source().to_string();
        info!(cluster = %self.cluster_name, %source, missing, "a status resync names works this agent does not hold; asking for their specs");
        self.resync(Some(&source)).await?;
        // Only once sent: a failed ask is retried with the answer.
        *self
            .missing_specs_asked
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
        Ok(())
    }

    /// Answers a status resync request again until it is sent; see the module doc.
    pub(super) async fn retry_status_resync_answer(&self, event: Event, event_type: EventType) {
        let (event, event_type) = (&event, &event_type);
        let sent = client_core::retry_answer(&self.core.stats, &self.stop, event, || {
            self.answer_status_resync(event, event_type)
        })
        .await;
        if sent {
            info!(cluster = %self.cluster_name, event_id = event.id(), "status resync answered on retry");
        }
    }
}
