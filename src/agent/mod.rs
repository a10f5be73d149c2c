//! The reference agent (`baton agent`): plays one or many managed clusters on the SDK's
//! agent-side work client, so the whole path REST → DB → transport → agent → status → DB can be
//! run, tested and loaded without Kubernetes.
//!
//! - [`cluster`]: the simulated cluster's objects, persisted in the state directory;
//! - [`report`]: the status an OCM work agent would report;
//! - [`controller`]: the watch loop that applies, deletes and reports, with fault injection;
//! - [`run`]: starting agents for one or many clusters over a transport.

pub mod args;
pub mod cluster;
pub mod controller;
pub mod report;
pub mod run;
