//! The generic source and agent clients over the in-memory transport (docs/protocol.md §5, §6):
//! delivery, the agent's spec decisions, both resync directions, error resilience, resync on
//! reconnect. Replays the sdk-go behaviour tables in the vectors.

use std::sync::Arc;
use std::time::Duration;

use baton::cloudevents::builder::EventBuilder;
use baton::cloudevents::resource::{HandlerError, handler_fn};
use baton::cloudevents::transport::memory::MemoryBroker;
use baton::cloudevents::{
    Action, AgentClient, ClientError, Event, EventType, ResourceAction, SourceClient, SubResource,
    TransportError, TransportRole,
};
use chrono::Utc;
use cloudevents::{AttributesReader, AttributesWriter};

use crate::support::{eventually, vector_json};
use crate::widget::{Recorder, Widget, WidgetCodec, WidgetStore, bundles, hasher};

pub(crate) const WAIT: Duration = Duration::from_secs(5);

pub(crate) fn spec(action: Action) -> EventType {
    EventType::new(bundles(), SubResource::Spec, action)
}

pub(crate) fn status(action: Action) -> EventType {
    EventType::new(bundles(), SubResource::Status, action)
}

pub(crate) struct Pair {
    pub broker: MemoryBroker,
    pub source: SourceClient<Widget>,
    pub source_store: WidgetStore,
    pub statuses: Recorder,
    pub agent: AgentClient<Widget>,
    pub agent_store: WidgetStore,
    pub specs: Recorder,
}

/// A source "hub" and an agent for cluster1; the agent's handler stores what it is given, like
/// a real agent applying it.
pub(crate) async fn pair() -> Pair {
    let broker = MemoryBroker::new();
    let source_store = WidgetStore::default();
    let source = SourceClient::builder(
        "hub",
        Arc::new(broker.transport(TransportRole::source("hub"))),
        Arc::new(source_store.clone()),
        hasher,
    )
    .codec(WidgetCodec::new())
    .build();
    let statuses = Recorder::default();
    let recorder = statuses.clone();
    source
        .subscribe(handler_fn(move |action, w: Widget| {
            let recorder = recorder.clone();
            async move {
                recorder.seen.lock().unwrap().push((action, w));
                Ok(())
            }
        }))
        .await
        .unwrap();

    let agent_store = WidgetStore::default();
    let agent = AgentClient::builder(
        "cluster1",
        Arc::new(broker.transport(TransportRole::agent("cluster1"))),
        Arc::new(agent_store.clone()),
        hasher,
    )
    .codec(WidgetCodec::new())
    .build();
    let specs = Recorder::default();
    let (recorder, store) = (specs.clone(), agent_store.clone());
    agent
        .subscribe(handler_fn(move |action, w: Widget| {
            let (recorder, store) = (recorder.clone(), store.clone());
            async move {
                store.put(w.clone());
                recorder.seen.lock().unwrap().push((action, w));
                Ok(())
            }
        }))
        .await
        .unwrap();
    // Let the automatic resyncs of the first subscription settle (both stores are empty, so
    // they produce requests only), so that tests count just their own traffic.
    eventually("initial resyncs answered", WAIT, || async {
        source.stats().resyncs_answered == 1 && agent.stats().resyncs_answered == 1
    })
    .await;
    Pair {
        broker,
        source,
        source_store,
        statuses,
        agent,
        agent_store,
        specs,
    }
}

fn published(broker: &MemoryBroker, ty: &EventType) -> Vec<Event> {
    let ty = ty.to_string();
    broker
        .history()
        .into_iter()
        .filter(|e| e.ty() == ty)
        .collect()
}

