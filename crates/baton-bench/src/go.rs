//! The Go interop program (`interop/`, OCM sdk-go v1.3.0 as a dependency; docs/interop.md):
//! built with `go build` into `target/interop-bin/baton-interop`, shared by the interop tests
//! (`tests/it/interop/go.rs`) and `baton bench sdk`, which runs its `lifecycle` mode.
//!
//! The build writes a temporary file and renames it over the binary, so a build running while
//! another process executes the previous binary never leaves a half-written file behind.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::process::Command;

/// Bound for building the Go program: the first build on 2 cores takes minutes.
pub const BUILD_LIMIT: Duration = Duration::from_secs(900);

/// The workspace this binary was built from (the Go module sits in its `interop/`).
pub fn repo_root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// Where the built program goes.
pub fn binary_path() -> PathBuf {
    repo_root().join("target/interop-bin/baton-interop")
}

/// Builds `interop/` (quick once Go's build cache is warm); the error says what is missing.
/// `$GO` names the toolchain, else `go` on the PATH.
pub async fn build() -> Result<PathBuf, String> {
    let module = repo_root().join("interop");
    if !module.join("go.mod").exists() {
        return Err(format!("no Go module at {}", module.display()));
    }
    let out = binary_path();
    let tmp = out.with_file_name(format!(
        "baton-interop.tmp-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    let mut command = Command::new(std::env::var("GO").unwrap_or_else(|_| "go".into()));
    command
        .args(["build", "-buildvcs=false", "-o"])
        .arg(&tmp)
        .arg(".")
        .current_dir(&module)
        .kill_on_drop(true);
    let output = match tokio::time::timeout(BUILD_LIMIT, command.output()).await {
        Err(_) => {
            return Err(format!(
                "interop: `go build` in interop/ took over {BUILD_LIMIT:?}"
            ));
        }
        Ok(Err(e)) => {
            return Err(format!(
                "interop: cannot run the Go toolchain ({e}); install Go >= 1.25"
            ));
        }
        Ok(Ok(output)) => output,
    };
    if !output.status.success() {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!(
            "interop: `go build` in interop/ failed (Go toolchain or module download \
             unavailable?):\n{}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    std::fs::rename(&tmp, &out).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!(
            "interop: cannot move the built program to {}: {e}",
            out.display()
        )
    })?;
    Ok(out)
}

/// Builds the program, runs it with `args` (bounded by `limit`) and returns its first stdout
/// line of kind `kind`; the error says why there is none (its fatal line, its stderr's tail).
pub async fn run_for_line(args: &[String], limit: Duration, kind: &str) -> Result<Value, String> {
    let binary = build().await?;
    let child = Command::new(&binary)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let output = match tokio::time::timeout(limit, child).await {
        Err(_) => return Err(format!("{} did not finish within {limit:?}", args[0])),
        Ok(Err(e)) => return Err(format!("cannot run {}: {e}", binary.display())),
        Ok(Ok(output)) => output,
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    if let Some(result) = lines.iter().find(|l| l["kind"] == kind) {
        return Ok(result.clone());
    }
    let fatal = lines
        .iter()
        .find(|l| l["kind"] == "fatal")
        .map(|l| l["error"].to_string());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
    Err(format!(
        "{} failed ({}): {}; stderr tail: {}",
        args[0],
        output.status,
        fatal.unwrap_or_else(|| "no result line".into()),
        tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
    ))
}
