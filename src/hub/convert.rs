//! Between the store's records and the ManifestWorks the SDK sends: a resource row becomes the
//! source's view of its work (uid = resource id, namespace = consumer, generation = version,
//! §4.1, §4.3), with the reported status (stored JSON text) as its typed status. A publish
//! needs less ([`SpecText`]): the manifests stay the stored text and the status is not read.

use serde_json::value::RawValue;

use crate::store::{ReportedStatus, Resource};
use crate::work::model::meta::Time;
use crate::work::model::payload::RawManifestBundle;
use crate::work::model::{
    DeleteOption, Manifest, ManifestConfigOption, ManifestWork, ManifestWorkSpec,
    ManifestWorkStatus, ManifestsTemplate, ObjectMeta, SEQUENCE_ID_ANNOTATION,
};

/// A stored value no longer fits the ManifestWork model (should not happen: input is validated).
#[derive(Debug, thiserror::Error)]
#[error("resource {id}: stored {what} is not a valid ManifestWork {what}: {source}")]
pub struct ConvertError {
    pub id: uuid::Uuid,
    pub what: &'static str,
    #[source]
    pub source: serde_json::Error,
}

/// The work the source holds for `resource`: its spec, and the reported status typed.
pub fn work_of(resource: &Resource) -> Result<ManifestWork, ConvertError> {
    // The stored text, split into one raw manifest per element: a scan, no tree.
    let manifests = serde_json::from_str::<Vec<Manifest>>(resource.spec.manifests.get())
        .map_err(convert_error(resource, "manifests"))?;
    let (delete_option, manifest_configs) = options_of(resource)?;
    let status = match &resource.status {
        Some(reported) => status_of(reported).map_err(convert_error(resource, "status"))?,
        None => ManifestWorkStatus::default(),
    };
    Ok(ManifestWork {
        metadata: source_meta_of(resource),
        spec: ManifestWorkSpec {
            workload: ManifestsTemplate { manifests },
            delete_option,
            manifest_configs,
            executor: None,
        },
        status,
    })
}

/// What a spec event of `resource` carries (§4.1): the work's metadata and its spec, with the
/// manifests as the stored text (validated when stored, so written to the event as they are).
#[derive(Debug)]
pub struct SpecText<'r> {
    pub metadata: ObjectMeta,
    manifests: &'r RawValue,
    delete_option: Option<DeleteOption>,
    manifest_configs: Vec<ManifestConfigOption>,
}

impl SpecText<'_> {
    /// The event's data.
    pub fn bundle(&self) -> RawManifestBundle<'_> {
        RawManifestBundle {
            manifests: self.manifests,
            delete_option: self.delete_option.as_ref(),
            manifest_configs: &self.manifest_configs,
            executer: None,
        }
    }
}

/// The spec event's content for `resource`. The options are read (typed, as [`work_of`]
/// renders them) only for a live resource: a deletion is sent without data (§4.2).
pub fn spec_text_of(resource: &Resource) -> Result<SpecText<'_>, ConvertError> {
    let (delete_option, manifest_configs) = match resource.deleted_at {
        Some(_) => (None, Vec::new()),
        None => options_of(resource)?,
    };
    Ok(SpecText {
        metadata: source_meta_of(resource),
        manifests: &resource.spec.manifests,
        delete_option,
        manifest_configs,
    })
}

fn convert_error(
    resource: &Resource,
    what: &'static str,
) -> impl Fn(serde_json::Error) -> ConvertError {
    let id = resource.id;
    move |source| ConvertError { id, what, source }
}

/// The spec's `deleteOption` and `manifestConfigs`, typed.
fn options_of(
    resource: &Resource,
) -> Result<(Option<DeleteOption>, Vec<ManifestConfigOption>), ConvertError> {
    let delete_option = resource
        .spec
        .delete_option
        .as_ref()
        .map(|raw| serde_json::from_str::<DeleteOption>(raw.get()))
        .transpose()
        .map_err(convert_error(resource, "deleteOption"))?;
    let manifest_configs = match &resource.spec.manifest_configs {
        Some(raw) => serde_json::from_str::<Vec<ManifestConfigOption>>(raw.get())
            .map_err(convert_error(resource, "manifestConfigs"))?,
        None => Vec::new(),
    };
    Ok((delete_option, manifest_configs))
}

