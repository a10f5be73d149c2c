//! The status the reference agent reports, shaped as the OCM work agent reports it: work
//! conditions `Applied` / `Available` with the observed generation, and per manifest its
//! `resourceMeta`, `Applied` / `Available` conditions and the status feedback its rules ask for.

use serde_json::Value;

use super::cluster::ObjectKey;
use crate::work::model::status::{FeedbackValue, FieldValue, StatusFeedbackResult, set_condition};
use crate::work::model::{
    Condition, ManifestCondition, ManifestConfigOption, ManifestResourceMeta,
    ManifestResourceStatus, ManifestWork, ManifestWorkStatus,
};

/// What applying one manifest gave.
#[derive(Debug, Clone)]
pub struct ManifestOutcome {
    pub key: ObjectKey,
    pub manifest: Value,
    /// `Some(reason)` when the apply failed.
    pub error: Option<String>,
}

fn condition(type_: &str, ok: bool, generation: i64, reason: &str, message: &str) -> Condition {
    Condition {
        type_: type_.to_owned(),
        status: if ok { "True" } else { "False" }.to_owned(),
        observed_generation: generation,
        last_transition_time: None,
        reason: reason.to_owned(),
        message: message.to_owned(),
    }
}

/// The Applied and Available conditions to set: both True or both False, each with its
/// (reason, message).
struct Verdict<'a> {
    ok: bool,
    applied: (&'a str, &'a str),
    available: (&'a str, &'a str),
}

impl Verdict<'_> {
    fn record(&self, conditions: &mut Vec<Condition>, generation: i64) {
        let (reason, message) = self.applied;
        set_condition(
            conditions,
            condition("Applied", self.ok, generation, reason, message),
        );
        let (reason, message) = self.available;
        set_condition(
            conditions,
            condition("Available", self.ok, generation, reason, message),
        );
    }
}

/// The work's new status, keeping transition times of conditions that did not change.
pub fn work_status(work: &ManifestWork, outcomes: &[ManifestOutcome]) -> ManifestWorkStatus {
    let generation = work.metadata.generation;
    let failed: Vec<&ManifestOutcome> = outcomes.iter().filter(|o| o.error.is_some()).collect();
    let mut conditions = work.status.conditions.clone();
    let message;
    let verdict = if failed.is_empty() {
        Verdict {
            ok: true,
            applied: (
                "AppliedManifestWorkComplete",
                "Apply manifest work complete",
            ),
            available: ("ResourcesAvailable", "All resources are available"),
        }
    } else {
        message = format!(
            "Failed to apply manifest work: {} of {} manifests failed",
            failed.len(),
            outcomes.len()
        );
        Verdict {
            ok: false,
            applied: ("AppliedManifestWorkFailed", &message),
            available: (
                "ResourcesNotAvailable",
                "One or more resources are not available",
            ),
        }
    };
    verdict.record(&mut conditions, generation);
    let previous = &work.status.resource_status.manifests;
    let manifests = outcomes
        .iter()
        .enumerate()
        .map(|(ordinal, outcome)| {
            let meta = ManifestResourceMeta {
                ordinal: i32::try_from(ordinal).unwrap_or(i32::MAX),
                group: outcome.key.group.clone(),
                version: outcome.key.version.clone(),
                kind: outcome.key.kind.clone(),
                resource: outcome.key.resource.clone(),
                name: outcome.key.name.clone(),
                namespace: outcome.key.namespace.clone(),
            };
            let mut conditions = previous
                .iter()
                .find(|p| p.resource_meta == meta)
                .and_then(|p| p.conditions.clone())
                .unwrap_or_default();
            let verdict = match &outcome.error {
                None => Verdict {
                    ok: true,
                    applied: ("AppliedManifestComplete", "Apply manifest complete"),
                    available: ("ResourceAvailable", "Resource is available"),
                },
                Some(reason) => Verdict {
                    ok: false,
                    applied: ("AppliedManifestFailed", reason),
                    available: ("ResourceNotAvailable", "Resource is not applied"),
                },
            };
            verdict.record(&mut conditions, generation);
            let values = if outcome.error.is_none() {
                feedback(&outcome.key, &outcome.manifest, &work.spec.manifest_configs)
            } else {
                Vec::new()
            };
            ManifestCondition {
                resource_meta: meta,
                status_feedbacks: StatusFeedbackResult { values },
                conditions: Some(conditions),
            }
        })
        .collect();
    ManifestWorkStatus {
        conditions,
        resource_status: ManifestResourceStatus { manifests },
    }
}

