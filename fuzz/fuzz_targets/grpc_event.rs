//! A gRPC `CloudEvent` message as the broker and the gRPC transport receive it (§8.2): protobuf
//! bytes, the event it carries (binary or structured mode), then every codec.
#![no_main]

use baton_cloudevents::transport::grpc::binding::{from_proto, is_heartbeat};
use baton_cloudevents::transport::grpc::proto::CloudEvent;
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let Ok(message) = CloudEvent::decode(data) else {
        return;
    };
    if is_heartbeat(&message) {
        return;
    }
    if let Ok(event) = from_proto(message) {
        baton_fuzz::consume(&event);
    }
});
