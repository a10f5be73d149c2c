//! The parts of the OpenAPI document that derives cannot write: the `Labels` and `Manifest`
//! components, list components named for their items, the responses every operation can give
//! (401, 500, 503) and the bearer scheme.
//! The patterns here state the rules `validate` and `storable` enforce (a test holds them
//! together); this module must not check input itself.

use std::borrow::Cow;

use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Ref, Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, RefOr, ResponseBuilder};
use utoipa::{PartialSchema, ToSchema};

use super::maestro::error::MaestroErrorBody;
use crate::hub::error::ErrorBody;

/// A consumer name: a DNS-1123 label (`validate::consumer_name`), at most 63 characters.
pub const CONSUMER_NAME: &str = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
/// A resource name (`validate::resource_name`), at most 253 characters.
pub const RESOURCE_NAME: &str = "^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$";
/// A consumer id (a UUID) or name, in a path (`validate::consumer_key`).
pub const CONSUMER_KEY: &str = "^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[a-z0-9]([-a-z0-9]*[a-z0-9])?)$";
/// Text every backend can store (`storable::text`).
pub const STORABLE_TEXT: &str = "^[^\\u0000]*$";
/// A label selector (`validate::label_selector`): comma-separated `key=value` terms; blank
/// terms are skipped.
pub const LABEL_SELECTOR: &str =
    "^(\\s*|[^,\\u0000]*=[^,\\u0000]*)(,(\\s*|[^,\\u0000]*=[^,\\u0000]*))*$";

/// A status filter (`validate::status_filter`): `TYPE=STATUS`, neither part empty nor holding
/// `=` or U+0000.
pub const CONDITION_FILTER: &str = "^[^=\\u0000]+=[^=\\u0000]+$";

/// The `Labels` component (labels and annotations alike).
pub struct Labels;

impl PartialSchema for Labels {
    fn schema() -> RefOr<Schema> {
        let text = || {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(STORABLE_TEXT))
        };
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "String keys to string values; neither may contain U+0000.",
            ))
            .property_names(Some(text()))
            .additional_properties(Some(text()))
            .into()
    }
}

impl ToSchema for Labels {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Labels")
    }
}

/// The `Manifest` component: a Kubernetes object as docs/protocol.md §4.5 (and the hub's
/// `apiVersion` check) requires it; other fields are the object's own.
pub struct Manifest;

impl PartialSchema for Manifest {
    fn schema() -> RefOr<Schema> {
        let required_text = || {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
        };
        let metadata = ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("name", required_text())
            .required("name")
            .description(Some("`generateName` is not supported: give `name`."));
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "A Kubernetes object; its strings must not contain U+0000.",
            ))
            .property("apiVersion", required_text())
            .property("kind", required_text())
            .property("metadata", metadata)
            .required("apiVersion")
            .required("kind")
            .required("metadata")
            .into()
    }
}

impl ToSchema for Manifest {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Manifest")
    }
}

/// Adds what every operation shares: its 401 (with `--api-token-file`), 500 and 503 answers,
/// and the optional bearer scheme.
pub fn complete(doc: &mut OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    // Open unless the hub was started with API tokens.
    doc.security = Some(vec![
        SecurityRequirement::default(),
        SecurityRequirement::new("bearer", Vec::<String>::new()),
    ]);
    let limits = format!(
        " A request body is one JSON value (only whitespace may follow it); the documents it \
         carries (`manifests`, `delete_option`, `manifest_configs`) nest arrays and objects at \
         most {} levels deep. Either violation is a 400. A bearer token (static or JWT) \
         carries a role (`read`: GET; `write`: also resource changes; `admin`: also consumer \
         changes) and may be scoped to a consumer label selector: consumers and resources out \
         of its reach are left out of lists, a 404 to a GET and a 403 to a change.",
        super::storable::MAX_JSON_DEPTH
    );
    doc.info.description = Some(doc.info.description.take().unwrap_or_default() + &limits);
    name_lists(doc);
    for (path, item) in doc.paths.paths.iter_mut() {
        let body = if super::maestro::is_maestro_path(path) {
            MaestroErrorBody::name()
        } else {
            ErrorBody::name()
        };
        operations(item).for_each(|operation| add_common_errors(operation, &body));
    }
}

/// utoipa names a page of `ListView<ConsumerView>` `ListView_ConsumerView` and repeats the item's
/// schema inside it; the contract names it for what it holds (`ConsumerList`, as its `kind`
/// says) and refers to the item's component, so clients get one item type per concept.
fn name_lists(doc: &mut OpenApi) {
    let Some(components) = doc.components.as_mut() else {
        return;
    };
    let generic: Vec<String> = components
        .schemas
        .keys()
        .filter(|name| name.starts_with("ListView_"))
        .cloned()
        .collect();
    let mut renamed = Vec::new();
    for old in generic {
        let item = old.trim_start_matches("ListView_").to_owned();
        let new = format!("{}List", item.trim_end_matches("View"));
        let Some(mut schema) = components.schemas.remove(&old) else {
            continue;
        };
        if let RefOr::T(Schema::Object(object)) = &mut schema {
            let items = ArrayBuilder::new().items(Ref::from_schema_name(item.as_str()));
            object.properties.insert("items".to_owned(), items.into());
        }
        components.schemas.insert(new.clone(), schema);
        renamed.push((Ref::from_schema_name(old).ref_location, new));
    }
    let responses = doc
        .paths
        .paths
        .values_mut()
        .flat_map(operations)
        .flat_map(|operation| operation.responses.responses.values_mut());
    for response in responses {
        let RefOr::T(response) = response else {
            continue;
        };
        for content in response.content.values_mut() {
            let Some(RefOr::Ref(reference)) = &content.schema else {
                continue;
            };
            if let Some((_, new)) = renamed
                .iter()
                .find(|(old, _)| *old == reference.ref_location)
            {
                content.schema = Some(RefOr::Ref(Ref::from_schema_name(new.as_str())));
            }
        }
    }
}