#[tokio::test]
async fn specs_reach_the_agent_and_stale_or_equal_versions_are_ignored() {
    let p = pair().await;
    let mut w = Widget::new("w1", "cluster1", 1, "one");
    p.source
        .publish(&spec(Action::CreateRequest), &w)
        .await
        .unwrap();
    eventually("create delivered", WAIT, || async { p.specs.count() == 1 }).await;

    w.version = 2;
    w.spec = "two".into();
    p.source
        .publish(&spec(Action::UpdateRequest), &w)
        .await
        .unwrap();
    eventually("update delivered", WAIT, || async { p.specs.count() == 2 }).await;

    // Equal and older versions: ignored (counted), nothing reaches the handler.
    p.source
        .publish(&spec(Action::UpdateRequest), &w)
        .await
        .unwrap();
    w.version = 1;
    p.source
        .publish(&spec(Action::UpdateRequest), &w)
        .await
        .unwrap();
    eventually("stale specs ignored", WAIT, || async {
        p.agent.stats().ignored >= 2
    })
    .await;

    w.version = 2;
    w.deleting = Some(Utc::now());
    p.source
        .publish(&spec(Action::DeleteRequest), &w)
        .await
        .unwrap();
    eventually("delete delivered", WAIT, || async { p.specs.count() == 3 }).await;

    assert_eq!(
        p.specs.actions(),
        vec![
            (ResourceAction::Added, "w1".into(), 1),
            (ResourceAction::Modified, "w1".into(), 2),
            (ResourceAction::Deleted, "w1".into(), 2),
        ]
    );
    assert_eq!(
        p.agent_store.get("w1").unwrap().spec,
        "",
        "delete carries no data"
    );
}

#[tokio::test]
async fn status_reaches_the_source_and_publish_direction_is_enforced() {
    let p = pair().await;
    let mut w = Widget::new("w1", "cluster1", 1, "one");
    w.status = "Applied".into();
    p.agent
        .publish(&status(Action::UpdateRequest), &w)
        .await
        .unwrap();
    eventually("status delivered", WAIT, || async {
        p.statuses.count() == 1
    })
    .await;
    let (action, got) = p.statuses.seen.lock().unwrap()[0].clone();
    assert_eq!(action, ResourceAction::StatusModified);
    assert_eq!(got.status, "Applied");

    let wrong = p.agent.publish(&spec(Action::CreateRequest), &w).await;
    assert!(matches!(
        wrong,
        Err(ClientError::WrongDirection { role: "agent", .. })
    ));
    let wrong = p.source.publish(&status(Action::UpdateRequest), &w).await;
    assert!(matches!(
        wrong,
        Err(ClientError::WrongDirection { role: "source", .. })
    ));
}

#[tokio::test]
async fn subscribing_sends_a_resync_each_way_and_again_after_a_reconnect() {
    let p = pair().await;
    let spec_resync = spec(Action::ResyncRequest);
    let status_resync = status(Action::ResyncRequest);
    eventually("initial resyncs", WAIT, || async {
        published(&p.broker, &spec_resync).len() == 1
            && published(&p.broker, &status_resync).len() == 1
    })
    .await;
    // The status resync is a broadcast: clustername "" (§6.3).
    let broadcast = &published(&p.broker, &status_resync)[0];
    assert_eq!(broadcast.extension("clustername").unwrap().to_string(), "");

    p.broker.reconnect_all().await;
    eventually("resyncs after reconnect", WAIT, || async {
        published(&p.broker, &spec_resync).len() == 2
            && published(&p.broker, &status_resync).len() == 2
    })
    .await;
    assert_eq!(p.source.stats().subscriptions, 2);
    assert_eq!(p.agent.stats().subscriptions, 2);
}

#[tokio::test]
async fn source_answers_spec_resync_with_newer_deleting_and_unknown() {
    let p = pair().await;
    // Agent holds: w1@1 (source has @2), w2@1 (source deleting), w3@1 (source never had),
    // w4@5 (source has @5: up to date).
    for (id, v) in [("w1", 1), ("w2", 1), ("w3", 1), ("w4", 5)] {
        p.agent_store.put(Widget::new(id, "cluster1", v, "old"));
    }
    p.source_store.put(Widget::new("w1", "cluster1", 2, "new"));
    let mut deleting = Widget::new("w2", "cluster1", 1, "old");
    deleting.deleting = Some(Utc::now());
    p.source_store.put(deleting);
    p.source_store.put(Widget::new("w4", "cluster1", 5, "same"));
    p.source_store
        .put(Widget::new("x9", "cluster2", 1, "other cluster"));

    p.agent.resync(None).await.unwrap();
    let response = spec(Action::ResyncResponse);
    eventually("three answers", WAIT, || async {
        published(&p.broker, &response).len() == 3
    })
    .await;
    let answers = published(&p.broker, &response);
    let by_id = |id: &str| {
        answers
            .iter()
            .find(|e| e.extension("resourceid").unwrap().to_string() == id)
            .cloned()
    };
    assert!(
        by_id("w1").unwrap().data().is_some(),
        "newer spec re-sent in full"
    );
    assert!(
        by_id("w2")
            .unwrap()
            .extension("deletiontimestamp")
            .is_some(),
        "deleting resource re-sent as delete"
    );
    let unknown = by_id("w3").unwrap();
    assert!(unknown.extension("deletiontimestamp").is_some());
    assert_eq!(
        unknown.extension("resourceversion").unwrap().to_string(),
        "1",
        "agent's version kept"
    );
    assert!(unknown.data().is_none() && unknown.extension("metadata").is_none());
    assert!(by_id("w4").is_none() && by_id("x9").is_none());
}

