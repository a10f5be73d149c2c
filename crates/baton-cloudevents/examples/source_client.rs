//! A generic source client for a resource type of our own (sdk-go's
//! `NewCloudEventSourceClient`): a greeting goes to a cluster, the cluster's reply comes back
//! as its status, then the greeting is deleted.
//!
//! Run beside `agent_client` (same broker, source and cluster; see `common`):
//!
//! ```text
//! cargo run --example agent_client -- grpc://127.0.0.1:8090 &
//! cargo run --example source_client -- grpc://127.0.0.1:8090
//! ```
//!
//! Exits 0 once the agent's reply arrived and the delete was sent.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use baton_cloudevents::resource::handler_fn;
use baton_cloudevents::{
    Action, EventType, ListError, ListOptions, Lister, ResourceAction, SourceClient, SubResource,
    TransportRole,
};
use chrono::Utc;
use tokio::sync::mpsc;

use common::greeting::{self, Greeting, GreetingCodec};

/// The source's desired state: what it answers an agent's spec resync with (§6.5) and asks
/// status about (§6.3). A real source lists its database here.
#[derive(Clone, Default)]
struct Greetings(Arc<Mutex<BTreeMap<String, Greeting>>>);

impl Greetings {
    fn put(&self, greeting: Greeting) {
        let mut held = self.0.lock().unwrap_or_else(|e| e.into_inner());
        held.insert(greeting.id.clone(), greeting);
    }
}

#[async_trait]
impl Lister<Greeting> for Greetings {
    async fn list(&self, options: &ListOptions) -> Result<Vec<Greeting>, ListError> {
        let held = self.0.lock().unwrap_or_else(|e| e.into_inner());
        Ok(held
            .values()
            .filter(|g| options.cluster_name.is_empty() || g.cluster == options.cluster_name)
            .cloned()
            .collect())
    }
}

#[tokio::main]
async fn main() -> common::Result<()> {
    let (source_id, cluster) = (common::source_id(), common::cluster_name());
    let transport = common::transport(TransportRole::source(&source_id))?;
    let greetings = Greetings::default();
    let client = SourceClient::builder(
        &source_id,
        transport,
        Arc::new(greetings.clone()),
        greeting::status_hash,
    )
    .codec(GreetingCodec::new())
    .build();

    let mut hello = Greeting {
        id: format!("{source_id}-hello"),
        cluster: cluster.clone(),
        source: source_id.clone(),
        version: 1,
        deleting: None,
        message: "hello".to_owned(),
        reply: String::new(),
    };
    // In the lister before subscribing: the status resync sent on subscribing names it, so an
    // agent that missed the create asks for it again.
    greetings.put(hello.clone());

    // The status handler: every reply an agent sends (§5.2 is ours to apply; here: keep it).
    let (replies, mut replied) = mpsc::channel(16);
    client
        .subscribe(handler_fn(move |action, greeting: Greeting| {
            let replies = replies.clone();
            async move {
                if action == ResourceAction::StatusModified && !greeting.reply.is_empty() {
                    let _ = replies.send(greeting).await;
                }
                Ok(())
            }
        }))
        .await?;

    let spec = |action| EventType::new(greeting::data_type(), SubResource::Spec, action);
    // Not connected yet is fine: the resyncs of both sides deliver it from the lister.
    if let Err(err) = client.publish(&spec(Action::CreateRequest), &hello).await {
        eprintln!("create not sent now ({err}); the agent's resync will fetch it");
    }

    let expected = greeting::reply_to(&hello.message, &cluster);
    loop {
        let answer = common::next(&mut replied, "reply from the agent").await?;
        println!("status of {}: {:?}", answer.id, answer.reply);
        if answer.id == hello.id && answer.reply == expected {
            break;
        }
    }

    hello.version += 1;
    hello.deleting = Some(Utc::now());
    greetings.put(hello.clone());
    client.publish(&spec(Action::DeleteRequest), &hello).await?;
    println!("deleted {}", hello.id);
    client.shutdown().await;
    Ok(())
}
