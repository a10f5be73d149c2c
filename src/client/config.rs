//! The client's config file, `$XDG_CONFIG_HOME/baton/config.yaml` (else
//! `~/.config/baton/config.yaml`; `--config`/`BATON_CONFIG` override): contexts like a
//! kubeconfig, each a hub's server, token file and CA. Resolves flags, environment and the
//! current context into one [`Target`]. Holds no token in the file, only its path.

use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::args::{ConfigArgs, ConfigCommand, ConnectArgs};
use super::error::ClientError;

pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8000";

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_context: Option<String>,
    #[serde(default)]
    pub contexts: Vec<Context>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Context {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_authority: Option<PathBuf>,
}

/// The hub to talk to and how.
#[derive(Debug)]
pub struct Target {
    pub server: String,
    pub token: Option<SecretString>,
    pub certificate_authority: Option<PathBuf>,
    /// Named in connection errors: where to fix the server.
    pub config_path: PathBuf,
}

/// The config file's path: the override, else under $XDG_CONFIG_HOME, else ~/.config.
pub fn path(override_path: Option<&Path>) -> PathBuf {
    if let Some(path) = override_path {
        return path.to_owned();
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))
        .unwrap_or_else(|| PathBuf::from(".config"));
    base.join("baton").join("config.yaml")
}

/// The file's contents; a missing file is an empty config.
pub fn load(path: &Path) -> Result<ConfigFile, ClientError> {
    match std::fs::read_to_string(path) {
        Ok(text) if text.trim().is_empty() => Ok(ConfigFile::default()),
        Ok(text) => serde_yaml_ng::from_str(&text).map_err(|e| file_error(path, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ConfigFile::default()),
        Err(e) => Err(file_error(path, e)),
    }
}

fn save(path: &Path, config: &ConfigFile) -> Result<(), ClientError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| file_error(dir, e))?;
    }
    let text = serde_yaml_ng::to_string(config).map_err(|e| file_error(path, e))?;
    std::fs::write(path, text).map_err(|e| file_error(path, e))
}

fn file_error(path: &Path, err: impl std::fmt::Display) -> ClientError {
    ClientError::File {
        path: path.to_owned(),
        message: err.to_string(),
    }
}

impl ConfigFile {
    fn context(&self, name: &str) -> Option<&Context> {
        self.contexts.iter().find(|c| c.name == name)
    }
}

/// Flags and environment first, then the chosen context, then the defaults.
pub fn resolve(conn: &ConnectArgs) -> Result<Target, ClientError> {
    let config_path = path(conn.config.as_deref());
    let config = load(&config_path)?;
    let context = match conn
        .context
        .as_deref()
        .or(config.current_context.as_deref())
    {
        Some(name) => config.context(name).cloned().ok_or_else(|| {
            ClientError::Usage(format!(
                "context {name:?} is not in {} (baton config get-contexts lists them)",
                config_path.display()
            ))
        })?,
        None => Context::default(),
    };
    let server = conn
        .server
        .clone()
        .or(context.server)
        .unwrap_or_else(|| DEFAULT_SERVER.to_owned());
    let server = server.trim_end_matches('/').to_owned();
    let token = match conn.token_file.as_ref() {
        Some(file) => Some(read_token(file)?),
        None => match std::env::var("BATON_TOKEN").ok().filter(|t| !t.is_empty()) {
            Some(token) => Some(SecretString::from(token)),
            None => context.token_file.as_deref().map(read_token).transpose()?,
        },
    };
    Ok(Target {
        server,
        token,
        certificate_authority: conn
            .certificate_authority
            .clone()
            .or(context.certificate_authority),
        config_path,
    })
}

/// The first non-empty line of the file (the hub's token files hold one token a line).
fn read_token(file: &Path) -> Result<SecretString, ClientError> {
    let text = std::fs::read_to_string(file).map_err(|e| file_error(file, e))?;
    let token = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .ok_or_else(|| file_error(file, "no token in the file"))?;
    Ok(SecretString::from(token.to_owned()))
}

/// `baton config ...`.
pub fn run(args: ConfigArgs) -> Result<(), ClientError> {
    let path = path(args.config.as_deref());
    let mut config = load(&path)?;
    match args.command {
        ConfigCommand::GetContexts => {
            let mut table = super::output::Table::new(["CURRENT", "NAME", "SERVER"]);
            for context in &config.contexts {
                let current = config.current_context.as_deref() == Some(&context.name);
                table.row([
                    if current { "*" } else { "" }.to_owned(),
                    context.name.clone(),
                    context.server.clone().unwrap_or_default(),
                ]);
            }
            table.print();
        }
        ConfigCommand::CurrentContext => match &config.current_context {
            Some(name) => println!("{name}"),
            None => {
                return Err(ClientError::Failed(format!(
                    "no current context in {}",
                    path.display()
                )));
            }
        },
        ConfigCommand::UseContext { name } => {
            if config.context(&name).is_none() {
                return Err(ClientError::NotFound(format!(
                    "context {name:?} is not in {}",
                    path.display()
                )));
            }
            config.current_context = Some(name.clone());
            save(&path, &config)?;
            println!("switched to context {name:?}");
        }
        ConfigCommand::SetContext {
            name,
            server,
            token_file,
            certificate_authority,
        } => {
            let index = match config.contexts.iter().position(|c| c.name == name) {
                Some(index) => index,
                None => {
                    config.contexts.push(Context {
                        name: name.clone(),
                        ..Context::default()
                    });
                    config.contexts.len() - 1
                }
            };
            let context = &mut config.contexts[index];
            context.server = server.or(context.server.take());
            context.token_file = token_file.or(context.token_file.take());
            context.certificate_authority =
                certificate_authority.or(context.certificate_authority.take());
            if config.current_context.is_none() {
                config.current_context = Some(name.clone());
            }
            save(&path, &config)?;
            println!("context {name:?} set");
        }
    }
    Ok(())
}