#[tokio::test]
async fn empty_spec_resync_list_means_send_everything() {
    let p = pair().await;
    p.source_store.put(Widget::new("w1", "cluster1", 1, "a"));
    p.source_store.put(Widget::new("w2", "cluster1", 3, "b"));
    p.agent.resync(None).await.unwrap();
    eventually("both re-sent", WAIT, || async {
        published(&p.broker, &spec(Action::ResyncResponse)).len() >= 2
    })
    .await;
    eventually("agent holds both", WAIT, || async {
        p.agent_store.len() == 2
    })
    .await;
}

#[tokio::test]
async fn agent_answers_status_resync_by_hash_or_all_when_empty() {
    let p = pair().await;
    for (id, st) in [("w1", "Applied"), ("w2", "Available"), ("w3", "Applied")] {
        let mut w = Widget::new(id, "cluster1", 1, "s");
        w.status = st.into();
        p.agent_store.put(w.clone());
        p.source_store.put(Widget {
            status: if id == "w2" {
                "Progressing".into()
            } else {
                st.into()
            },
            ..w
        });
    }
    // Source: w1 and w3 match, w2 differs. Unknown-to-source ids are not in the list at all.
    p.agent_store
        .put(Widget::new("w9", "cluster1", 1, "orphan"));
    p.source.resync(Some("cluster1")).await.unwrap();
    let response = status(Action::ResyncResponse);
    eventually("one answer", WAIT, || async {
        published(&p.broker, &response).len() == 1
    })
    .await;
    assert_eq!(
        published(&p.broker, &response)[0]
            .extension("resourceid")
            .unwrap()
            .to_string(),
        "w2"
    );

    // The source holding nothing for the cluster sends an empty list: agent sends everything.
    let empty = WidgetStore::default();
    let lonely = SourceClient::builder(
        "hub",
        Arc::new(p.broker.transport(TransportRole::source("hub"))),
        Arc::new(empty),
        hasher,
    )
    .codec(WidgetCodec::new())
    .build();
    lonely.resync(Some("cluster1")).await.unwrap();
    eventually("all four answered", WAIT, || async {
        published(&p.broker, &response).len() == 1 + 4
    })
    .await;
}

#[tokio::test]
async fn a_failing_handler_or_a_malformed_event_does_not_stop_the_loop() {
    let broker = MemoryBroker::new();
    let agent_role = TransportRole::agent("cluster1");
    let agent = AgentClient::builder(
        "cluster1",
        Arc::new(broker.transport(agent_role.clone())),
        Arc::new(WidgetStore::default()),
        hasher,
    )
    .codec(WidgetCodec::new())
    .build();
    let calls = Recorder::default();
    let recorder = calls.clone();
    agent
        .subscribe(handler_fn(move |action, w: Widget| {
            let recorder = recorder.clone();
            async move {
                let fail = w.id == "bad";
                recorder.seen.lock().unwrap().push((action, w));
                if fail {
                    Err(HandlerError::msg("apply failed"))
                } else {
                    Ok(())
                }
            }
        }))
        .await
        .unwrap();
    let source = broker.transport(TransportRole::source("hub"));
    use baton::cloudevents::Transport as _;
    let codec = WidgetCodec::new();
    use baton::cloudevents::Codec as _;
    let create = |id: &str, spec_text: &str| {
        let w = Widget::new(id, "cluster1", 1, spec_text);
        codec
            .encode("hub", &spec(Action::CreateRequest), &w)
            .unwrap()
    };
    source.publish(&create("bad", "x")).await.unwrap();
    // Not decodable: no resourceid.
    let garbage = EventBuilder::new("hub", &spec(Action::CreateRequest))
        .cluster_name("cluster1")
        .build()
        .unwrap();
    source.publish(&garbage).await.unwrap();
    // Not even an OCM type string.
    let mut nonsense = garbage.clone();
    nonsense.set_type("not-a-type");
    assert!(broker.deliver(&agent_role, nonsense).await);
    source.publish(&create("good", "y")).await.unwrap();

    eventually("the good one after the bad ones", WAIT, || async {
        calls.count() == 2
    })
    .await;
    let stats = agent.stats();
    assert_eq!(stats.handler_failures, 1);
    assert_eq!(stats.malformed, 2);
    agent.shutdown().await;
}

