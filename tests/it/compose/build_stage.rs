//! The Dockerfile's build stage against the workspace, without a Docker engine: everything
//! `cargo build` needs inside the image is copied in, to the same path. The workspace comes
//! from `cargo metadata` (members, their targets and build scripts, every path dependency or
//! patch); the Dockerfile is read line by line (its `COPY` and `RUN` instructions).
//!
//! Two steps are checked: the dependency step (the first `RUN` that builds: manifests,
//! `Cargo.lock`, build scripts and what they read, path dependencies, and a placeholder for
//! every member's lib and bin) and the final build (every member's sources and the files the
//! sources embed: `migrations/`, anything `include_str!`d).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// What the build needs from the repository, as paths relative to its root.
#[derive(Debug, Clone, Default)]
pub struct Workspace {
    pub members: Vec<Member>,
    /// Path packages outside the workspace (path dependencies, `[patch]` entries): copied whole.
    pub path_packages: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Member {
    /// The member's directory (`""` for the root package).
    pub dir: String,
    /// Root files of the targets the build compiles (lib, bins, proc macros): the placeholder
    /// step must create each; their directories must be copied.
    pub roots: Vec<String>,
    /// Other targets the manifest declares by name (`[[example]]`, `[[test]]`, `[[bench]]`):
    /// Cargo refuses the manifest if their files are missing.
    pub declared: Vec<String>,
    /// `build.rs`, if any, and what it declares with `cargo:rerun-if-changed`.
    pub build_script: Option<String>,
    pub build_inputs: Vec<String>,
    /// Files the sources embed at compile time (`sqlx::migrate!`, `include_str!`, ...).
    pub embedded: Vec<String>,
}

/// The workspace at `root`, from `cargo metadata` (offline: the lock file pins everything).
pub fn workspace(root: &Path) -> Workspace {
    let output = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--offline", "--locked"])
        .current_dir(root)
        .output()
        .expect("run cargo metadata");
    assert!(
        output.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let members: BTreeSet<&str> = metadata["workspace_members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap())
        .collect();
    let relative = |path: &str| -> String {
        let path = Path::new(path)
            .strip_prefix(root)
            .unwrap_or(Path::new(path));
        path.to_str().unwrap().to_owned()
    };
    let mut workspace = Workspace::default();
    for package in metadata["packages"].as_array().unwrap() {
        // Registry and git packages have a source; path packages have none.
        if !package["source"].is_null() {
            continue;
        }
        let manifest = Path::new(package["manifest_path"].as_str().unwrap());
        let dir = relative(manifest.parent().unwrap().to_str().unwrap());
        if !members.contains(package["id"].as_str().unwrap()) {
            workspace.path_packages.push(dir);
            continue;
        }
        let manifest_text = std::fs::read_to_string(manifest).unwrap();
        let mut member = Member {
            dir,
            roots: Vec::new(),
            declared: Vec::new(),
            build_script: None,
            build_inputs: Vec::new(),
            embedded: Vec::new(),
        };
        for target in package["targets"].as_array().unwrap() {
            let kinds: Vec<&str> = target["kind"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k.as_str().unwrap())
                .collect();
            let src = relative(target["src_path"].as_str().unwrap());
            let name = target["name"].as_str().unwrap();
            if kinds.contains(&"custom-build") {
                let text = std::fs::read_to_string(root.join(&src)).unwrap();
                let base = Path::new(&src).parent().unwrap();
                member.build_inputs = rerun_if_changed(&text)
                    .into_iter()
                    .map(|input| join(base, &input))
                    .collect();
                member.build_script = Some(src);
            } else if kinds
                .iter()
                .any(|k| ["lib", "rlib", "bin", "proc-macro"].contains(k))
            {
                member.roots.push(src);
            } else if declares_target(&manifest_text, name) {
                member.declared.push(src);
            }
        }
        let src_dir = root.join(&member.dir).join("src");
        member.embedded = embedded_files(root, &src_dir, &member.dir);
        workspace.members.push(member);
    }
    workspace
}

/// `a/b` joined with `c` as a repository-relative path (`""` is the root).
fn join(base: &Path, path: &str) -> String {
    base.join(path).to_str().unwrap().to_owned()
}

/// The paths a build script declares as its inputs.
fn rerun_if_changed(build_rs: &str) -> Vec<String> {
    build_rs
        .split("rerun-if-changed=")
        .skip(1)
        .filter_map(|rest| rest.split(['"', '\\', '{']).next())
        .map(str::to_owned)
        .collect()
}

/// Whether the manifest names `target` in an `[[example]]`, `[[test]]`, `[[bench]]` or
/// `[[bin]]` table (a target Cargo must find, unlike the ones it discovers).
fn declares_target(manifest: &str, target: &str) -> bool {
    let mut in_target_table = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_target_table = ["[[example]]", "[[test]]", "[[bench]]", "[[bin]]"].contains(&line);
        } else if in_target_table && line.replace(' ', "") == format!("name=\"{target}\"") {
            return true;
        }
    }
    false
}

/// Files embedded by the sources under `src_dir`: `sqlx::migrate!("dir")` (relative to the
/// package), `include_str!` / `include_bytes!` (relative to the including file), and
/// rust-embed's `#[folder = "dir"]` (relative to the package) when that folder exists (it may
/// be missing by design: `allow_missing`).
fn embedded_files(root: &Path, src_dir: &Path, package_dir: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![src_dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let file_dir = path.parent().unwrap().strip_prefix(root).unwrap();
            for (macro_name, base) in [
                ("migrate!(\"", Path::new(package_dir)),
                ("include_str!(\"", file_dir),
                ("include_bytes!(\"", file_dir),
            ] {
                for rest in text.split(macro_name).skip(1) {
                    let literal = rest.split('"').next().unwrap_or_default();
                    found.push(normalize(&join(base, literal)));
                }
            }
            for rest in text.split("#[folder = \"").skip(1) {
                let literal = rest.split('"').next().unwrap_or_default();
                let folder = normalize(&join(Path::new(package_dir), literal));
                if root.join(&folder).is_dir() {
                    found.push(folder);
                }
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

/// `a/./b/../c` → `a/c`; `./x` → `x`.
fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    parts.join("/")
}

/// One instruction of the build stage, continuation lines joined.
#[derive(Debug)]
enum Instruction {
    /// Sources and where each lands (relative to the stage's working directory when it is
    /// under it; else the absolute destination).
    Copy(Vec<(String, String)>),
    Run(String),
}

/// The instructions of the first stage (the build stage), in order.
fn build_stage(dockerfile: &str) -> (String, Vec<Instruction>) {
    let mut joined = Vec::new();
    let mut current = String::new();
    for line in dockerfile.lines() {
        let line = line.trim();
        if current.is_empty() && (line.starts_with('#') || line.is_empty()) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(head) => {
                current.push_str(head);
                current.push(' ');
            }
            None => {
                current.push_str(line);
                joined.push(std::mem::take(&mut current));
            }
        }
    }
    let mut workdir = String::from("/");
    let mut instructions = Vec::new();
    let mut stages = 0;
    for line in joined {
        let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((&line, ""));
        match word.to_ascii_uppercase().as_str() {
            "FROM" => {
                stages += 1;
                if stages > 1 {
                    break;
                }
            }
            "WORKDIR" => workdir = rest.trim().to_owned(),
            "RUN" => instructions.push(Instruction::Run(rest.to_owned())),
            "COPY" | "ADD" => {
                let words: Vec<&str> = rest
                    .split_whitespace()
                    .filter(|w| !w.starts_with("--chown") && !w.starts_with("--chmod"))
                    .collect();
                if words.iter().any(|w| w.starts_with("--from")) || words.len() < 2 {
                    continue;
                }
                let (dest, sources) = words.split_last().unwrap();
                let into_dir = dest.ends_with('/') || sources.len() > 1 || *dest == ".";
                let copies = sources
                    .iter()
                    .map(|source| {
                        let source = normalize(source);
                        let name = Path::new(&source).file_name().map(|n| n.to_str().unwrap());
                        let landing = match (into_dir, name) {
                            (true, Some(name)) => format!("{dest}/{name}"),
                            _ => dest.to_string(),
                        };
                        (source, landing_relative(&workdir, &landing))
                    })
                    .collect();
                instructions.push(Instruction::Copy(copies));
            }
            _ => {}
        }
    }
    (workdir, instructions)
}

/// A COPY destination as a path relative to `workdir` (absolute ones under it too).
fn landing_relative(workdir: &str, dest: &str) -> String {
    match dest.strip_prefix('/') {
        Some(_) => match dest.strip_prefix(workdir.trim_end_matches('/')) {
            Some(under) if under.is_empty() || under.starts_with('/') => normalize(under),
            _ => dest.to_owned(),
        },
        None => normalize(dest),
    }
}

/// Whether `copies` bring `path` into the image at the same path.
fn copied(copies: &[(String, String)], path: &str) -> bool {
    let path = normalize(path);
    copies.iter().any(|(source, landing)| {
        source == landing
            && (source.is_empty() || path == *source || path.starts_with(&format!("{source}/")))
    })
}

/// What the build stage of `dockerfile` lacks for `workspace`; empty when the image builds.
pub fn problems(dockerfile: &str, workspace: &Workspace) -> Vec<String> {
    let (_, instructions) = build_stage(dockerfile);
    let builds =
        |i: &&Instruction| matches!(i, Instruction::Run(run) if run.contains("cargo build"));
    let Some(first_build) = instructions.iter().position(|i| builds(&i)) else {
        return vec!["Dockerfile: the build stage never runs `cargo build`".into()];
    };
    let copies_until = |end: usize| -> Vec<(String, String)> {
        instructions[..end]
            .iter()
            .filter_map(|i| match i {
                Instruction::Copy(c) => Some(c.clone()),
                Instruction::Run(_) => None,
            })
            .flatten()
            .collect()
    };
    let last_build = instructions.iter().rposition(|i| builds(&i)).unwrap();
    let before_deps = copies_until(first_build);
    let before_final = copies_until(last_build);
    let Instruction::Run(placeholder_step) = &instructions[first_build] else {
        unreachable!()
    };
    let placeholder_words: BTreeSet<&str> = placeholder_step
        .split(|c: char| c.is_whitespace() || c == '>' || c == '\'' || c == '"' || c == ';')
        .collect();

    let mut out = Vec::new();
    let mut need = |copies: &[(String, String)], path: &str, step: &str, why: &str| {
        if !copied(copies, path) {
            out.push(format!("Dockerfile: {path} ({why}) is not copied {step}"));
        }
    };
    let deps = "before the dependency build";
    let last = "before the final build";
    need(&before_deps, "Cargo.toml", deps, "the workspace manifest");
    need(&before_deps, "Cargo.lock", deps, "--locked needs it");
    for member in &workspace.members {
        let base = Path::new(&member.dir);
        need(
            &before_deps,
            &join(base, "Cargo.toml"),
            deps,
            "a member's manifest",
        );
        if let Some(script) = &member.build_script {
            need(&before_deps, script, deps, "a build script");
        }
        for input in &member.build_inputs {
            need(&before_deps, input, deps, "a build script's input");
        }
        for root_file in member.roots.iter().chain(&member.declared) {
            need(&before_final, root_file, last, "a target's sources");
        }
        for file in &member.embedded {
            need(&before_final, file, last, "embedded by the sources");
        }
    }
    for package in &workspace.path_packages {
        need(&before_deps, package, deps, "a path dependency");
    }
    for member in &workspace.members {
        for root_file in member.roots.iter().chain(&member.declared) {
            if !placeholder_words.contains(root_file.as_str()) && !copied(&before_deps, root_file) {
                out.push(format!(
                    "Dockerfile: the dependency build has no placeholder for {root_file}"
                ));
            }
        }
    }
    out
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn dockerfile() -> String {
    std::fs::read_to_string(root().join("Dockerfile")).unwrap()
}

/// The real Dockerfile with the line that contains `needle` removed (the test's mistake).
fn without_line(needle: &str) -> String {
    let text = dockerfile();
    assert!(text.contains(needle), "the Dockerfile has no {needle:?}");
    text.lines()
        .filter(|l| !l.contains(needle))
        .map(|l| format!("{l}\n"))
        .collect()
}

fn assert_found(problems: &[String], needle: &str) {
    assert!(
        problems.iter().any(|p| p.contains(needle)),
        "no problem mentions {needle:?}: {problems:#?}"
    );
}

#[test]
fn the_image_build_stage_copies_everything_the_workspace_needs() {
    let workspace = workspace(&root());
    let dirs: Vec<&str> = workspace.members.iter().map(|m| m.dir.as_str()).collect();
    assert!(
        dirs.contains(&"") && dirs.contains(&"crates/baton-cloudevents"),
        "{dirs:?}"
    );
    let sdk = workspace
        .members
        .iter()
        .find(|m| m.dir == "crates/baton-cloudevents")
        .unwrap();
    assert_eq!(
        sdk.build_inputs,
        ["crates/baton-cloudevents/proto/cloudevent.proto"]
    );
    let hub = workspace.members.iter().find(|m| m.dir.is_empty()).unwrap();
    assert!(
        hub.embedded.contains(&"migrations/postgres".to_owned()),
        "{hub:?}"
    );
    assert_eq!(problems(&dockerfile(), &workspace), Vec::<String>::new());
}

#[test]
fn a_new_member_or_path_dependency_without_a_copy_is_caught() {
    let mut workspace = workspace(&root());
    workspace.members.push(Member {
        dir: "crates/baton-cli".into(),
        roots: vec!["crates/baton-cli/src/main.rs".into()],
        declared: Vec::new(),
        build_script: None,
        build_inputs: Vec::new(),
        embedded: Vec::new(),
    });
    workspace.path_packages.push("vendor/h2".into());
    let found = problems(&dockerfile(), &workspace);
    assert_found(&found, "crates/baton-cli/Cargo.toml (a member's manifest)");
    assert_found(&found, "crates/baton-cli/src/main.rs (a target's sources)");
    assert_found(&found, "no placeholder for crates/baton-cli/src/main.rs");
    assert_found(&found, "vendor/h2 (a path dependency)");
    assert_eq!(found.len(), 4, "{found:#?}");
}

#[test]
fn a_missing_source_build_input_or_migration_copy_is_caught() {
    let workspace = workspace(&root());
    let found = problems(
        &without_line("COPY crates/baton-cloudevents/proto"),
        &workspace,
    );
    assert_found(&found, "crates/baton-cloudevents/proto/cloudevent.proto");
    let found = problems(&without_line("COPY migrations"), &workspace);
    assert_found(&found, "migrations/sqlite (embedded by the sources)");
    let found = problems(&without_line("COPY crates/baton-bench/src"), &workspace);
    assert_found(&found, "crates/baton-bench/src/lib.rs (a target's sources)");
    let found = problems(&without_line("COPY Cargo.toml Cargo.lock"), &workspace);
    assert_found(&found, "Cargo.lock");
    // Copied, but somewhere else than the build expects it.
    let moved = dockerfile().replace("COPY src src", "COPY src /elsewhere/src");
    assert_found(
        &problems(&moved, &workspace),
        "src/lib.rs (a target's sources)",
    );
}

#[test]
fn a_member_without_a_placeholder_in_the_dependency_step_is_caught() {
    let workspace = workspace(&root());
    let text = dockerfile();
    let step = "touch src/lib.rs crates/baton-cloudevents/src/lib.rs crates/baton-bench/src/lib.rs";
    assert!(
        text.contains(step),
        "the placeholder step changed: update this test"
    );
    let found = problems(
        &text.replace(step, "touch src/lib.rs crates/baton-cloudevents/src/lib.rs"),
        &workspace,
    );
    assert_eq!(
        found,
        ["Dockerfile: the dependency build has no placeholder for crates/baton-bench/src/lib.rs"]
    );
}

#[test]
fn the_dockerfile_reader_follows_continuations_workdir_and_destinations() {
    let (workdir, steps) = build_stage(
        "FROM rust AS b\nWORKDIR /src\nCOPY a/x.toml \\\n  b/y.rs b/\nCOPY c /src/c\nCOPY --from=z /a /a\nRUN cargo \\\n build\nFROM debian\nCOPY d d\n",
    );
    assert_eq!(workdir, "/src");
    let copies: Vec<_> = steps
        .iter()
        .filter_map(|s| match s {
            Instruction::Copy(c) => Some(c.clone()),
            Instruction::Run(_) => None,
        })
        .flatten()
        .collect();
    assert_eq!(
        copies,
        [
            ("a/x.toml".to_owned(), "b/x.toml".to_owned()),
            ("b/y.rs".to_owned(), "b/y.rs".to_owned()),
            ("c".to_owned(), "c".to_owned()),
        ]
    );
    assert!(matches!(&steps[2], Instruction::Run(r) if r.contains("cargo  build")));
    assert!(copied(&copies, "c/deep/file.rs") && !copied(&copies, "a/x.toml"));
}
