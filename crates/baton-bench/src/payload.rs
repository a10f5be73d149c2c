//! The bundles the scenarios create, in Maestro's two sizes (its published create and list
//! figures use them):
//!
//! - [`Size::Small`], ~3 KB of request body: one ConfigMap with 28 data keys of 100 characters;
//! - [`Size::Large`], ~49 KB: a Deployment-heavy bundle of 10 Deployments (3 containers each,
//!   each with 21 environment variables, probes and resources) plus their Service.
//!
//! Both are deterministic given a `seq` (which only changes a label value, so every create
//! is a distinct resource of the same size). The exact byte counts are in the unit test.

use serde_json::{Value, json};

/// Bundle size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Size {
    /// ~3 KB: one ConfigMap-like object.
    Small,
    /// ~49 KB: a Deployment-heavy bundle.
    Large,
}

/// The `POST /api/v1/resources` body for `consumer`.
pub fn create_body(size: Size, consumer: &str, seq: u64) -> Value {
    let manifests = match size {
        Size::Small => vec![config_map(seq)],
        Size::Large => {
            let mut m: Vec<Value> = (0..10).map(|i| deployment(i, seq)).collect();
            m.push(service(seq));
            m
        }
    };
    json!({
        "consumer_name": consumer,
        "manifests": manifests,
        "labels": {"bench": "baton", "seq": seq.to_string()},
    })
}

/// The body as bytes (what is sent).
pub fn create_bytes(size: Size, consumer: &str, seq: u64) -> Vec<u8> {
    serde_json::to_vec(&create_body(size, consumer, seq)).unwrap_or_default()
}

fn filler(key: usize, len: usize) -> String {
    let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..len)
        .map(|i| alphabet[(i * 7 + key * 13) % alphabet.len()] as char)
        .collect()
}

fn config_map(seq: u64) -> Value {
    let data: serde_json::Map<String, Value> = (0..28)
        .map(|k| (format!("key-{k:02}"), Value::String(filler(k, 100))))
        .collect();
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "bench-config", "namespace": "default", "labels": {"seq": seq.to_string()}},
        "data": data,
    })
}

fn container(d: usize, c: usize) -> Value {
    let env: Vec<Value> = (0..21)
        .map(|e| json!({"name": format!("ENV_{c}_{e:02}"), "value": filler(d * 100 + c * 20 + e, 24)}))
        .collect();
    json!({
        "name": format!("app-{c}"),
        "image": format!("quay.io/example/app-{d}-{c}:v1.2.3"),
        "ports": [{"containerPort": 8080 + c, "protocol": "TCP"}],
        "env": env,
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080 + c}, "periodSeconds": 10},
        "livenessProbe": {"httpGet": {"path": "/live", "port": 8080 + c}, "periodSeconds": 20},
    })
}

fn deployment(d: usize, seq: u64) -> Value {
    let name = format!("bench-app-{d}");
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": name, "seq": seq.to_string()}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": (0..3).map(|c| container(d, c)).collect::<Vec<_>>()},
            },
        },
    })
}

fn service(seq: u64) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "bench-app", "namespace": "default", "labels": {"seq": seq.to_string()}},
        "spec": {"selector": {"app": "bench-app-0"}, "ports": [{"port": 80, "targetPort": 8080}]},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_maestros_two_cases() {
        let small = create_bytes(Size::Small, "cluster-1", 1).len();
        let large = create_bytes(Size::Large, "cluster-1", 1).len();
        assert!((3_000..=3_600).contains(&small), "small: {small} bytes");
        assert!((46_000..=52_000).contains(&large), "large: {large} bytes");
        println!("small {small} bytes, large {large} bytes");
    }
}
