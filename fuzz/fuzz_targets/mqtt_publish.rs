//! An MQTT v5 PUBLISH packet off the wire (fixed header, topic, properties, payload) as the
//! MQTT transport receives it: rumqttc's parser, the topic's source, then the event binding
//! (§7.7) and every codec.
#![no_main]

use baton_cloudevents::transport::mqtt::binding::decode;
use baton_cloudevents::transport::mqtt::topics::source_of;
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use rumqttc::v5::mqttbytes::v5::Packet;

fuzz_target!(|data: &[u8]| {
    let mut stream = BytesMut::from(data);
    let Ok(Packet::Publish(publish)) = Packet::read(&mut stream, Some(4 << 20)) else {
        return;
    };
    if let Ok(topic) = std::str::from_utf8(&publish.topic) {
        let _ = source_of(topic);
    }
    if let Ok(event) = decode(publish.properties.as_ref(), &publish.payload) {
        baton_fuzz::consume(&event);
    }
});
