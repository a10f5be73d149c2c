//! What every fuzz target does with a decoded event: what the hub and the agent do with one
//! they receive (the event type, every codec's decode, the status hash of a decoded status).
//! Errors are the expected outcome for most inputs; only a panic is a finding.

use baton_cloudevents::work::status_hash::status_hash;
use baton_cloudevents::work::{
    BundleAgentCodec, BundleSourceCodec, ManifestAgentCodec, ManifestSourceCodec,
};
use baton_cloudevents::{AttributesReader, Codec, Event, EventType};

/// Reads `event` as each side of each data type would.
pub fn consume(event: &Event) {
    let _ = event.ty().parse::<EventType>();
    let source: [&dyn Codec<_>; 2] = [&BundleSourceCodec::new(), &ManifestSourceCodec::new()];
    let agent: [&dyn Codec<_>; 2] = [&BundleAgentCodec::new(), &ManifestAgentCodec::new()];
    for codec in source.into_iter().chain(agent) {
        if let Ok(work) = codec.decode(event) {
            let _ = status_hash(&work.status);
            let _ = serde_json::to_vec(&work);
        }
    }
    let _ = BundleSourceCodec::new().decode_spec(event);
    let _ = ManifestSourceCodec::new().decode_spec(event);
}
