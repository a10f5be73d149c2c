//! Checks of REST input that the store cannot make: paging bounds, label selectors, names and
//! the manifests of a bundle (docs/protocol.md §4.5: the agent would drop an invalid bundle, so the
//! hub refuses it up front, naming the manifest and the field).

use crate::hub::error::ApiError;
use crate::store::{
    ConditionFilter, ConsumerKey, ConsumerName, Direction, Labels, OrderBy, PageRequest, RawJson,
    ResourceState,
};
use crate::work::model::{DeleteOption, Manifest, ManifestConfigOption};
use crate::work::validation::{
    self, ManifestError, ManifestLimits, ManifestProblem, ObjectFields, object_fields,
};

use super::views::PageParams;

pub const DEFAULT_PAGE_SIZE: u32 = 100;
pub const MAX_PAGE_SIZE: u32 = 1000;

pub fn page(params: &PageParams) -> Result<PageRequest, ApiError> {
    let page = params.page.unwrap_or(1);
    if page == 0 {
        return Err(ApiError::field("page", "pages count from 1"));
    }
    let size = params.size.unwrap_or(DEFAULT_PAGE_SIZE);
    if !(1..=MAX_PAGE_SIZE).contains(&size) {
        return Err(ApiError::field(
            "size",
            format!("must be between 1 and {MAX_PAGE_SIZE}"),
        ));
    }
    Ok(PageRequest {
        page,
        size,
        order_by: params.order_by.unwrap_or(OrderBy::CreatedAt),
        direction: params.direction.unwrap_or(Direction::Asc),
    })
}

/// `env=prod,team=a` → labels that must all match.
pub fn label_selector(selector: Option<&str>) -> Result<Labels, ApiError> {
    let mut labels = Labels::new();
    for term in selector
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        let Some((key, value)) = term.split_once('=') else {
            return Err(ApiError::field(
                "labels",
                format!("{term:?} is not key=value"),
            ));
        };
        labels.insert(key.trim().to_owned(), value.trim().to_owned());
    }
    Ok(labels)
}

/// The status filters of a resource list or watch, from its raw query: every `condition`
/// (`TYPE=STATUS`, all must match) and `state` (`pending` or `deleting`).
pub fn status_filter(
    query: Option<&str>,
) -> Result<(Vec<ConditionFilter>, Option<ResourceState>), ApiError> {
    let mut conditions = Vec::new();
    let mut state = None;
    for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match key.as_ref() {
            "condition" => {
                super::storable::text("condition", &value)?;
                conditions.push(
                    value
                        .parse::<ConditionFilter>()
                        .map_err(|reason| ApiError::field("condition", reason))?,
                );
            }
            "state" => {
                state = Some(match value.as_ref() {
                    "pending" => ResourceState::Pending,
                    "deleting" => ResourceState::Deleting,
                    other => {
                        return Err(ApiError::field(
                            "state",
                            format!("{other:?} is not pending or deleting"),
                        ));
                    }
                });
            }
            _ => {}
        }
    }
    Ok((conditions, state))
}

pub fn consumer_name(field: &str, name: &str) -> Result<ConsumerName, ApiError> {
    name.parse()
        .map_err(|e: crate::store::model::InvalidName| ApiError::field(field, e.to_string()))
}

/// A consumer's id (a UUID) or name in a path: anything else names no consumer that can exist.
pub fn consumer_key(key: &str) -> Result<ConsumerKey, ApiError> {
    match ConsumerKey::parse(key) {
        ConsumerKey::Name(name) if name.parse::<ConsumerName>().is_err() => Err(ApiError::field(
            "id_or_name",
            format!("{name:?} is neither a consumer id (a UUID) nor a DNS-1123 label"),
        )),
        key => Ok(key),
    }
}

/// The version an update is based on: versions start at 1.
pub fn version(version: i64) -> Result<(), ApiError> {
    if version < 1 {
        return Err(ApiError::field("version", "versions count from 1"));
    }
    Ok(())
}

