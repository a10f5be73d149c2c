//! What a schema cannot see in the compose stack: services, ports, volumes, healthchecks and
//! `depends_on` agree with each other; baton's commands parse with baton's own CLI (so every
//! flag exists); the MQTT config files they name exist, load with baton's loader and agree with
//! the broker service, the hub's source id and each other; the database URL matches the
//! postgres service; the build context holds what the Dockerfile copies; the image has what the
//! healthchecks run. Each problem is one line.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use baton::cli::{Cli, Command};
use baton::cloudevents::transport::mqtt::MqttConfig;
use baton::hub::config::TransportKind;
use clap::Parser;

use super::model::{Compose, Mount, PgUrl, Service};

/// Every problem of `compose` (files resolved against `root`); empty when the stack is sound.
pub fn problems(compose: &Compose, root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    wiring(compose, root, &mut out);
    ports(compose, &mut out);
    let mut hub_mqtt = None;
    let mut clusters = BTreeSet::new();
    let mut instances = BTreeMap::new();
    let hubs = compose
        .services
        .values()
        .filter(|s| s.command.first().map(String::as_str) == Some("serve"))
        .count();
    // The hub first: the agents are checked against its MQTT config.
    let mut services: Vec<_> = compose.services.iter().collect();
    services.sort_by_key(|(_, s)| s.command.first().map(String::as_str) != Some("serve"));
    for (name, service) in services {
        let Some(sub) = service.command.first() else {
            continue;
        };
        let argv = std::iter::once("baton").chain(service.command.iter().map(String::as_str));
        let cli = match Cli::try_parse_from(argv) {
            Ok(cli) => cli,
            Err(err) => {
                let first = err.to_string();
                let first = first.lines().next().unwrap_or_default().to_owned();
                out.push(format!(
                    "{name}: `baton {sub}` refuses its command: {first}"
                ));
                continue;
            }
        };
        match cli.command {
            Command::Serve(args) => {
                if args.transport != TransportKind::Mqtt {
                    out.push(format!("{name}: the hub must run with --transport mqtt"));
                }
                if !args.http_addr.ip().is_unspecified() {
                    out.push(format!(
                        "{name}: --http-addr {} is not reachable from outside the container",
                        args.http_addr
                    ));
                }
                let port = args.http_addr.port();
                let published = service.published().iter().flatten().any(|p| p.2 == port);
                if !published && balancer_of(compose, root, name, port).is_none() {
                    out.push(format!(
                        "{name}: the REST port {port} is neither published nor behind a load balancer"
                    ));
                }
                if let Some(id) = &args.instance_id
                    && let Some(other) = instances.insert(id.to_string(), name.clone())
                {
                    out.push(format!("{name}: --instance-id {id} is also {other}'s"));
                }
                if !service
                    .healthcheck_text()
                    .contains(&format!(":{port}/readyz"))
                {
                    out.push(format!(
                        "{name}: the healthcheck does not ask :{port}/readyz"
                    ));
                }
                database(compose, name, service, &mut out);
                let config = mqtt(compose, root, name, service, args.mqtt_config, &mut out);
                if let Some(config) = &config
                    && let Err(err) = config.topics.source_subscriptions(&args.source_id)
                {
                    out.push(format!("{name}: {err}"));
                }
                // Without `$share` every replica would receive (and write) every status.
                if let Some(config) = &config
                    && hubs > 1
                    && !config.topics.agent_events().starts_with("$share/")
                {
                    out.push(format!(
                        "{name}: {hubs} replicas, but agentEvents is not a $share subscription"
                    ));
                }
                hub_mqtt = config.map(|c| (name.clone(), c));
            }
            Command::Agent(args) => {
                match &args.cluster {
                    Some(cluster) if !clusters.insert(cluster.clone()) => {
                        out.push(format!("{name}: cluster {cluster} is played twice"))
                    }
                    Some(_) => {}
                    None => out.push(format!("{name}: an agent needs --cluster")),
                }
                state_volume(name, service, args.state_dir.as_deref(), &mut out);
                if let Some(config) = mqtt(compose, root, name, service, args.mqtt_config, &mut out)
                {
                    same_topics(name, &config, hub_mqtt.as_ref(), &mut out);
                }
            }
            _ => out.push(format!(
                "{name}: runs neither `baton serve` nor `baton agent`"
            )),
        }
    }
    image(compose, root, &mut out);
    out
}

