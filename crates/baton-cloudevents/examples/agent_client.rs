//! A generic agent client for the greeting type of `source_client` (sdk-go's
//! `NewCloudEventAgentClient`): holds the greetings of its cluster, answers each with a reply
//! (its status), and forgets one when the source deletes it.
//!
//! Exits 0 once the source deleted a greeting it had answered.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use baton_cloudevents::resource::handler_fn;
use baton_cloudevents::{
    Action, AgentClient, EventType, ListError, ListOptions, Lister, ResourceAction, SubResource,
    TransportRole,
};
use tokio::sync::mpsc;

use common::greeting::{self, Greeting, GreetingCodec};

/// The agent's applied state: the client classifies incoming specs against it (§5.1), sends
/// its versions in a spec resync (§6.2) and its status hashes answer a status resync (§6.6).
#[derive(Clone, Default)]
struct Applied(Arc<Mutex<BTreeMap<String, Greeting>>>);

impl Applied {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Greeting>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl Lister<Greeting> for Applied {
    async fn list(&self, _options: &ListOptions) -> Result<Vec<Greeting>, ListError> {
        Ok(self.lock().values().cloned().collect())
    }
}

#[tokio::main]
async fn main() -> common::Result<()> {
    let cluster = common::cluster_name();
    let transport = common::transport(TransportRole::agent(&cluster))?;
    let applied = Applied::default();
    let client = AgentClient::builder(
        &cluster,
        transport,
        Arc::new(applied.clone()),
        greeting::status_hash,
    )
    .codec(GreetingCodec::new())
    .build();

    // The handler only records; the reply is published below, outside the receive loop.
    let (changes, mut changed) = mpsc::channel(16);
    let store = applied.clone();
    client
        .subscribe(handler_fn(move |action, greeting: Greeting| {
            let (store, changes) = (store.clone(), changes.clone());
            async move {
                match action {
                    ResourceAction::Deleted => store.lock().remove(&greeting.id),
                    _ => store.lock().insert(greeting.id.clone(), greeting.clone()),
                };
                let _ = changes.send((action, greeting)).await;
                Ok(())
            }
        }))
        .await?;

    let status = EventType::new(
        greeting::data_type(),
        SubResource::Status,
        Action::UpdateRequest,
    );
    let mut answered = Vec::new();
    loop {
        let (action, mut greeting) = common::next(&mut changed, "greeting").await?;
        println!("{action:?} {} ({:?})", greeting.id, greeting.message);
        if action == ResourceAction::Deleted {
            if answered.contains(&greeting.id) {
                break;
            }
            continue;
        }
        greeting.reply = greeting::reply_to(&greeting.message, &cluster);
        applied.lock().insert(greeting.id.clone(), greeting.clone());
        // A reply that cannot be sent now goes with the answer to the source's next status
        // resync, from the lister.
        if let Err(err) = client.publish(&status, &greeting).await {
            eprintln!("reply not sent now: {err}");
        }
        answered.push(greeting.id);
    }
    client.shutdown().await;
    Ok(())
}
