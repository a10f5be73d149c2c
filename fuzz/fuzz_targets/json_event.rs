//! A structured-mode CloudEvent (`application/cloudevents+json`, §2.3), as MQTT and gRPC
//! carry it, then every codec.
#![no_main]

use baton_cloudevents::Event;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(event) = serde_json::from_slice::<Event>(data) {
        baton_fuzz::consume(&event);
    }
});
