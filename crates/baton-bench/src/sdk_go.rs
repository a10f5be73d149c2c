//! Scenario `sdk`, sdk-go's side: the Go interop program's `lifecycle` mode (interop/lifecycle.go)
//! runs sdk-go's own generic source client (manifestbundles codec) and ManifestWork agent in one
//! process, with sdk-go's default options, on its own topics of the same Mosquitto, and takes the
//! works through the same lifecycle. Its default publish limiter (token bucket, 50 events/s,
//! burst 100, per client) stays in force: that is what sdk-go users get.
//!
//! Never fails the scenario: a missing Go toolchain, a failed build or run is reported as
//! `{"error": "..."}` beside baton's figures.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::process::Command;

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
    let binary = go::build().await?;
    let sid = format!("sdkgo-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    // The layout baton's side uses (docs/protocol.md §8.4), under this run's own source id.
    let yaml = format!(
        "brokerHost: {mqtt_host}\ntopics:\n  sourceEvents: sources/{sid}/consumers/+/sourceevents\n  agentEvents: sources/{sid}/consumers/+/agentevents\n  sourceBroadcast: sources/{sid}/sourcebroadcast\n"
    );
    let config = std::env::temp_dir().join(format!("baton-bench-{sid}.yaml"));
    std::fs::write(&config, yaml).map_err(|e| format!("write {}: {e}", config.display()))?;
    let child = Command::new(&binary)
        .arg("lifecycle")
        .arg("mqtt")
        .arg(&config)
        .arg(&sid)
        .arg(format!("{sid}-c0"))
        .arg(works.to_string())
        .arg(format!("{}s", timeout.as_secs().max(1)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    // Three phases, each bounded by `timeout` on the Go side, plus start-up.
    let limit = timeout * 3 + Duration::from_secs(60);
    let outcome = tokio::time::timeout(limit, child).await;
    let _ = std::fs::remove_file(&config);
    let output = match outcome {
        Err(_) => return Err(format!("sdk-go lifecycle did not finish within {limit:?}")),
        Ok(Err(e)) => return Err(format!("cannot run {}: {e}", binary.display())),
        Ok(Ok(output)) => output,
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    if let Some(result) = lines.iter().find(|l| l["kind"] == "lifecycle") {
        return Ok(summary(result));
    }
    let fatal = lines
        .iter()
        .find(|l| l["kind"] == "fatal")
        .map(|l| l["error"].to_string());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
    Err(format!(
        "sdk-go lifecycle failed ({}): {}; stderr tail: {}",
        output.status,
        fatal.unwrap_or_else(|| "no result line".into()),
        tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
    ))
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
