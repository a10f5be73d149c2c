//! The client commands' arguments (clap), flattened into the top-level `baton` command line.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};

/// Where the hub is and how to authenticate; on every client command and its subcommands.
/// Flags and environment win over the config file's context.
#[derive(Debug, Clone, Default, Args)]
pub struct ConnectArgs {
    // This text is the flag's --help, where angle brackets around the URLs would show.
    #[allow(rustdoc::bare_urls)]
    /// The hub's REST API, e.g. https://hub.example.com:8000 [default: the context's server,
    /// else http://127.0.0.1:8000].
    #[arg(long, global = true, env = "BATON_SERVER", value_name = "URL")]
    pub server: Option<String>,
    /// File holding the API bearer token (one of the hub's --api-token-file lines). The token
    /// itself may be given in BATON_TOKEN instead.
    #[arg(long, global = true, env = "BATON_TOKEN_FILE", value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// PEM file of the CA that signed an HTTPS hub's certificate (--http-tls-cert).
    #[arg(
        long,
        global = true,
        env = "BATON_CERTIFICATE_AUTHORITY",
        value_name = "FILE"
    )]
    pub certificate_authority: Option<PathBuf>,
    /// The config file's context to use instead of its current-context.
    #[arg(long, global = true, env = "BATON_CONTEXT", value_name = "NAME")]
    pub context: Option<String>,
    /// Config file [default: $XDG_CONFIG_HOME/baton/config.yaml, else ~/.config/baton/config.yaml].
    #[arg(long, global = true, env = "BATON_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// Output format of `get` and `consumers list|get`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Format {
    /// Aligned columns.
    #[default]
    Table,
    /// The table with more columns.
    Wide,
    /// The API's JSON (a list is one `...List` document with every page's items).
    Json,
    /// The API's JSON as YAML.
    Yaml,
    /// `resource/CONSUMER/NAME` (or `resource/ID`) per line, for scripts.
    Name,
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Create or update a resource bundle from YAML or JSON manifests, on one or many consumers.
    ///
    /// Every document of the files (a directory: its *.yaml, *.yml and *.json files by name)
    /// becomes one manifest of the bundle, in order. A document with `apiVersion: baton.io/v1`
    /// and `kind: ResourceBundle` is not shipped: its `name`, `labels`, `annotations`,
    /// `deleteOption` and `manifestConfigs` describe the bundle. Idempotent: prints `created`,
    /// `configured` or `unchanged` per consumer.
    Apply(ApplyArgs),
    /// Show resources: a table, or the API's JSON/YAML.
    Get(GetArgs),
    /// Show a resource in detail: conditions per manifest and the condition history.
    Describe(DescribeArgs),
    /// Follow changes of resources as they happen (Ctrl-C stops).
    Watch(WatchArgs),
    /// Wait until resources meet a condition; exit 1 with the reason when they do not in time.
    Wait(WaitArgs),
    /// Delete a resource (the agent removes it from its cluster).
    Delete(DeleteArgs),
    /// Manage consumers (managed clusters).
    Consumers(ConsumersArgs),
    /// Show or change the client's config file (contexts, like a kubeconfig).
    Config(ConfigArgs),
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub conn: ConnectArgs,
    /// File, directory or `-` (stdin) of YAML/JSON manifests; repeatable.
    #[arg(
        short = 'f',
        long = "filename",
        required = true,
        value_name = "FILE|DIR|-"
    )]
    pub files: Vec<PathBuf>,
    /// A consumer to apply to; repeatable.
    #[arg(long, value_name = "NAME", required_unless_present = "selector")]
    pub consumer: Vec<String>,
    /// Apply to every consumer whose labels match (`env=prod,team=a`).
    #[arg(
        short = 'l',
        long,
        value_name = "SELECTOR",
        conflicts_with = "consumer"
    )]
    pub selector: Option<String>,
    /// The resource's name [default: the wrapper document's, else the file or directory name].
    #[arg(long)]
    pub name: Option<String>,
    /// A label of the resource, `key=value`; repeatable (added to the wrapper document's).
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// An annotation of the resource, `key=value`; repeatable.
    #[arg(long = "annotation", value_name = "KEY=VALUE")]
    pub annotations: Vec<String>,
    /// The ManifestWork deleteOption as JSON or YAML, e.g. '{propagationPolicy: Orphan}'.
    #[arg(long, value_name = "JSON")]
    pub delete_option: Option<String>,
    /// The ManifestWork manifestConfigs as a JSON or YAML list.
    #[arg(long, value_name = "JSON")]
    pub manifest_configs: Option<String>,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    #[command(flatten)]
    pub conn: ConnectArgs,
    #[command(subcommand)]
    pub what: GetWhat,
}

