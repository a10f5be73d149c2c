//! The data of an agent's `status.update_request` (§5.2): a well-formed event around fuzzed
//! data, for each data type, decoded by the source codecs as the hub does.
#![no_main]

use baton_cloudevents::EventBuilder;
use libfuzzer_sys::fuzz_target;

const TYPES: [&str; 2] = [
    "io.open-cluster-management.works.v1alpha1.manifestbundles.status.update_request",
    "io.open-cluster-management.works.v1alpha1.manifests.status.update_request",
];

fuzz_target!(|data: &[u8]| {
    for ty in TYPES {
        let built = EventBuilder::with_type_string("cluster-a-agent", ty.to_owned())
            .cluster_name("cluster-a")
            .original_source("baton")
            .resource_id("5c9b7c84-8f4c-4b0e-9d6a-2f1f8a1f3d11")
            .resource_version(1)
            .sequence_id("1834774234234234234")
            .json_data(data.to_vec())
            .build();
        if let Ok(event) = built {
            baton_fuzz::consume(&event);
        }
    }
});
