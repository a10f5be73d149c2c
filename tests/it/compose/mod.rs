//! The local stack (`docker-compose.yml`, `Dockerfile`, `deploy/`) checked without a Docker
//! engine: `scripts/check-compose` validates the file against the Compose schema; these tests
//! check what the schema cannot ([`check`]) on the real file, and that each check catches the
//! mistake it exists for.

mod build_stage;
mod check;
mod model;

use std::path::{Path, PathBuf};

use model::{Compose, Dependency};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn stack() -> Compose {
    let text = std::fs::read_to_string(root().join("docker-compose.yml")).unwrap();
    serde_yaml_ng::from_str(&text).unwrap()
}

fn problems_of(compose: &Compose) -> Vec<String> {
    check::problems(compose, &root())
}

#[test]
fn the_compose_stack_agrees_with_itself_and_with_baton() {
    let compose = stack();
    for service in [
        "postgres",
        "mosquitto",
        "hub-1",
        "hub-2",
        "lb",
        "agent-cluster1",
        "agent-cluster2",
    ] {
        assert!(compose.services.contains_key(service), "{service} missing");
    }
    assert_eq!(problems_of(&compose), Vec::<String>::new());
}

/// Applies `change` to the real stack and returns the problems found.
fn broken(change: impl FnOnce(&mut Compose)) -> Vec<String> {
    let mut compose = stack();
    change(&mut compose);
    problems_of(&compose)
}

fn assert_found(problems: &[String], needle: &str) {
    assert!(
        problems.iter().any(|p| p.contains(needle)),
        "no problem mentions {needle:?}: {problems:#?}"
    );
}

#[test]
fn unknown_flags_and_bad_commands_are_caught_by_baton_s_own_cli() {
    let found = broken(|c| {
        let hub = c.services.get_mut("hub-1").unwrap();
        hub.command.push("--no-such-flag".into());
        let agent = c.services.get_mut("agent-cluster1").unwrap();
        agent
            .command
            .retain(|a| a != "--state-dir" && a != "/var/lib/baton-agent");
    });
    assert_found(&found, "hub-1: `baton serve` refuses its command");
    assert_found(&found, "agent-cluster1: --state-dir is not set");
}

#[test]
fn wiring_mistakes_are_caught() {
    let found = broken(|c| {
        let hub = c.services.get_mut("hub-1").unwrap();
        hub.depends_on.insert(
            "redis".into(),
            Dependency {
                condition: "service_started".into(),
            },
        );
        hub.volumes
            .push("./deploy/missing.yaml:/etc/x.yaml:ro".into());
        hub.volumes.push("undeclared:/data".into());
        c.services.get_mut("mosquitto").unwrap().healthcheck = None;
        c.services.get_mut("mosquitto").unwrap().ports = vec!["8000:1883".into()];
    });
    assert_found(&found, "hub-1: depends on undefined service redis");
    assert_found(
        &found,
        "waits for mosquitto to be healthy, but mosquitto has no healthcheck",
    );
    assert_found(
        &found,
        "mount source ./deploy/missing.yaml is not in the repository",
    );
    assert_found(&found, "hub-1: volume undeclared is not declared");
    assert_found(&found, "host port 0.0.0.0:8000 is also taken by");
}

#[test]
fn config_mismatches_are_caught() {
    let found = broken(|c| {
        let hub = c.services.get_mut("hub-1").unwrap();
        hub.environment.insert(
            "DATABASE_URL".into(),
            "postgres://baton:wrong@postgres:5432/baton".into(),
        );
        hub.command
            .retain(|a| a != "0.0.0.0:8000" && a != "--http-addr");
        let source_id = hub.command.iter().position(|a| a == "baton").unwrap();
        hub.command[source_id] = "someone-else".into();
        let agent = c.services.get_mut("agent-cluster2").unwrap();
        for arg in agent
            .command
            .iter_mut()
            .filter(|a| a.contains("cluster2.yaml"))
        {
            *arg = "/etc/baton/nowhere.yaml".into();
        }
    });
    assert_found(
        &found,
        "hub-1: DATABASE_URL does not match POSTGRES_PASSWORD of postgres",
    );
    assert_found(&found, "--http-addr 127.0.0.1:8000 is not reachable");
    assert_found(&found, "does not match the source id \"someone-else\"");
    assert_found(
        &found,
        "agent-cluster2: /etc/baton/nowhere.yaml is not mounted",
    );
}

#[test]
fn replica_mistakes_are_caught() {
    let found = broken(|c| {
        let hub = c.services.get_mut("hub-2").unwrap();
        let id = hub.command.iter().position(|a| a == "hub-2").unwrap();
        hub.command[id] = "hub-1".into();
        // Moved off the port the load balancer sends to, and not published either.
        let http = hub
            .command
            .iter()
            .position(|a| a == "0.0.0.0:8000")
            .unwrap();
        hub.command[http] = "0.0.0.0:8001".into();
        c.services.get_mut("lb").unwrap().ports.clear();
    });
    assert_found(&found, "hub-2: --instance-id hub-1 is also hub-1's");
    assert_found(
        &found,
        "hub-1: the REST port 8000 is neither published nor behind a load balancer",
    );
    assert_found(
        &found,
        "hub-2: the REST port 8001 is neither published nor behind a load balancer",
    );
    let unshared = problems_of(&{
        let mut compose = stack();
        let hub = compose.services.get_mut("hub-1").unwrap();
        for arg in hub
            .command
            .iter_mut()
            .filter(|a| a.ends_with("hub-mqtt.yaml"))
        {
            *arg = "/etc/baton/agent-cluster1.yaml".into();
        }
        hub.volumes
            .push("./deploy/agent-cluster1.yaml:/etc/baton/agent-cluster1.yaml:ro".into());
        compose
    });
    assert_found(
        &unshared,
        "hub-1: 2 replicas, but agentEvents is not a $share subscription",
    );
}

#[test]
fn every_deploy_mqtt_config_loads_with_baton() {
    let deploy = root().join("deploy");
    let mut loaded = 0;
    for entry in std::fs::read_dir(&deploy).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let config = baton::cloudevents::transport::mqtt::MqttConfig::load(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", Path::new(&path).display()));
            assert_eq!(config.broker.to_string(), "mosquitto:1883");
            loaded += 1;
        }
    }
    assert_eq!(loaded, 3, "hub-mqtt.yaml and one per agent");
}

#[test]
fn the_build_context_holds_what_the_dockerfile_copies() {
    let dockerfile = "FROM x AS b\nCOPY Cargo.toml docs ./\nCOPY src src\nCOPY --from=b /a /b\n";
    let found = check::missing_from_context(&root(), dockerfile, "*\n!Cargo.toml\n!src/\n");
    assert_eq!(found, ["Dockerfile: COPY docs: left out by .dockerignore"]);
    let found = check::missing_from_context(&root(), "COPY nowhere /x\n", "");
    assert_eq!(found, ["Dockerfile: COPY nowhere: not in the repository"]);
    assert!(check::missing_from_context(&root(), dockerfile, "target\n").is_empty());
}