#[derive(Debug, Subcommand)]
pub enum GetWhat {
    /// List resources.
    Resources(ListResourcesArgs),
    /// One resource, by ID or CONSUMER/NAME.
    Resource {
        reference: ResourceRef,
        #[arg(short, long, value_enum, default_value_t)]
        output: Format,
    },
}

/// Filters of a resource list or watch.
#[derive(Debug, Clone, Args)]
pub struct ResourceFilterArgs {
    /// Label selector, `key=value,...` (all must match).
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    pub selector: Option<String>,
    /// Only this consumer's resources.
    #[arg(long, value_name = "NAME")]
    pub consumer: Option<String>,
    /// Only resources whose status has this condition, `TYPE=STATUS` (e.g. Applied=False);
    /// repeatable, all must hold.
    #[arg(long, value_name = "TYPE=STATUS")]
    pub condition: Vec<ConditionTerm>,
}

#[derive(Debug, Args)]
pub struct ListResourcesArgs {
    #[command(flatten)]
    pub filter: ResourceFilterArgs,
    #[arg(short, long, value_enum, default_value_t)]
    pub output: Format,
}

#[derive(Debug, Args)]
pub struct DescribeArgs {
    #[command(flatten)]
    pub conn: ConnectArgs,
    #[command(subcommand)]
    pub what: DescribeWhat,
}

#[derive(Debug, Subcommand)]
pub enum DescribeWhat {
    /// A resource, by ID or CONSUMER/NAME.
    Resource { reference: ResourceRef },
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub conn: ConnectArgs,
    #[command(subcommand)]
    pub what: WatchWhat,
}

#[derive(Debug, Subcommand)]
pub enum WatchWhat {
    /// Print a line per change of a matching resource (reconnects and resumes by itself).
    Resources(WatchResourcesArgs),
}

/// Output of `watch`: rows, or one JSON watch event per line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum WatchFormat {
    #[default]
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct WatchResourcesArgs {
    #[command(flatten)]
    pub filter: ResourceFilterArgs,
    /// Start after this event id instead of now.
    #[arg(long, value_name = "ID")]
    pub since: Option<i64>,
    #[arg(short, long, value_enum, default_value_t)]
    pub output: WatchFormat,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    #[command(flatten)]
    pub conn: ConnectArgs,
    /// `condition=TYPE[=STATUS]` (STATUS defaults to True) on the resource's current version,
    /// or `delete` (the resource is gone).
    #[arg(long = "for", value_name = "condition=TYPE[=STATUS]|delete")]
    pub condition: WaitFor,
    /// Give up after this long (`500ms`, `30s`, `5m`, `1h`).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Resources by ID or CONSUMER/NAME.
    #[arg(required = true, value_name = "RESOURCE")]
    pub resources: Vec<ResourceRef>,
}

/// What `wait --for` waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitFor {
    Condition { type_: String, status: String },
    Delete,
}

impl std::str::FromStr for WaitFor {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "delete" {
            return Ok(Self::Delete);
        }
        let Some(rest) = s.strip_prefix("condition=") else {
            return Err(format!("{s:?}: expected condition=TYPE[=STATUS] or delete"));
        };
        let (type_, status) = rest.split_once('=').unwrap_or((rest, "True"));
        if type_.is_empty() || status.is_empty() {
            return Err(format!("{s:?}: expected condition=TYPE[=STATUS]"));
        }
        Ok(Self::Condition {
            type_: type_.to_owned(),
            status: status.to_owned(),
        })
    }
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    #[command(flatten)]
    pub conn: ConnectArgs,
    #[command(subcommand)]
    pub what: DeleteWhat,
}

#[derive(Debug, Subcommand)]
pub enum DeleteWhat {
    /// A resource, by ID or CONSUMER/NAME.
    Resource {
        reference: ResourceRef,
        /// Return only once the agent confirmed the deletion (the resource is gone).
        #[arg(long)]
        wait: bool,
        /// How long --wait waits.
        #[arg(long, default_value = "60s", value_parser = parse_duration)]
        timeout: Duration,
    },
}