/// [`meta_of`] with the last accepted status sequence id, as the source's copy carries it
/// (§4.6): the `metadata` of every spec event.
fn source_meta_of(resource: &Resource) -> ObjectMeta {
    let mut metadata = meta_of(resource);
    if let Some(reported) = &resource.status {
        metadata.annotations.insert(
            SEQUENCE_ID_ANNOTATION.to_owned(),
            reported.sequence_id.clone(),
        );
    }
    metadata
}

/// The work's metadata as the source sees it: name (the id when unnamed), namespace (the
/// consumer), uid (the id), generation and resource version (the version), timestamps, and the
/// resource's labels and annotations.
pub fn meta_of(resource: &Resource) -> ObjectMeta {
    ObjectMeta {
        name: resource
            .name
            .clone()
            .unwrap_or_else(|| resource.id.to_string()),
        namespace: resource.consumer_name.clone(),
        uid: resource.id.to_string(),
        resource_version: resource.version.to_string(),
        generation: resource.version,
        creation_timestamp: Some(Time(resource.created_at)),
        deletion_timestamp: resource.deleted_at.map(Time),
        labels: resource.spec.labels.clone(),
        annotations: resource.spec.annotations.clone(),
        ..ObjectMeta::default()
    }
}

/// The typed status of what an agent reported.
pub fn status_of(reported: &ReportedStatus) -> Result<ManifestWorkStatus, serde_json::Error> {
    serde_json::from_str(reported.status.get())
}

#[cfg(test)]
mod tests {
    use ::cloudevents::AttributesWriter;
    use chrono::Utc;
    use serde_json::Value;

    use super::*;
    use crate::cloudevents::{Action, Codec, Event, EventType, SubResource};
    use crate::store::{Labels, RawJson, ResourceSpec};
    use crate::work::codec::BundleSourceCodec;
    use crate::work::model::manifest_bundles_data_type;
    use crate::work::model::payload::ManifestBundle;

    /// A bundle as a client writes it: keys in the client's order, escapes, non-ASCII text.
    const MANIFESTS: &str = r#"[{"kind":"Deployment","apiVersion":"apps/v1","metadata":{"name":"web","namespace":"default","labels":{"app":"web"},"annotations":{"note":"<b>&amp; \"quoted\" é \u2028"}},"spec":{"replicas":3,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"nginx","image":"nginx:1.27","ports":[{"containerPort":80}],"resources":{"limits":{"cpu":"500m","memory":"128Mi"}},"env":[{"name":"RATIO","value":"0.25"},{"name":"EMPTY","value":""}]}]}}}},{"apiVersion":"v1","kind":"Service","metadata":{"name":"web","namespace":"default"},"spec":{"selector":{"app":"web"},"ports":[{"port":80,"targetPort":80}]}},{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"web-config","namespace":"default"},"data":{"nginx.conf":"server {\n\tlisten 80;\n}\n","big":1e3,"n":-0.5}}]"#;
    const DELETE_OPTION: &str = r#"{"propagationPolicy":"SelectivelyOrphan","selectivelyOrphans":{"orphaningRules":[{"group":"","resource":"configmaps","name":"web-config","namespace":"default"}]}}"#;
    const CONFIGS: &str = r#"[{"resourceIdentifier":{"group":"apps","resource":"deployments","name":"web","namespace":"default"},"feedbackRules":[{"type":"WellKnownStatus"}],"updateStrategy":{"type":"ServerSideApply","serverSideApply":{"force":true,"fieldManager":"work-agent"}}}]"#;

    fn raw(text: &str) -> RawJson {
        serde_json::value::RawValue::from_string(text.to_owned()).expect("json")
    }