#[tokio::test]
async fn publishing_while_the_broker_is_down_fails_fast_with_a_typed_error() {
    let p = pair().await;
    p.broker.set_down(true);
    let err = p
        .source
        .publish(
            &spec(Action::CreateRequest),
            &Widget::new("w1", "cluster1", 1, "x"),
        )
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        ClientError::Transport(TransportError::NotConnected)
    ));
    assert_eq!(p.source.stats().publish_failures, 1);
    p.broker.set_down(false);
    p.source
        .publish(
            &spec(Action::CreateRequest),
            &Widget::new("w1", "cluster1", 1, "x"),
        )
        .await
        .unwrap();
    eventually("delivered once back", WAIT, || async {
        p.specs.count() == 1
    })
    .await;
}

/// sdk-go v1.0.0's generic agent client fed 11 spec events (`agent-spec-handling.json`). baton
/// follows the v1.2+ table of §5.1 where the two differ: an unversioned (0) spec re-applies
/// over a versioned one.
#[tokio::test]
async fn agent_spec_decisions_replay_the_sdk_go_table() {
    let table = vector_json("v1.0.0/manifestbundles/agent-spec-handling.json");
    let template: serde_json::Value = vector_json("v1.0.0/manifestbundles/01-spec-create.json");
    for case in table["cases"].as_array().unwrap() {
        let name = case["case"].as_str().unwrap();
        let p = pair().await;
        if let Some(stored) = case["agentStoredResourceVersion"]
            .as_str()
            .filter(|s| !s.is_empty())
        {
            let mut held = Widget::new(
                "03f36550-d4de-565a-b59e-268477dbea7f",
                "cluster1",
                stored.parse().unwrap(),
                "held",
            );
            held.source = "maestro".into();
            p.agent_store.put(held);
        }
        let mut event_json = template.clone();
        event_json["type"] = case["eventType"].clone();
        event_json["resourceversion"] = case["eventResourceVersion"].clone();
        event_json["clustername"] = case["eventClusterName"].clone();
        if case["eventHasDeletionTimestamp"].as_bool().unwrap() {
            event_json["deletiontimestamp"] = "2025-06-01T13:30:00.987654321Z".into();
        }
        let event: Event = serde_json::from_value(event_json).unwrap();
        let before = p.agent.stats();
        assert!(
            p.broker
                .deliver(&TransportRole::agent("cluster1"), event)
                .await
        );
        eventually(name, WAIT, || async {
            let now = p.agent.stats();
            now.received > before.received && (now.ignored > before.ignored || p.specs.count() > 0)
        })
        .await;
        let got: Vec<String> = p
            .specs
            .actions()
            .iter()
            .map(|(a, _, _)| format!("{a:?}").to_uppercase())
            .collect();
        let mut want: Vec<String> = case["handlerActions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_owned())
            .collect();
        if name == "incoming 0, stored 1" {
            want = vec!["MODIFIED".into()]; // v1.2+: generation 0 always re-applies
        }
        assert_eq!(got, want, "case {name:?}");
    }
}

/// Hands the resync `request` to the party playing `to`, waits until it has answered, and
/// counts the `reply` events published so far.
async fn count_replies(p: &Pair, to: &TransportRole, request: Event, reply: &EventType) -> u64 {
    let answered = || match to {
        TransportRole::Agent { .. } => p.agent.stats().resyncs_answered,
        TransportRole::Source { .. } => p.source.stats().resyncs_answered,
    };
    let before = answered();
    assert!(p.broker.deliver(to, request).await);
    eventually("resync answered", WAIT, || async { answered() > before }).await;
    published(&p.broker, reply).len() as u64
}

/// Reply counts sdk-go's clients produce for resync requests (`resync-behaviour.json`).
#[tokio::test]
async fn resync_reply_counts_match_sdk_go() {
    for version in ["v1.0.0", "v1.3.0"] {
        let expected = vector_json(&format!("{version}/manifestbundles/resync-behaviour.json"));
        let agent = &expected["agent_status_resync"];
        let source = &expected["source_spec_resync"];

        let count_status_replies = |hashes: Vec<(&'static str, &'static str)>| async move {
            let p = pair().await;
            let mut w = Widget::new("w1", "cluster1", 1, "s");
            w.status = "Applied".into();
            p.agent_store.put(w);
            let body = baton::cloudevents::payload::StatusHashList {
                status_hashes: hashes
                    .into_iter()
                    .map(|(id, h)| baton::cloudevents::payload::ResourceStatusHash {
                        resource_id: id.into(),
                        status_hash: h.into(),
                    })
                    .collect(),
            };
            let request = EventBuilder::new("hub", &status(Action::ResyncRequest))
                .cluster_name("cluster1")
                .json_data(serde_json::to_vec(&body).unwrap())
                .build()
                .unwrap();
            let to = TransportRole::agent("cluster1");
            count_replies(&p, &to, request, &status(Action::ResyncResponse)).await
        };
        assert_eq!(
            count_status_replies(vec![]).await,
            agent["empty_list_replies_all"].as_u64().unwrap()
        );
        assert_eq!(
            count_status_replies(vec![("w1", "stale")]).await,
            agent["hash_differs_replies"].as_u64().unwrap()
        );
        assert_eq!(
            count_status_replies(vec![("w1", "hash-of-Applied")]).await,
            agent["hash_matches_replies"].as_u64().unwrap()
        );
        assert_eq!(
            count_status_replies(vec![("nope", "x")]).await,
            agent["only_unknown_ids_replies"].as_u64().unwrap()
        );

        let count_spec_replies =
            |source_has: Vec<(&'static str, i64)>, agent_has: Vec<(&'static str, i64)>| async move {
                let p = pair().await;
                for (id, v) in source_has {
                    p.source_store.put(Widget::new(id, "cluster1", v, "s"));
                }
                // The agent holds what its request lists: a status resync naming a work it
                // lacks would make it ask for specs again (and add replies to the count).
                for (id, v) in &agent_has {
                    p.agent_store.put(Widget::new(id, "cluster1", *v, "s"));
                }
                let body = baton::cloudevents::payload::ResourceVersionList {
                    resource_versions: agent_has
                        .into_iter()
                        .map(|(id, v)| baton::cloudevents::payload::ResourceVersion {
                            resource_id: id.into(),
                            resource_version: v,
                        })
                        .collect(),
                };
                let request =
                    EventBuilder::new("cluster1-work-agent", &spec(Action::ResyncRequest))
                        .cluster_name("cluster1")
                        .json_data(serde_json::to_vec(&body).unwrap())
                        .build()
                        .unwrap();
                let to = TransportRole::source("hub");
                count_replies(&p, &to, request, &spec(Action::ResyncResponse)).await
            };
        assert_eq!(
            count_spec_replies(vec![("w1", 2)], vec![("w1", 1), ("gone", 1)]).await,
            source["agent_older_version_and_unknown_id_replies"]
                .as_u64()
                .unwrap()
        );
        assert_eq!(
            count_spec_replies(vec![("w1", 2)], vec![]).await,
            source["empty_list_replies_all"].as_u64().unwrap()
        );
        assert_eq!(
            count_spec_replies(vec![("w1", 2)], vec![("w1", 2)]).await,
            source["same_version_replies"].as_u64().unwrap()
        );
        // A source with nothing for the cluster answers nothing, even for ids the agent lists:
        // they may belong to another source on the same broker (§6.5 step 1).
        assert_eq!(
            count_spec_replies(vec![], vec![("w1", 1)]).await,
            source["source_lists_nothing_replies"].as_u64().unwrap()
        );
    }
}

#[tokio::test]
async fn an_agent_ignores_specs_about_its_work_from_a_source_that_does_not_own_it() {
    let p = pair().await;
    p.source
        .publish(
            &spec(Action::CreateRequest),
            &Widget::new("w1", "cluster1", 1, "mine"),
        )
        .await
        .unwrap();
    eventually("created", WAIT, || async { p.specs.count() == 1 }).await;
    // Another source on the same broker resyncs and thinks w1 is stale: it sends a delete.
    let intruder = EventBuilder::new("intruder", &spec(Action::ResyncResponse))
        .cluster_name("cluster1")
        .resource_id("w1")
        .resource_version(1)
        .deletion_timestamp(Utc::now())
        .build()
        .unwrap();
    let ignored_before = p.agent.stats().ignored;
    assert!(
        p.broker
            .deliver(&TransportRole::agent("cluster1"), intruder)
            .await
    );
    eventually("intruder ignored", WAIT, || async {
        p.agent.stats().ignored > ignored_before
    })
    .await;
    assert_eq!(p.specs.count(), 1, "no Deleted reached the handler");
    assert!(p.agent_store.get("w1").unwrap().deleting.is_none());
}

#[tokio::test]
async fn a_long_status_resync_goes_in_chunks_and_every_listed_status_is_answered() {
    let p = pair().await;
    let n = baton::cloudevents::source::STATUS_RESYNC_CHUNK + 1;
    for i in 0..n {
        let id = format!("w{i}");
        p.source_store.put(Widget::new(&id, "cluster1", 1, "s"));
        let mut held = Widget::new(&id, "cluster1", 1, "s");
        held.status = "Applied".into(); // differs from the source's (empty) status
        p.agent_store.put(held);
    }
    let before = published(&p.broker, &status(Action::ResyncRequest)).len();
    p.source.resync(Some("cluster1")).await.unwrap();
    assert_eq!(
        published(&p.broker, &status(Action::ResyncRequest)).len() - before,
        2,
        "two chunks"
    );
    eventually("every status answered", WAIT, || async {
        p.statuses.count() == n
    })
    .await;
}

#[tokio::test]
async fn a_resync_of_every_cluster_asks_each_cluster_about_its_own_resources() {
    let p = pair().await;
    p.source_store.put(Widget::new("a1", "cluster1", 1, "s"));
    p.source_store.put(Widget::new("a2", "cluster1", 1, "s"));
    p.source_store.put(Widget::new("b1", "cluster2", 1, "s"));
    let before = published(&p.broker, &status(Action::ResyncRequest)).len();
    p.source.resync(None).await.unwrap();
    let requests = published(&p.broker, &status(Action::ResyncRequest));
    let clusters: Vec<String> = requests[before..]
        .iter()
        .map(|e| e.extension("clustername").unwrap().to_string())
        .collect();
    assert_eq!(
        clusters,
        ["cluster1", "cluster2"],
        "addressed, no fleet-wide broadcast"
    );
}

/// A lister that names its clusters and records which cluster each list was for.
struct NamingLister {
    store: WidgetStore,
    clusters: Vec<String>,
    listed: std::sync::Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl baton::cloudevents::Lister<Widget> for NamingLister {
    async fn list(
        &self,
        options: &baton::cloudevents::ListOptions,
    ) -> Result<Vec<Widget>, baton::cloudevents::ListError> {
        self.listed
            .lock()
            .unwrap()
            .push(options.cluster_name.clone());
        self.store.list(options).await
    }

    async fn clusters(&self) -> Result<Option<Vec<String>>, baton::cloudevents::ListError> {
        Ok(Some(self.clusters.clone()))
    }
}

/// Status resync requests published so far, as (clustername, number of hashes).
fn status_resync_requests(broker: &MemoryBroker) -> Vec<(String, usize)> {
    published(broker, &status(Action::ResyncRequest))
        .iter()
        .map(|e| {
            let hashes = crate::resync_restart::listed(e).len();
            (e.extension("clustername").unwrap().to_string(), hashes)
        })
        .collect()
}

#[tokio::test]
async fn a_lister_that_names_its_clusters_is_listed_one_cluster_at_a_time() {
    let broker = MemoryBroker::new();
    let store = WidgetStore::default();
    store.put(Widget::new("a1", "cluster1", 1, "s"));
    store.put(Widget::new("a2", "cluster1", 1, "s"));
    store.put(Widget::new("b1", "cluster2", 1, "s"));
    let lister = Arc::new(NamingLister {
        store,
        clusters: vec!["cluster1".into(), "idle".into(), "cluster2".into()],
        listed: Default::default(),
    });
    let source = SourceClient::builder(
        "hub",
        Arc::new(broker.transport(TransportRole::source("hub"))),
        lister.clone(),
        hasher,
    )
    .codec(WidgetCodec::new())
    .build();
    source.resync(None).await.unwrap();
    assert_eq!(
        *lister.listed.lock().unwrap(),
        ["cluster1", "idle", "cluster2"],
        "never one list of the whole fleet"
    );
    assert_eq!(
        status_resync_requests(&broker),
        [("cluster1".to_string(), 2), ("cluster2".to_string(), 1)],
        "each cluster asked about its own; a cluster without resources not at all"
    );

    // Nothing anywhere: one broadcast asking for everything, as without names.
    let broker = MemoryBroker::new();
    let empty = Arc::new(NamingLister {
        store: WidgetStore::default(),
        clusters: vec!["idle".into()],
        listed: Default::default(),
    });
    let source = SourceClient::builder(
        "hub",
        Arc::new(broker.transport(TransportRole::source("hub"))),
        empty,
        hasher,
    )
    .codec(WidgetCodec::new())
    .build();
    source.resync(None).await.unwrap();
    assert_eq!(status_resync_requests(&broker), [(String::new(), 0)]);
}

/// A lister that holds every list for cluster "slow" until the test lets it go.
struct GatedLister {
    store: WidgetStore,
    gate: Arc<tokio::sync::Semaphore>,
}

#[async_trait::async_trait]
impl baton::cloudevents::Lister<Widget> for GatedLister {
    async fn list(
        &self,
        options: &baton::cloudevents::ListOptions,
    ) -> Result<Vec<Widget>, baton::cloudevents::ListError> {
        if options.cluster_name == "slow" {
            let _pass = self.gate.acquire().await;
        }
        self.store.list(options).await
    }
}

#[tokio::test]
async fn a_slow_spec_resync_answer_does_not_hold_up_status_events() {
    let broker = MemoryBroker::new();
    let store = WidgetStore::default();
    store.put(Widget::new("s1", "slow", 1, "spec"));
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let lister = GatedLister {
        store: store.clone(),
        gate: gate.clone(),
    };
    let source = SourceClient::builder(
        "hub",
        Arc::new(broker.transport(TransportRole::source("hub"))),
        Arc::new(lister),
        hasher,
    )
    .codec(WidgetCodec::new())
    .build();
    let statuses = Recorder::default();
    let recorder = statuses.clone();
    source
        .subscribe(handler_fn(move |action, w: Widget| {
            let recorder = recorder.clone();
            async move {
                recorder.seen.lock().unwrap().push((action, w));
                Ok(())
            }
        }))
        .await
        .unwrap();
    let agent = |cluster: &str| {
        AgentClient::builder(
            cluster,
            Arc::new(broker.transport(TransportRole::agent(cluster))),
            Arc::new(WidgetStore::default()),
            hasher,
        )
        .codec(WidgetCodec::new())
        .build()
    };
    let nothing = || handler_fn(|_, _: Widget| async { Ok(()) });
    // Subscribing sends the slow cluster's spec resync; its answer is stuck in the lister.
    let slow = agent("slow");
    slow.subscribe(nothing()).await.unwrap();
    eventually(
        "the slow resync request reached the source",
        WAIT,
        || async { source.stats().received >= 1 },
    )
    .await;
    let fast = agent("fast");
    fast.subscribe(nothing()).await.unwrap();
    let mut w = Widget::new("f1", "fast", 1, "spec");
    w.status = "Applied".into();
    fast.publish(&status(Action::UpdateRequest), &w)
        .await
        .unwrap();
    eventually("the status passes the stuck resync", WAIT, || async {
        statuses.count() == 1
    })
    .await;
    assert!(
        published(&broker, &spec(Action::ResyncResponse)).is_empty(),
        "the slow answer is still held"
    );
    gate.add_permits(100);
    // At least once: this agent's handler stores nothing, so the status resync after the
    // answer names a work it lacks and it asks again (once per 10 s).
    eventually("the slow resync answered", WAIT, || async {
        !published(&broker, &spec(Action::ResyncResponse)).is_empty()
    })
    .await;
}