#[derive(Debug, Args)]
pub struct ConsumersArgs {
    #[command(flatten)]
    pub conn: ConnectArgs,
    #[command(subcommand)]
    pub command: ConsumersCommand,
}

#[derive(Debug, Subcommand)]
pub enum ConsumersCommand {
    /// Register a consumer.
    Create {
        name: String,
        /// A label, `key=value`; repeatable.
        #[arg(short = 'l', long = "label", value_name = "KEY=VALUE")]
        labels: Vec<String>,
    },
    /// List consumers.
    List {
        #[arg(short, long, value_enum, default_value_t)]
        output: Format,
    },
    /// Show a consumer, by name or ID.
    Get {
        name: String,
        #[arg(short, long, value_enum, default_value_t)]
        output: Format,
    },
    /// Change labels: `key=value` sets, `key-` removes.
    Label {
        name: String,
        #[arg(required = true, value_name = "KEY=VALUE|KEY-")]
        changes: Vec<String>,
    },
    /// Delete a consumer (refused while it has resources).
    Delete { name: String },
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Config file [default: $XDG_CONFIG_HOME/baton/config.yaml, else ~/.config/baton/config.yaml].
    #[arg(long, global = true, env = "BATON_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: ConfigCommand,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// List the contexts (`*` marks the current one).
    GetContexts,
    /// Print the current context's name.
    CurrentContext,
    /// Make a context the current one.
    UseContext { name: String },
    /// Create or change a context.
    SetContext {
        name: String,
        #[arg(long, value_name = "URL")]
        server: Option<String>,
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
        #[arg(long, value_name = "FILE")]
        certificate_authority: Option<PathBuf>,
    },
}

/// A resource as the commands name it: its ID, or `CONSUMER/NAME` (with an optional
/// `resource/` prefix, as `get -o name` prints it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceRef {
    Id(uuid::Uuid),
    Named { consumer: String, name: String },
}

impl std::str::FromStr for ResourceRef {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bare = s.strip_prefix("resource/").unwrap_or(s);
        if let Ok(id) = uuid::Uuid::parse_str(bare) {
            return Ok(Self::Id(id));
        }
        match bare.split_once('/') {
            Some((consumer, name))
                if !consumer.is_empty() && !name.is_empty() && !name.contains('/') =>
            {
                Ok(Self::Named {
                    consumer: consumer.to_owned(),
                    name: name.to_owned(),
                })
            }
            _ => Err(format!("{s:?}: name a resource by ID or CONSUMER/NAME")),
        }
    }
}

impl std::fmt::Display for ResourceRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Id(id) => write!(f, "resource/{id}"),
            Self::Named { consumer, name } => write!(f, "resource/{consumer}/{name}"),
        }
    }
}

/// `TYPE=STATUS` of `--condition`, e.g. `Applied=False`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionTerm {
    pub type_: String,
    pub status: String,
}

impl std::str::FromStr for ConditionTerm {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once('=') {
            Some((type_, status)) if !type_.is_empty() && !status.is_empty() => Ok(Self {
                type_: type_.to_owned(),
                status: status.to_owned(),
            }),
            _ => Err(format!("{s:?}: expected TYPE=STATUS, e.g. Applied=False")),
        }
    }
}

impl std::fmt::Display for ConditionTerm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}", self.type_, self.status)
    }
}

/// `500ms`, `30s`, `5m`, `1h` (a bare number is seconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?}: expected a duration like 30s, 5m or 500ms"))?;
    let seconds = match unit {
        "ms" => return Ok(Duration::from_millis(n)),
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("{text:?}: the unit must be ms, s, m or h")),
    };
    Ok(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_wait_conditions_parse() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("5 parsecs").is_err());
        assert_eq!(
            "condition=Available".parse::<WaitFor>(),
            Ok(WaitFor::Condition {
                type_: "Available".into(),
                status: "True".into()
            })
        );
        assert_eq!(
            "condition=Applied=False".parse::<WaitFor>(),
            Ok(WaitFor::Condition {
                type_: "Applied".into(),
                status: "False".into()
            })
        );
        assert!("Available".parse::<WaitFor>().is_err());
        assert_eq!(
            "resource/c1/web".parse::<ResourceRef>(),
            Ok(ResourceRef::Named {
                consumer: "c1".into(),
                name: "web".into()
            })
        );
        assert!("web".parse::<ResourceRef>().is_err());
        assert!("Applied".parse::<ConditionTerm>().is_err());
    }
}