/// The operations of a path.
fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.post,
        &mut item.put,
        &mut item.patch,
        &mut item.delete,
    ]
    .into_iter()
    .flatten()
}

/// 401, 500 and 503 with the error body schema `body`.
fn add_common_errors(operation: &mut Operation, body: &str) {
    for (status, description) in [
        (
            "401",
            "Missing or invalid bearer token (only with API tokens)",
        ),
        (
            "403",
            "The token's role or consumer selector does not reach this operation",
        ),
        (
            "500",
            "Unexpected failure; the log has its cause under the operation id",
        ),
        ("503", "The database is unavailable or the hub is stopping"),
    ] {
        operation
            .responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| error_response(description, body));
    }
}

/// A response with the error body schema `body`.
fn error_response(description: &str, body: &str) -> RefOr<utoipa::openapi::Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                    body,
                ))))
                .build(),
        )
        .into()
}

#[cfg(test)]
mod tests {
    use regex::Regex;

    use super::*;
    use crate::hub::api::validate;

    fn agree(pattern: &str, max: usize, samples: &[&str], rule: impl Fn(&str) -> bool) {
        let pattern = Regex::new(pattern).expect("pattern");
        for sample in samples {
            assert_eq!(
                pattern.is_match(sample) && sample.len() <= max,
                rule(sample),
                "document and server disagree on {sample:?}"
            );
        }
    }

    const NAMES: &[&str] = &[
        "a",
        "c1",
        "cluster-a",
        "a.b",
        "a-",
        "-a",
        "A",
        "a_b",
        "",
        "a b",
        "é",
        "a\0",
        "1.2.3",
        "a..b",
        "x.",
        "0",
        "z9-9",
    ];

    #[test]
    fn name_patterns_state_the_rules_the_server_enforces() {
        let long_label = "a".repeat(64);
        let mut names = NAMES.to_vec();
        names.push(&long_label);
        agree(CONSUMER_NAME, 63, &names, |s| {
            validate::consumer_name("name", s).is_ok()
        });
        agree(RESOURCE_NAME, 253, &names, |s| {
            validate::resource_name(Some(s)).is_ok()
        });
        let id = "6f1e2c1a-7a9b-4a55-9d0c-2f0a3e1b5c7d";
        names.push(id);
        agree(CONSUMER_KEY, 63, &names, |s| {
            validate::consumer_key(s).is_ok()
        });
    }

    #[test]
    fn the_selector_and_text_patterns_state_the_rules_the_server_enforces() {
        let selectors = [
            "",
            "a=b",
            "a=b,c=d",
            " a = b , ",
            ",,",
            "a",
            "a=b,c",
            "=",
            "a=",
            "=b",
            "a=b=c",
            "a=\0",
            "\0",
            " ",
        ];
        agree(LABEL_SELECTOR, usize::MAX, &selectors, |s| {
            validate::label_selector(Some(s)).is_ok()
                && crate::hub::api::storable::text("labels", s).is_ok()
        });
        agree(STORABLE_TEXT, usize::MAX, &["", "a", "é\n", "a\0b"], |s| {
            crate::hub::api::storable::text("x", s).is_ok()
        });
    }

    /// The attributes in `views` and the handlers spell the patterns out (derive attributes
    /// take literals only): each must be one of the rules above.
    #[test]
    fn every_pattern_in_the_document_is_a_rule_stated_here() {
        fn patterns(value: &serde_json::Value, found: &mut Vec<String>) {
            match value {
                serde_json::Value::Object(map) => {
                    if let Some(serde_json::Value::String(p)) = map.get("pattern") {
                        found.push(p.clone());
                    }
                    map.values().for_each(|v| patterns(v, found));
                }
                serde_json::Value::Array(items) => items.iter().for_each(|v| patterns(v, found)),
                _ => {}
            }
        }
        let doc: serde_json::Value =
            serde_json::from_str(&crate::hub::api::openapi_json()).expect("document");
        let mut found = Vec::new();
        patterns(&doc, &mut found);
        assert!(found.len() >= 8, "{found:?}");
        let rules = [
            CONSUMER_NAME,
            RESOURCE_NAME,
            CONSUMER_KEY,
            STORABLE_TEXT,
            LABEL_SELECTOR,
            CONDITION_FILTER,
        ];
        for pattern in found {
            assert!(
                rules.contains(&pattern.as_str()),
                "{pattern} is no rule of schema.rs"
            );
        }
    }
}
