//! A fleet restarting without state (issue 11, `bench resync`): a source's answer to a spec
//! resync asks for the status of what the agent already held, not of the specs it is sending
//! (the agent would answer with the status it holds before applying them).

use baton::cloudevents::payload::StatusHashList;
use baton::cloudevents::{Action, Event};
use cloudevents::{AttributesReader, Data};

use crate::clients::{WAIT, pair, spec, status};
use crate::support::eventually;
use crate::widget::Widget;

/// The status resync requests the broker has seen, as the ids each one lists.
fn status_resync_requests(p: &crate::clients::Pair) -> Vec<Vec<String>> {
    let ty = status(Action::ResyncRequest).to_string();
    p.broker
        .history()
        .into_iter()
        .filter(|e| e.ty() == ty)
        .map(|e| listed(&e))
        .collect()
}

/// The resource ids a status resync request lists, sorted.
pub(crate) fn listed(event: &Event) -> Vec<String> {
    let body: StatusHashList = match event.data() {
        Some(Data::Binary(bytes)) => serde_json::from_slice(bytes).unwrap(),
        Some(Data::Json(value)) => serde_json::from_value(value.clone()).unwrap(),
        Some(Data::String(text)) => serde_json::from_str(text).unwrap(),
        None => StatusHashList::default(),
    };
    let mut ids: Vec<String> = body
        .status_hashes
        .into_iter()
        .map(|h| h.resource_id)
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn a_spec_resync_answer_asks_only_for_the_status_of_specs_the_agent_held() {
    let p = pair().await;
    // The agent holds w1 at version 1 (the source has 2: re-sent) and w2 at the source's
    // version (not re-sent); w2's status differs from the source's, so it is answered.
    p.source_store.put(Widget::new("w1", "cluster1", 2, "new"));
    p.source_store.put(Widget::new("w2", "cluster1", 1, "same"));
    p.agent_store.put(Widget::new("w1", "cluster1", 1, "old"));
    let mut w2 = Widget::new("w2", "cluster1", 1, "same");
    w2.status = "Applied".into();
    p.agent_store.put(w2);
    let before = status_resync_requests(&p).len();
    p.agent.resync(None).await.unwrap();
    eventually("w2's status answered", WAIT, || async {
        p.statuses.count() == 1
    })
    .await;
    let requests = status_resync_requests(&p);
    assert_eq!(
        requests[before..],
        [vec!["w2".to_owned()]],
        "w1 was being re-sent"
    );
    assert_eq!(p.specs.count(), 1, "w1's newer spec reached the agent");
}

#[tokio::test]
async fn a_spec_resync_answer_that_sends_every_spec_asks_for_no_status() {
    let p = pair().await;
    // An agent back without state: every spec is sent again.
    p.source_store.put(Widget::new("w1", "cluster1", 1, "a"));
    p.source_store.put(Widget::new("w2", "cluster1", 3, "b"));
    let (before, answered) = (
        status_resync_requests(&p).len(),
        p.source.stats().resyncs_answered,
    );
    p.agent.resync(None).await.unwrap();
    eventually("both specs applied", WAIT, || async {
        p.agent_store.len() == 2 && p.source.stats().resyncs_answered > answered
    })
    .await;
    let sent = p
        .broker
        .history()
        .iter()
        .filter(|e| e.ty() == spec(Action::ResyncResponse).to_string())
        .count();
    assert_eq!(sent, 2);
    assert_eq!(
        status_resync_requests(&p).len(),
        before,
        "the agent has applied nothing yet: no status to ask for (an empty list asks for all)"
    );
    assert_eq!(p.statuses.count(), 0);
}