    fn resource(manifests: &str) -> Resource {
        let now = Utc::now();
        Resource {
            id: uuid::Uuid::new_v4(),
            consumer_id: uuid::Uuid::new_v4(),
            consumer_name: "cluster1".into(),
            name: Some("web".into()),
            source: None,
            version: 3,
            spec: ResourceSpec {
                manifests: raw(manifests),
                delete_option: Some(raw(DELETE_OPTION)),
                manifest_configs: Some(raw(CONFIGS)),
                labels: Labels::from([("app".into(), "web".into())]),
                annotations: Labels::from([(
                    "logging.open-cluster-management.io/trace".into(),
                    "t1".into(),
                )]),
            },
            status: Some(ReportedStatus {
                status: raw(
                    r#"{"conditions":[{"type":"Applied","status":"True","reason":"Done","message":"","lastTransitionTime":"2026-01-01T00:00:00Z"}],"resourceStatus":{}}"#,
                ),
                hash: "h".into(),
                sequence_id: "1834567890123456789".into(),
                updated_at: now,
                version: Some(2),
            }),
            created_at: now,
            updated_at: now,
            deleted_at: None,
        }
    }

    /// The event as the publisher sent it before (the whole work, typed) and as it sends it
    /// now (the stored text), without what differs between any two encodes (id and time).
    fn both(resource: &Resource, action: Action) -> (Event, Event) {
        let codec = BundleSourceCodec::new();
        let event_type = EventType::new(manifest_bundles_data_type(), SubResource::Spec, action);
        let comparable = |mut event: Event| {
            event.set_id("id");
            event.set_time(None::<chrono::DateTime<Utc>>);
            event
        };
        let typed = codec
            .encode("hub", &event_type, &work_of(resource).expect("work"))
            .expect("typed");
        let spec = spec_text_of(resource).expect("spec");
        let text = codec
            .encode_text("hub", &event_type, &spec.metadata, &spec.bundle())
            .expect("text");
        (comparable(typed), comparable(text))
    }

    /// The event's JSON (structured mode) as a tree: extensions are a map, written in no
    /// fixed order, so two renderings of one event may differ in their order alone.
    fn json(event: &Event) -> Value {
        serde_json::to_value(event).expect("event json")
    }

    /// The data bytes exactly.
    fn data(event: &Event) -> Option<&[u8]> {
        match event.data() {
            Some(::cloudevents::Data::Binary(bytes)) => Some(bytes),
            None => None,
            other => panic!("binary JSON data expected, got {other:?}"),
        }
    }

    #[test]
    fn a_spec_event_from_the_stored_text_is_the_event_of_the_typed_work() {
        let mut resource = resource(MANIFESTS);
        for action in [Action::CreateRequest, Action::UpdateRequest] {
            let (typed, text) = both(&resource, action);
            assert_eq!(data(&text), data(&typed), "the data, byte for byte");
            assert_eq!(json(&text), json(&typed), "every attribute and extension");
            assert_eq!(text, typed);
        }
        resource.deleted_at = Some(Utc::now());
        let (typed, text) = both(&resource, Action::DeleteRequest);
        assert_eq!(json(&text), json(&typed));
        assert_eq!(data(&text), None, "a deletion carries no data (§4.2)");
        resource.status = None;
        resource.deleted_at = None;
        let (typed, text) = both(&resource, Action::CreateRequest);
        assert_eq!(data(&text), data(&typed));
        assert_eq!(json(&text), json(&typed), "no status, no sequence id");
    }

    #[test]
    fn whitespace_between_stored_manifests_is_the_only_difference_it_can_make() {
        // Rows written before the API stored compact text may space the array's elements.
        let spaced = format!(
            "[ {} ]",
            &MANIFESTS[1..MANIFESTS.len() - 1].replace("}},{", "}}, {")
        );
        assert_ne!(spaced, MANIFESTS);
        let (typed, text) = both(&resource(&spaced), Action::CreateRequest);
        let data = |event: &Event| data(event).expect("data").to_vec();
        let tree = |event: &Event| serde_json::from_slice::<Value>(&data(event)).expect("data");
        assert_eq!(tree(&text), tree(&typed));
        // Each manifest's own text (what §4.5 measures, what an agent applies) is the same.
        let texts = |event: &Event| {
            let bundle: ManifestBundle = serde_json::from_slice(&data(event)).expect("bundle");
            bundle
                .manifests
                .iter()
                .map(|m| m.json().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(texts(&text), texts(&typed));
    }
}
