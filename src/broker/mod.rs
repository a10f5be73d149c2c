//! The built-in gRPC broker (`io.cloudevents.v1.CloudEventService`, PROTOCOL.md §8.5).
//! Arrives with the *gRPC transport* issue.