/// An optional resource name: a DNS-1123 subdomain-ish name, as a ManifestWork name must be.
pub fn resource_name(name: Option<&str>) -> Result<(), ApiError> {
    let Some(name) = name else { return Ok(()) };
    let ok = !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(ApiError::field(
            "name",
            format!(
                "{name:?} is not a valid Kubernetes object name (lower-case alphanumerics, '-' and '.')"
            ),
        ))
    }
}

/// The bundle as the agent will validate it (§4.5), plus object-shaped options. Reads the
/// request's text: the manifests are split into raw objects, only the fields §4.5 looks at
/// are read from each.
pub fn bundle(
    manifests: &RawJson,
    delete_option: Option<&RawJson>,
    manifest_configs: Option<&RawJson>,
) -> Result<(), ApiError> {
    let manifests = serde_json::from_str::<Vec<Manifest>>(manifests.get())
        .map_err(|e| ApiError::field("manifests", reason(&e)))?;
    manifest_list(&manifests)?;
    if let Some(option) = delete_option {
        let not_option = |why: String| {
            ApiError::field(
                "delete_option",
                format!(
                    "not a ManifestWork deleteOption (e.g. {{\"propagationPolicy\": \"Foreground\"}}): {why}"
                ),
            )
        };
        if !is_object(option) {
            return Err(not_option("not an object".into()));
        }
        serde_json::from_str::<DeleteOption>(option.get()).map_err(|e| not_option(reason(&e)))?;
    }
    if let Some(configs) = manifest_configs {
        let not_configs = |why: String| {
            ApiError::field(
                "manifest_configs",
                format!("not a list of ManifestWork manifestConfigs: {why}"),
            )
        };
        let items = serde_json::from_str::<Vec<&serde_json::value::RawValue>>(configs.get())
            .map_err(|e| not_configs(reason(&e)))?;
        if let Some(index) = items.iter().position(|item| !is_object(item)) {
            return Err(not_configs(format!("item {index} is not an object")));
        }
        serde_json::from_str::<Vec<ManifestConfigOption>>(configs.get())
            .map_err(|e| not_configs(reason(&e)))?;
    }
    Ok(())
}

/// Whether a document is a JSON object: serde also reads a struct from an array of its fields,
/// which the API's schema (and the agent) would not take.
fn is_object(raw: &serde_json::value::RawValue) -> bool {
    raw.get().trim_start().starts_with('{')
}

/// A parse error without its position (the position is in the field's text, not the request's).
fn reason(err: &serde_json::Error) -> String {
    let message = err.to_string();
    message
        .split(" at line ")
        .next()
        .unwrap_or(&message)
        .to_owned()
}

/// §4.5 on the REST side (the agent would drop the bundle otherwise), plus `apiVersion`,
/// without which no cluster can apply an object. The error names the JSON path at fault.
/// Each manifest's top-level fields are read once, for both.
fn manifest_list(manifests: &[Manifest]) -> Result<(), ApiError> {
    let fields: Vec<Option<ObjectFields>> = manifests.iter().map(object_fields).collect();
    for (index, read) in fields.iter().enumerate() {
        if read.as_ref().is_some_and(|f| f.api_version.is_empty()) {
            return Err(ApiError::field(
                format!("manifests[{index}].apiVersion"),
                "is required",
            ));
        }
    }
    validation::validate_read(manifests, &fields, ManifestLimits::default()).map_err(|err| {
        let field = match &err {
            ManifestError::Invalid { index, problem, .. } => format!(
                "manifests[{index}]{}",
                match problem {
                    ManifestProblem::NotAnObject => "",
                    ManifestProblem::MissingKind => ".kind",
                    ManifestProblem::MissingName => ".metadata.name",
                    ManifestProblem::GenerateName => ".metadata.generateName",
                }
            ),
            ManifestError::Empty
            | ManifestError::TooMany { .. }
            | ManifestError::TooLarge { .. } => "manifests".to_owned(),
        };
        ApiError::field(field, err.to_string())
    })
}
