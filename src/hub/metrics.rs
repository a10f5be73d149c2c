//! The hub's Prometheus metrics (`/metrics`). Labels stay bounded: route templates, outcomes,
//! never a cluster or resource id.

use std::sync::atomic::AtomicI64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// [`method_label`]: a client chooses the method, so only known ones are kept.
    pub method: &'static str,
    /// The matched route template, or `unmatched`.
    pub route: String,
    pub status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: &'static str,
}

/// The label of an HTTP method: the standard ones by name, any other as `other`, so that
/// made-up methods cannot each add a series.
pub fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: &'static str,
}

/// Why a status event was refused before §5.2: the `reason` label of `status_rejected`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusRejected {
    /// The resource belongs to another consumer than the reporting cluster.
    NotOwner,
    /// Over MQTT: the event's `clustername` is not the cluster segment of its topic.
    TopicMismatch,
}

impl StatusRejected {
    pub fn label(self) -> &'static str {
        match self {
            Self::NotOwner => "not_owner",
            Self::TopicMismatch => "topic_mismatch",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceApiLabels {
    /// `publish` or `subscribe`.
    pub call: &'static str,
    pub outcome: &'static str,
}

pub struct HubMetrics {
    registry: Registry,
    pub http_request_seconds: Family<HttpLabels, Histogram>,
    pub publishes: Family<OutcomeLabels, Counter>,
    pub status_updates: Family<OutcomeLabels, Counter>,
    pub status_rejected: Family<ReasonLabels, Counter>,
    pub resync_runs: Counter,
    pub resync_seconds: Histogram,
    pub connected_clusters: Gauge<i64, AtomicI64>,
    pub subscribed_clusters: Gauge<i64, AtomicI64>,
    /// Bytes of the hub's events in agents' queues now, and the most so far (`broker::budget`).
    pub local_queued_bytes: Gauge<i64, AtomicI64>,
    pub local_queued_bytes_peak: Gauge<i64, AtomicI64>,
    pub outbox_depth: Gauge<i64, AtomicI64>,
    pub create_batch_rows: Histogram,
    pub source_api_requests: Family<SourceApiLabels, Counter>,
}

impl Default for HubMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl HubMetrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("baton");
        let http_request_seconds = Family::<HttpLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route",
            http_request_seconds.clone(),
        );
        let publishes = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "publishes",
            "Spec events published, by outcome",
            publishes.clone(),
        );
        let status_updates = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "status_updates",
            "Agent status events handled, by outcome",
            status_updates.clone(),
        );
        let status_rejected = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "status_rejected",
            "Agent status events refused as another cluster's, by reason",
            status_rejected.clone(),
        );
        let resync_runs = Counter::default();
        registry.register(
            "resync_runs",
            "Resync requests answered or sent",
            resync_runs.clone(),
        );
        let resync_seconds = Histogram::new(exponential_buckets(0.001, 2.0, 16));
        registry.register(
            "resync_duration_seconds",
            "Time to answer a resync request",
            resync_seconds.clone(),
        );
        let connected_clusters = Gauge::default();
        registry.register(
            "connected_clusters",
            "Clusters with an agent subscribed to the built-in broker of any replica on this database",
            connected_clusters.clone(),
        );
        let subscribed_clusters = Gauge::default();
        registry.register(
            "broker_subscribed_clusters",
            "Clusters with an agent subscribed to this process's built-in broker",
            subscribed_clusters.clone(),
        );
        let local_queued_bytes = Gauge::default();
        registry.register(
            "broker_local_queued_bytes",
            "Bytes of the hub's events queued to agents in the built-in broker, bounded by its budget",
            local_queued_bytes.clone(),
        );
        let local_queued_bytes_peak = Gauge::default();
        registry.register(
            "broker_local_queued_bytes_peak",
            "The most bytes of the hub's events queued to agents at once since the start",
            local_queued_bytes_peak.clone(),
        );
        let outbox_depth = Gauge::default();
        registry.register(
            "outbox_depth",
            "Resources whose latest change is not yet published",
            outbox_depth.clone(),
        );
        let create_batch_rows = Histogram::new(exponential_buckets(1.0, 2.0, 7));
        registry.register(
            "create_batch_rows",
            "Creates written per transaction by the create batcher",
            create_batch_rows.clone(),
        );
        let source_api_requests = Family::<SourceApiLabels, Counter>::default();
        registry.register(
            "source_api_requests",
            "Calls of the gRPC source API (--source-grpc-addr), by call and outcome (refusals included)",
            source_api_requests.clone(),
        );
        Self {
            registry,
            http_request_seconds,
            publishes,
            status_updates,
            status_rejected,
            resync_runs,
            resync_seconds,
            connected_clusters,
            subscribed_clusters,
            local_queued_bytes,
            local_queued_bytes_peak,
            outbox_depth,
            create_batch_rows,
            source_api_requests,
        }
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }

    pub fn count_publish(&self, outcome: &'static str) {
        self.publishes
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    pub fn count_source_api(&self, call: &'static str, outcome: &'static str) {
        self.source_api_requests
            .get_or_create(&SourceApiLabels { call, outcome })
            .inc();
    }

    pub fn count_status(&self, outcome: &'static str) {
        self.status_updates
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    pub fn count_status_rejected(&self, why: StatusRejected) {
        self.status_rejected
            .get_or_create(&ReasonLabels {
                reason: why.label(),
            })
            .inc();
    }
}
