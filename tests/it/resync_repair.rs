//! No lost changes when resyncs meet failures (issue 11, a fleet restarting under load): an
//! agent's answer to a status resync that cannot be sent is retried until it is, and a status
//! resync naming works the agent never received makes it ask for their specs again; a source's
//! answer to a spec resync that cannot be sent is retried too. So are the resyncs each side
//! sends after (re)subscribing, for as long as it takes (they used to give up after 4 tries).

use baton::cloudevents::builder::EventBuilder;
use baton::cloudevents::{Action, Codec, TransportRole};
use cloudevents::AttributesReader;

use std::time::Duration;

use crate::clients::{WAIT, pair, spec, status};
use crate::support::eventually;
use crate::widget::{Widget, WidgetCodec};

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

/// Publish failures long enough that the old 4 tries (0.5 + 1 + 2 s apart) had given up.
const FAILURES_PAST_GIVING_UP: u64 = 6;

/// Spec and status resync requests the broker has carried.
fn resync_requests(p: &crate::clients::Pair) -> (usize, usize) {
    let (spec_ty, status_ty) = (
        spec(Action::ResyncRequest).to_string(),
        status(Action::ResyncRequest).to_string(),
    );
    let history = p.broker.history();
    let count = |ty: &str| history.iter().filter(|e| e.ty() == ty).count();
    (count(&spec_ty), count(&status_ty))
}

#[tokio::test(start_paused = true)]
async fn the_resyncs_after_subscribing_are_retried_until_they_are_sent() {
    let p = pair().await;
    let (specs_before, statuses_before) = resync_requests(&p);
    // Both sides resubscribe while every publish fails, for longer than 4 tries take.
    p.broker.set_down(true);
    p.broker.reconnect_all().await;
    eventually(
        "both resyncs failed past 4 tries",
        Duration::from_secs(120),
        || async {
            p.agent.stats().publish_failures >= FAILURES_PAST_GIVING_UP
                && p.source.stats().publish_failures >= FAILURES_PAST_GIVING_UP
        },
    )
    .await;
    assert_eq!(resync_requests(&p), (specs_before, statuses_before));
    p.broker.set_down(false);
    eventually(
        "both resyncs sent once the broker is back",
        Duration::from_secs(120),
        || async {
            let (specs, statuses) = resync_requests(&p);
            specs == specs_before + 1 && statuses == statuses_before + 1
        },
    )
    .await;
    p.agent.shutdown().await;
    p.source.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn events_are_handled_while_the_resync_after_subscribing_is_retried() {
    let p = pair().await;
    let (specs_before, _) = resync_requests(&p);
    p.broker.set_down(true);
    p.broker.reconnect_all().await;
    eventually("the agent's spec resync is failing", WAIT, || async {
        p.agent.stats().publish_failures >= 1
    })
    .await;
    // A spec delivered meanwhile is applied at once, not after the resync gives up.
    let event = WidgetCodec::new()
        .encode(
            "hub",
            &spec(Action::CreateRequest),
            &Widget::new("w1", "cluster1", 1, "spec"),
        )
        .unwrap();
    assert!(
        p.broker
            .deliver(&TransportRole::agent("cluster1"), event)
            .await
    );
    // The old loop sent its resync inline: w1 waited behind 4 tries (3.5 s of backoff).
    let soon = Duration::from_millis(300);
    eventually("w1 applied while the resync still fails", soon, || async {
        p.agent_store.get("w1").is_some()
    })
    .await;
    assert_eq!(
        resync_requests(&p).0,
        specs_before,
        "the resync is still failing"
    );
    p.agent.shutdown().await;
}
