//! [`Wakeup`]: how the publisher learns that a change was queued for publication, announced
//! where the change commits, so no caller has to remember it. SQLite wakes it after its own
//! commits (one process per database). PostgreSQL announces every write of `publish_outbox` with
//! a `NOTIFY` that the database sends when that transaction commits (a statement trigger,
//! migration 0004), from whichever process made it; `relay_notifications` `LISTEN`s and wakes
//! this process's publisher.
//!
//! Owns the wake-up signal and the listening connection. Must not read or publish anything:
//! a wake-up only starts a publisher round early (it polls as well), so a lost one costs a poll
//! interval, never a change.

use std::time::Duration;

use sqlx::postgres::{PgListener, PgPool};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::warn;

/// The channel migration 0004's trigger notifies on.
pub const PUBLISH_CHANNEL: &str = "baton_publish";

/// The channel migration 0007's trigger notifies on: the change feed's inbox grew.
pub const CHANGES_CHANNEL: &str = "baton_changes";

/// How long to wait before listening again after the listening connection failed.
const RELISTEN_AFTER: Duration = Duration::from_secs(1);

/// A wake-up for the publisher; wakes given while nobody waits are kept (one), so a commit
/// made during a round starts the next one.
#[derive(Debug, Default)]
pub struct Wakeup(Notify);

impl Wakeup {
    pub fn wake(&self) {
        self.0.notify_one();
    }

    pub async fn woken(&self) {
        self.0.notified().await;
    }
}

/// Until `stop`: wakes `wakeup` on every notification of [`PUBLISH_CHANNEL`] and `changes` on
/// every one of [`CHANGES_CHANNEL`], listening on a connection of `pool` (reconnected when lost;
/// both are woken then too, since notifications sent meanwhile are gone).
pub(crate) async fn relay_notifications(
    pool: PgPool,
    wakeup: &Wakeup,
    changes: &Wakeup,
    stop: CancellationToken,
) {
    loop {
        let listening = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener
                .listen_all([PUBLISH_CHANNEL, CHANGES_CHANNEL])
                .await?;
            wakeup.wake();
            changes.wake();
            loop {
                // `None`: the connection was lost and made again (listening again): what was
                // notified in between is gone, so wake all the same.
                match listener.try_recv().await? {
                    Some(note) if note.channel() == CHANGES_CHANNEL => changes.wake(),
                    Some(_) => wakeup.wake(),
                    None => {
                        wakeup.wake();
                        changes.wake();
                    }
                }
            }
        };
        let result: Result<(), sqlx::Error> = tokio::select! {
            () = stop.cancelled() => return,
            result = listening => result,
        };
        if let Err(err) = result {
            warn!(%err, "listening for committed changes failed; the publisher polls meanwhile");
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(RELISTEN_AFTER) => {}
        }
    }
}
