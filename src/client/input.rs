//! Reading manifests for `apply`: files, directories (their `*.yaml`, `*.yml`, `*.json` by
//! name) or stdin, each holding one or more YAML or JSON documents, into one bundle in
//! document order. Errors name the file, and for bad YAML the line.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use super::error::ClientError;

/// `apiVersion` and `kind` of the wrapper document that describes the bundle itself.
pub const WRAPPER_API_VERSION: &str = "baton.io/v1";
pub const WRAPPER_KIND: &str = "ResourceBundle";

/// The bundle's own settings, from a wrapper document.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Wrapper {
    #[serde(rename = "apiVersion")]
    pub _api_version: String,
    #[serde(rename = "kind")]
    pub _kind: String,
    pub name: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    pub delete_option: Option<Value>,
    pub manifest_configs: Option<Value>,
}

/// What the files hold.
#[derive(Debug, Default)]
pub struct Bundle {
    pub manifests: Vec<Value>,
    pub wrapper: Option<Wrapper>,
    /// The single file's or directory's name without extension: the default resource name.
    pub default_name: Option<String>,
}

/// Reads every source in order (`-` is stdin).
pub fn read(sources: &[PathBuf]) -> Result<Bundle, ClientError> {
    let mut bundle = Bundle::default();
    for source in sources {
        for (path, text) in texts(source)? {
            add_documents(&mut bundle, &path, &text)?;
        }
    }
    if let [only] = sources
        && only.as_os_str() != "-"
    {
        let stem = only
            .file_stem()
            .map(ToOwned::to_owned)
            .or_else(|| only.canonicalize().ok()?.file_name().map(ToOwned::to_owned));
        bundle.default_name = stem.map(|s| s.to_string_lossy().to_lowercase());
    }
    if bundle.manifests.is_empty() {
        let names: Vec<String> = sources.iter().map(|s| s.display().to_string()).collect();
        return Err(ClientError::Usage(format!(
            "no manifests in {}",
            names.join(", ")
        )));
    }
    Ok(bundle)
}

/// The texts a source stands for: stdin, a file, or a directory's manifest files by name.
fn texts(source: &Path) -> Result<Vec<(PathBuf, String)>, ClientError> {
    let read_error = |path: &Path, e: std::io::Error| ClientError::File {
        path: path.to_owned(),
        message: e.to_string(),
    };
    if source.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| read_error(Path::new("<stdin>"), e))?;
        return Ok(vec![(PathBuf::from("<stdin>"), text)]);
    }
    if source.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(source)
            .map_err(|e| read_error(source, e))?
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|p| {
                p.is_file()
                    && p.extension()
                        .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
            })
            .collect();
        files.sort();
        return files
            .into_iter()
            .map(|p| {
                let text = std::fs::read_to_string(&p).map_err(|e| read_error(&p, e))?;
                Ok((p, text))
            })
            .collect();
    }
    let text = std::fs::read_to_string(source).map_err(|e| read_error(source, e))?;
    Ok(vec![(source.to_owned(), text)])
}

/// Appends the text's documents (YAML; JSON is YAML too) to the bundle.
fn add_documents(bundle: &mut Bundle, path: &Path, text: &str) -> Result<(), ClientError> {
    let error = |message: String| ClientError::File {
        path: path.to_owned(),
        message,
    };
    for (index, document) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let value = Value::deserialize(document).map_err(|e| error(e.to_string()))?;
        let number = index + 1;
        match value {
            Value::Null => continue, // an empty document (`---` at the end)
            Value::Object(ref object) => {
                let is_wrapper = object.get("apiVersion").and_then(Value::as_str)
                    == Some(WRAPPER_API_VERSION)
                    && object.get("kind").and_then(Value::as_str) == Some(WRAPPER_KIND);
                if !is_wrapper {
                    bundle.manifests.push(value);
                    continue;
                }
                if bundle.wrapper.is_some() {
                    return Err(error(format!(
                        "document {number}: a second {WRAPPER_KIND} document"
                    )));
                }
                let wrapper = serde_json::from_value(value)
                    .map_err(|e| error(format!("document {number} ({WRAPPER_KIND}): {e}")))?;
                bundle.wrapper = Some(wrapper);
            }
            _ => {
                return Err(error(format!(
                    "document {number} is not a Kubernetes object (a mapping)"
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_in_order_with_the_wrapper_apart() {
        let mut bundle = Bundle::default();
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n\
                    apiVersion: baton.io/v1\nkind: ResourceBundle\nname: web\nlabels: {env: prod}\n---\n\
                    {\"apiVersion\": \"v1\", \"kind\": \"Secret\", \"metadata\": {\"name\": \"b\"}}\n---\n";
        add_documents(&mut bundle, Path::new("web.yaml"), text).unwrap();
        let kinds: Vec<&str> = bundle
            .manifests
            .iter()
            .map(|m| m["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["ConfigMap", "Secret"]);
        let wrapper = bundle.wrapper.unwrap();
        assert_eq!(wrapper.name.as_deref(), Some("web"));
        assert_eq!(wrapper.labels["env"], "prod");
    }

    #[test]
    fn bad_yaml_names_the_file_and_line() {
        let text = "apiVersion: v1\nkind: ConfigMap\n---\napiVersion: v1\nkind: [oops\n";
        let err = add_documents(&mut Bundle::default(), Path::new("dir/bad.yaml"), text)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("dir/bad.yaml: "), "{err}");
        assert!(err.contains("line 5"), "{err}");
    }
}
