//! REST request bodies through the API's own decoder (one JSON value, the field at fault
//! named), its storability check, and for resources the bundle checks a handler runs.
#![no_main]

use baton::hub::api::extract::parse_json;
use baton::hub::api::storable::Storable;
use baton::hub::api::views::{ConsumerCreate, ConsumerPatch, ResourceCreate, ResourceUpdate};
use baton::hub::api::{raw, validate};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(body) = parse_json::<ConsumerCreate>(data) {
        let _ = body.check();
        let _ = validate::consumer_name("name", &body.name);
    }
    if let Ok(body) = parse_json::<ConsumerPatch>(data) {
        let _ = body.check();
    }
    if let Ok(body) = parse_json::<ResourceCreate>(data)
        && body.check().is_ok()
    {
        let _ = validate::resource_name(body.name.as_deref());
        if let Ok(manifests) = raw::compact("manifests", body.manifests) {
            let _ = validate::bundle(&manifests, None, None);
        }
    }
    if let Ok(body) = parse_json::<ResourceUpdate>(data)
        && body.check().is_ok()
        && let Ok(manifests) = raw::compact("manifests", body.manifests)
    {
        let _ = validate::bundle(&manifests, None, None);
    }
});