/// depends_on targets, healthchecks behind service_healthy, mount sources, named volumes.
fn wiring(compose: &Compose, root: &Path, out: &mut Vec<String>) {
    let mut used = BTreeSet::new();
    for (name, service) in &compose.services {
        for (target, dependency) in &service.depends_on {
            match compose.services.get(target) {
                None => out.push(format!("{name}: depends on undefined service {target}")),
                Some(t) if dependency.condition == "service_healthy" => {
                    if t.healthcheck.as_ref().is_none_or(|h| h.test.is_empty()) {
                        out.push(format!(
                            "{name}: waits for {target} to be healthy, but {target} has no healthcheck"
                        ));
                    }
                }
                Some(_) => {}
            }
        }
        for mount in service.mounts() {
            match mount {
                Mount::Bind { source, .. } if !root.join(&source).exists() => out.push(format!(
                    "{name}: mount source {source} is not in the repository"
                )),
                Mount::Bind { .. } => {}
                Mount::Named { volume, .. } => {
                    if !compose.volumes.contains_key(&volume) {
                        out.push(format!("{name}: volume {volume} is not declared"));
                    }
                    used.insert(volume);
                }
                Mount::Other(spec) => out.push(format!(
                    "{name}: mount {spec:?} is neither ./<repository path> nor a named volume"
                )),
            }
        }
        if let Some(context) = &service.build
            && !root.join(context).join("Dockerfile").is_file()
        {
            out.push(format!("{name}: build context {context} has no Dockerfile"));
        }
    }
    for volume in compose.volumes.keys().filter(|v| !used.contains(*v)) {
        out.push(format!("volume {volume} is declared but never mounted"));
    }
}

fn ports(compose: &Compose, out: &mut Vec<String>) {
    let mut taken: BTreeMap<(String, u16), &str> = BTreeMap::new();
    for (name, service) in &compose.services {
        for published in service.published() {
            match published {
                Err(spec) => out.push(format!("{name}: port {spec:?} is not [ip:]host:container")),
                Ok((ip, host, _)) => {
                    if let Some(other) = taken.insert((ip.clone(), host), name) {
                        out.push(format!(
                            "{name}: host port {ip}:{host} is also taken by {other}"
                        ));
                    }
                }
            }
        }
    }
}

/// DATABASE_URL points at a postgres service with those credentials, waited for healthy.
fn database(compose: &Compose, name: &str, service: &Service, out: &mut Vec<String>) {
    let Some(url) = service.environment.get("DATABASE_URL") else {
        return out.push(format!("{name}: DATABASE_URL is not set"));
    };
    let Some(url) = PgUrl::parse(url) else {
        return out.push(format!(
            "{name}: DATABASE_URL is not postgres://user:password@host/db"
        ));
    };
    let Some(pg) = compose.services.get(&url.host) else {
        return out.push(format!(
            "{name}: DATABASE_URL names no service {}",
            url.host
        ));
    };
    let env = |key: &str| pg.environment.get(key).map(String::as_str);
    let expected = [
        ("POSTGRES_USER", url.user.as_str()),
        ("POSTGRES_PASSWORD", url.password.as_str()),
        ("POSTGRES_DB", url.database.as_str()),
    ];
    for (key, value) in expected {
        if env(key) != Some(value) {
            out.push(format!(
                "{name}: DATABASE_URL does not match {key} of {}",
                url.host
            ));
        }
    }
    healthy_dependency(name, service, &url.host, out);
}

/// Loads the MQTT config a command names (through its bind mount) and checks its broker.
fn mqtt(
    compose: &Compose,
    root: &Path,
    name: &str,
    service: &Service,
    path: Option<PathBuf>,
    out: &mut Vec<String>,
) -> Option<MqttConfig> {
    let Some(path) = path else {
        out.push(format!("{name}: --mqtt-config is not set"));
        return None;
    };
    let Some(host_path) = service.host_path(root, &path) else {
        out.push(format!(
            "{name}: {} is not mounted from the repository",
            path.display()
        ));
        return None;
    };
    let config = match MqttConfig::load(&host_path) {
        Ok(config) => config,
        Err(err) => {
            out.push(format!("{name}: {}: {err}", host_path.display()));
            return None;
        }
    };
    let broker = &config.broker;
    match compose.services.get(&broker.host) {
        None => out.push(format!("{name}: brokerHost {broker} names no service")),
        Some(mosquitto) => {
            if !listeners(root, mosquitto).contains(&broker.port) {
                out.push(format!(
                    "{name}: {} has no listener {}",
                    broker.host, broker.port
                ));
            }
            healthy_dependency(name, service, &broker.host, out);
        }
    }
    Some(config)
}

/// The HAProxy service whose mounted config has a `server` at `hub:port` and that publishes a
/// port, if any.
pub fn balancer_of(compose: &Compose, root: &Path, hub: &str, port: u16) -> Option<String> {
    let target = format!("{hub}:{port}");
    compose.services.iter().find_map(|(name, service)| {
        let image = service.image.as_deref().unwrap_or_default();
        if !image.starts_with("haproxy:") || service.published().iter().flatten().next().is_none() {
            return None;
        }
        let conf = service.host_path(root, Path::new("/usr/local/etc/haproxy/haproxy.cfg"))?;
        let text = std::fs::read_to_string(conf).ok()?;
        let routes = text.lines().any(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            words.first() == Some(&"server") && words.get(2) == Some(&target.as_str())
        });
        routes.then(|| name.clone())
    })
}

