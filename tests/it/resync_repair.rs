//! No lost changes when resyncs meet failures (issue 11, a fleet restarting under load): an
//! agent's answer to a status resync that cannot be sent is retried until it is, and a status
//! resync naming works the agent never received makes it ask for their specs again; a source's
//! answer to a spec resync that cannot be sent is retried too.

use baton::cloudevents::builder::EventBuilder;
use baton::cloudevents::{Action, TransportRole};

use crate::clients::{WAIT, pair, spec, status};
use crate::support::eventually;
use crate::widget::Widget;

#[tokio::test]
async fn a_status_resync_answer_that_cannot_be_sent_is_retried_until_it_is() {
    let p = pair().await;
    let mut held = Widget::new("w1", "cluster1", 1, "spec");
    held.status = "Applied".into();
    p.agent_store.put(held);
    // The request reaches the agent, but its answer finds the broker down.
    p.broker.set_down(true);
    let request = EventBuilder::new("hub", &status(Action::ResyncRequest))
        .cluster_name("cluster1")
        .build()
        .unwrap();
    assert!(
        p.broker
            .deliver(&TransportRole::agent("cluster1"), request)
            .await
    );
    eventually("the answer failed to send", WAIT, || async {
        p.agent.stats().publish_failures >= 1
    })
    .await;
    assert_eq!(p.statuses.count(), 0);
    p.broker.set_down(false);
    eventually("the status reaches the source on a retry", WAIT, || async {
        p.statuses.count() == 1
    })
    .await;
    p.agent.shutdown().await;
}

#[tokio::test]
async fn a_status_resync_naming_works_the_agent_lacks_brings_their_specs_back() {
    let p = pair().await;
    // The source holds w1 for cluster1; its spec never reached the agent (a lost spec resync
    // request or answer). The next status resync lists w1 by id.
    p.source_store.put(Widget::new("w1", "cluster1", 1, "spec"));
    p.source.resync(Some("cluster1")).await.unwrap();
    eventually(
        "the agent asked for the spec and holds w1",
        WAIT,
        || async { p.agent_store.get("w1").is_some() },
    )
    .await;
    assert_eq!(p.specs.count(), 1);
}

#[tokio::test]
async fn a_spec_resync_answer_that_cannot_be_sent_is_retried_until_it_is() {
    let p = pair().await;
    p.source_store.put(Widget::new("w1", "cluster1", 1, "spec"));
    p.broker.set_down(true);
    let request = EventBuilder::new("cluster1-work-agent", &spec(Action::ResyncRequest))
        .cluster_name("cluster1")
        .build()
        .unwrap();
    assert!(
        p.broker
            .deliver(&TransportRole::source("hub"), request)
            .await
    );
    eventually("the answer failed to send", WAIT, || async {
        p.source.stats().publish_failures >= 1
    })
    .await;
    p.broker.set_down(false);
    eventually("the spec reaches the agent on a retry", WAIT, || async {
        p.agent_store.get("w1").is_some()
    })
    .await;
    p.source.shutdown().await;
}
