//! Scenario `sdk`, sdk-go's side: the Go interop program's `lifecycle` mode (interop/lifecycle.go)
//! runs sdk-go's own generic source client (manifestbundles codec) and ManifestWork agent in one
//! process, with sdk-go's default options, on its own topics of the same Mosquitto, and takes the
//! works through the same lifecycle. Its default publish limiter (token bucket, 50 events/s,
//! burst 100, per client) stays in force: that is what sdk-go users get.
//!
//! Never fails the scenario: a missing Go toolchain, a failed build or run is reported as
//! `{"error": "..."}` beside baton's figures.

use std::time::Duration;

use serde_json::{Value, json};

use crate::go;
use crate::stats::round;

/// sdk-go's pair through the lifecycle: per-phase and total seconds, or `{"error": ...}`.
pub async fn lifecycle(mqtt_host: &str, works: usize, timeout: Duration) -> Value {
    match run(mqtt_host, works, timeout).await {
        Ok(results) => results,
        Err(error) => json!({ "error": error }),
    }
}

async fn run(mqtt_host: &str, works: usize, timeout: Duration) -> Result<Value, String> {
    let sid = format!("sdkgo-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    // The layout baton's side uses (docs/protocol.md §8.4), under this run's own source id.
    let yaml = format!(
        "brokerHost: {mqtt_host}\ntopics:\n  sourceEvents: sources/{sid}/consumers/+/sourceevents\n  agentEvents: sources/{sid}/consumers/+/agentevents\n  sourceBroadcast: sources/{sid}/sourcebroadcast\n"
    );
    let config = std::env::temp_dir().join(format!("baton-bench-{sid}.yaml"));
    std::fs::write(&config, yaml).map_err(|e| format!("write {}: {e}", config.display()))?;
    let args = [
        "lifecycle".to_owned(),
        "mqtt".to_owned(),
        config.display().to_string(),
        sid.clone(),
        format!("{sid}-c0"),
        works.to_string(),
        format!("{}s", timeout.as_secs().max(1)),
    ];
    // Three phases, each bounded by `timeout` on the Go side, plus start-up.
    let limit = timeout * 3 + Duration::from_secs(60);
    let outcome = go::run_for_line(&args, limit, "lifecycle").await;
    let _ = std::fs::remove_file(&config);
    outcome.map(|line| summary(&line))
}

/// The Go line's figures, rounded like baton's.
fn summary(line: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for key in ["create_s", "update_s", "delete_s", "total_s", "works_per_s"] {
        if let Some(v) = line[key].as_f64() {
            out.insert(key.into(), json!(round(v)));
        }
    }
    out.insert("limiter".into(), line["limiter"].clone());
    Value::Object(out)
}
