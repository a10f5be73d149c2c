//! The data of resync requests (§6.5, §6.4): the versions an agent holds, the status hashes a
//! source holds.
#![no_main]

use baton_cloudevents::payload::{ResourceVersionList, StatusHashList};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<ResourceVersionList>(data);
    let _ = serde_json::from_slice::<StatusHashList>(data);
});