/// Feedback values the configs ask for: JSON paths that exist in the applied object, and the
/// well-known status of a Deployment (which the simulation reports fully available).
fn feedback(
    key: &ObjectKey,
    object: &Value,
    configs: &[ManifestConfigOption],
) -> Vec<FeedbackValue> {
    let mut values = Vec::new();
    let matching = configs.iter().filter(|c| {
        let id = &c.resource_identifier;
        id.group == key.group
            && id.resource == key.resource
            && id.name == key.name
            && (id.namespace.is_empty() || id.namespace == key.namespace)
    });
    for config in matching {
        for rule in &config.feedback_rules {
            match rule.type_.as_str() {
                "JSONPaths" => {
                    for path in &rule.json_paths {
                        if let Some(value) = lookup(object, &path.path).and_then(field_value) {
                            values.push(FeedbackValue {
                                name: path.name.clone(),
                                value,
                            });
                        }
                    }
                }
                "WellKnownStatus" if key.kind == "Deployment" => {
                    let replicas = lookup(object, ".spec.replicas")
                        .and_then(Value::as_i64)
                        .unwrap_or(1);
                    for name in ["ReadyReplicas", "Replicas", "AvailableReplicas"] {
                        values.push(FeedbackValue {
                            name: name.to_owned(),
                            value: FieldValue {
                                type_: "Integer".into(),
                                integer: Some(replicas),
                                ..FieldValue::default()
                            },
                        });
                    }
                }
                _ => {}
            }
        }
    }
    values
}

/// A dotted JSON path such as `.spec.replicas` (no brackets or filters).
fn lookup<'v>(object: &'v Value, path: &str) -> Option<&'v Value> {
    path.trim_start_matches('.')
        .split('.')
        .filter(|p| !p.is_empty())
        .try_fold(object, |v, part| v.get(part))
}

fn field_value(value: &Value) -> Option<FieldValue> {
    let base = FieldValue::default();
    Some(match value {
        Value::Number(n) if n.is_i64() => FieldValue {
            type_: "Integer".into(),
            integer: n.as_i64(),
            ..base
        },
        Value::String(s) => FieldValue {
            type_: "String".into(),
            string: Some(s.clone()),
            ..base
        },
        Value::Bool(b) => FieldValue {
            type_: "Boolean".into(),
            boolean: Some(*b),
            ..base
        },
        Value::Null => return None,
        other => FieldValue {
            type_: "JsonRaw".into(),
            json_raw: Some(other.to_string()),
            ..base
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_paths_resolve_to_typed_values() {
        let object = serde_json::json!({"spec": {"replicas": 3, "paused": false, "template": {"a": 1}}, "metadata": {"name": "x"}});
        assert_eq!(
            field_value(lookup(&object, ".spec.replicas").unwrap())
                .unwrap()
                .integer,
            Some(3)
        );
        assert_eq!(
            field_value(lookup(&object, ".spec.paused").unwrap())
                .unwrap()
                .boolean,
            Some(false)
        );
        assert_eq!(
            field_value(lookup(&object, ".spec.template").unwrap())
                .unwrap()
                .json_raw
                .as_deref(),
            Some(r#"{"a":1}"#)
        );
        assert!(lookup(&object, ".status.availableReplicas").is_none());
    }
}