/// The `listener` ports of the mosquitto.conf mounted into `service`.
fn listeners(root: &Path, service: &Service) -> Vec<u16> {
    let conf = service.host_path(root, Path::new("/mosquitto/config/mosquitto.conf"));
    let text = conf
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default();
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("listener "))
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .collect()
}

fn healthy_dependency(name: &str, service: &Service, target: &str, out: &mut Vec<String>) {
    if service
        .depends_on
        .get(target)
        .is_none_or(|d| d.condition != "service_healthy")
    {
        out.push(format!("{name}: does not wait for {target} to be healthy"));
    }
}

/// Agents must publish and subscribe where the hub does.
fn same_topics(
    name: &str,
    agent: &MqttConfig,
    hub: Option<&(String, MqttConfig)>,
    out: &mut Vec<String>,
) {
    let Some((hub_name, hub)) = hub else {
        return out.push(format!(
            "{name}: there is no hub (`baton serve`) to talk to"
        ));
    };
    // A hub's `$share/<group>/` prefix only shares its subscription among replicas.
    let unshared = |topic: &str| match topic.strip_prefix("$share/") {
        Some(rest) => rest.split_once('/').map_or(rest, |(_, t)| t).to_owned(),
        None => topic.to_owned(),
    };
    let topics = |c: &MqttConfig| {
        let t = &c.topics;
        let (sb, ab) = (t.source_broadcast(), t.agent_broadcast());
        (
            unshared(t.source_events()),
            unshared(t.agent_events()),
            sb.map(unshared),
            ab.map(unshared),
        )
    };
    if topics(agent) != topics(hub) || agent.broker != hub.broker {
        out.push(format!(
            "{name}: its MQTT broker or topics differ from {hub_name}'s"
        ));
    }
}

/// The agent's state directory is a named volume, so it survives a restart.
fn state_volume(name: &str, service: &Service, dir: Option<&Path>, out: &mut Vec<String>) {
    let Some(dir) = dir else {
        return out.push(format!("{name}: --state-dir is not set"));
    };
    let on_volume = service
        .mounts()
        .any(|m| matches!(m, Mount::Named { target, .. } if Path::new(&target) == dir));
    if !on_volume {
        out.push(format!(
            "{name}: --state-dir {} is not a named volume",
            dir.display()
        ));
    }
}

/// What the Dockerfile copies from the build context but `.dockerignore` leaves out (or that
/// does not exist), for an ignore file in the "`*`, then `!path` for each kept path" style.
pub fn missing_from_context(root: &Path, dockerfile: &str, dockerignore: &str) -> Vec<String> {
    let rules: Vec<&str> = dockerignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let excludes_all = rules.contains(&"*");
    let kept = |path: &str| {
        let path = path.trim_end_matches('/');
        !excludes_all
            || rules
                .iter()
                .any(|r| r.strip_prefix('!').map(|k| k.trim_end_matches('/')) == Some(path))
    };
    let mut out = Vec::new();
    for line in dockerfile
        .lines()
        .filter_map(|l| l.trim().strip_prefix("COPY "))
    {
        if line.contains("--from") {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        for source in words.iter().take(words.len().saturating_sub(1)) {
            if !root.join(source).exists() {
                out.push(format!("Dockerfile: COPY {source}: not in the repository"));
            } else if !kept(source) {
                out.push(format!(
                    "Dockerfile: COPY {source}: left out by .dockerignore"
                ));
            }
        }
    }
    out
}

/// The image runs as a non-root user, with `baton` as entry point, and has what the
/// healthchecks of the services built from it call.
fn image(compose: &Compose, root: &Path, out: &mut Vec<String>) {
    let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).unwrap_or_default();
    let dockerignore = std::fs::read_to_string(root.join(".dockerignore")).unwrap_or_default();
    out.extend(missing_from_context(root, &dockerfile, &dockerignore));
    let runtime = dockerfile.rsplit("\nFROM ").next().unwrap_or_default();
    if !runtime.contains("ENTRYPOINT [\"baton\"]") {
        out.push("Dockerfile: the runtime stage's entry point is not [\"baton\"]".into());
    }
    match runtime
        .lines()
        .filter_map(|l| l.strip_prefix("USER "))
        .next_back()
    {
        Some(user) if !user.starts_with("root") && !user.starts_with('0') => {}
        _ => out.push("Dockerfile: the runtime stage does not switch to a non-root user".into()),
    }
    for (name, service) in compose.services.iter().filter(|(_, s)| s.build.is_some()) {
        let tool = service.healthcheck.as_ref().and_then(|h| h.test.get(1));
        if let Some(tool) = tool.filter(|t| !runtime.contains(&format!(" {t}"))) {
            out.push(format!(
                "{name}: the healthcheck runs {tool}, which the image lacks"
            ));
        }
    }
}
