//! [`Wakeup`]: how the publisher and the change feed learn that a change committed, announced
//! where the change commits, so no caller has to remember it. SQLite wakes them after its own
//! commits (one process per database). PostgreSQL: after a write commits, the store wakes this
//! process's publisher and feed at once and asks the [`Announcer`] to tell the other replicas;
//! `announce_commits` sends `pg_notify` on its own connection, outside every write
//! transaction (a `NOTIFY` inside one takes a global lock held through its commit, which
//! serialises every notifying commit and loses group commit). `relay_notifications` `LISTEN`s
//! and wakes this process for what any replica announced.
//!
//! Owns the wake-up signals, the announcing and the listening connections. Must not read or
//! publish anything. A wake-up is a hint: the publisher polls (1 s) and so does the feed's pump
//! (250 ms), so a hub that dies between a commit and its announcement, or a lost notification,
//! costs the other replicas a poll interval, never a change.

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use sqlx::Connection;
use sqlx::postgres::{PgConnection, PgListener, PgPool};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::warn;

/// The channel a commit that queued a change for publication is announced on.
pub const PUBLISH_CHANNEL: &str = "baton_publish";

/// The channel a commit that changed the feed (a resource's row) is announced on.
pub const CHANGES_CHANNEL: &str = "baton_changes";

/// How long to wait before connecting again after a connection failed.
const RELISTEN_AFTER: Duration = Duration::from_secs(1);

/// At least this long between two announcements; what is asked meanwhile goes in the next.
/// A `NOTIFY` is a transaction with a WAL flush of its own: sent after every commit, it doubled
/// the flushes of a create flood. The other replicas wake this much later at most.
const ANNOUNCE_GAP: Duration = Duration::from_millis(10);

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

/// The channels a commit asks to announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Channels(u8);

impl Channels {
    /// A change was queued for publication ([`PUBLISH_CHANNEL`]).
    pub const PUBLISH: Self = Self(1);
    /// The change feed grew ([`CHANGES_CHANNEL`]).
    pub const CHANGES: Self = Self(2);
    /// Both: a resource's spec changed (its row and its outbox row).
    pub const BOTH: Self = Self(3);

    pub fn publish(self) -> bool {
        self.0 & Self::PUBLISH.0 != 0
    }

    pub fn changes(self) -> bool {
        self.0 & Self::CHANGES.0 != 0
    }

    /// The statement that announces these channels.
    fn statement(self) -> &'static str {
        match (self.publish(), self.changes()) {
            (true, true) => "SELECT pg_notify('baton_publish', ''), pg_notify('baton_changes', '')",
            (true, false) => "SELECT pg_notify('baton_publish', '')",
            _ => "SELECT pg_notify('baton_changes', '')",
        }
    }
}

/// The announcements asked for and not sent yet: the union of their channels, so that the
/// asks made while one announcement is in flight are sent as one.
#[derive(Debug, Default)]
pub struct Announcer {
    asked: AtomicU8,
    poke: Notify,
}

impl Announcer {
    /// Asks for `channels` to be announced; returns at once.
    pub fn ask(&self, channels: Channels) {
        self.asked.fetch_or(channels.0, Ordering::AcqRel);
        self.poke.notify_one();
    }

    /// Everything asked since the last call, once there is something.
    async fn asked(&self) -> Channels {
        loop {
            // An ask between the swap and the wait leaves a permit: the wait returns at once.
            let asked = self.asked.swap(0, Ordering::AcqRel);
            if asked != 0 {
                return Channels(asked);
            }
            self.poke.notified().await;
        }
    }
}

/// Where announcements go: the database, or a test's record.
trait Sender {
    fn send(&mut self, channels: Channels) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
}

/// Until `stop`: sends each announcement asked of `announcer` with `send`, one at a time and
/// [`ANNOUNCE_GAP`] apart; what is asked while one is in flight or during the gap goes in the
/// next. A failed send is dropped (a hint; the
/// replicas poll) and the next waits [`RELISTEN_AFTER`].
async fn coalesce(announcer: &Announcer, stop: &CancellationToken, send: &mut impl Sender) {
    loop {
        let channels = tokio::select! {
            () = stop.cancelled() => return,
            channels = announcer.asked() => channels,
        };
        let pause = match send.send(channels).await {
            Ok(()) => ANNOUNCE_GAP,
            Err(err) => {
                warn!(%err, "announcing committed changes failed; the other replicas poll meanwhile");
                RELISTEN_AFTER
            }
        };
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(pause) => {}
        }
    }
}

/// Until `stop`: announces what `announcer` is asked, on a connection of its own to `pool`'s
/// database (made again after an error), so that no write waits for it and it waits for no
/// pool slot.
pub(crate) async fn announce_commits(pool: PgPool, announcer: &Announcer, stop: CancellationToken) {
    let mut sender = PgSender {
        pool,
        connection: None,
    };
    coalesce(announcer, &stop, &mut sender).await;
}

struct PgSender {
    pool: PgPool,
    connection: Option<PgConnection>,
}

impl Sender for PgSender {
    async fn send(&mut self, channels: Channels) -> Result<(), sqlx::Error> {
        // Taken out while in use: a failed connection is dropped, the next send connects.
        let mut conn = match self.connection.take() {
            Some(conn) => conn,
            None => PgConnection::connect_with(self.pool.connect_options().as_ref()).await?,
        };
        sqlx::query(channels.statement()).execute(&mut conn).await?;
        self.connection = Some(conn);
        Ok(())
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

#[cfg(test)]
mod tests {
    use tokio::sync::{Semaphore, mpsc};

    use super::*;

    /// Records each send, and holds it in flight until the gate lets it finish.
    struct Recorder<'a> {
        sent: mpsc::UnboundedSender<Channels>,
        gate: &'a Semaphore,
    }

    impl Sender for Recorder<'_> {
        async fn send(&mut self, channels: Channels) -> Result<(), sqlx::Error> {
            self.sent.send(channels).unwrap();
            self.gate.acquire().await.unwrap().forget();
            Ok(())
        }
    }

    async fn next(sends: &mut mpsc::UnboundedReceiver<Channels>) -> Channels {
        tokio::time::timeout(Duration::from_secs(5), sends.recv())
            .await
            .expect("a send in time")
            .expect("the sender runs")
    }

    /// Asks made while an announcement is in flight go out as one, carrying every channel
    /// asked for; an ask made while idle goes out at once.
    #[tokio::test]
    async fn many_asks_during_a_send_make_one_more_send() {
        let announcer = Announcer::default();
        let stop = CancellationToken::new();
        let (sent, mut sends) = mpsc::unbounded_channel();
        let gate = Semaphore::new(0);
        let mut recorder = Recorder { sent, gate: &gate };
        let sender = coalesce(&announcer, &stop, &mut recorder);
        let driver = async {
            announcer.ask(Channels::PUBLISH);
            assert_eq!(next(&mut sends).await, Channels::PUBLISH);
            // The first send is in flight: a thousand writes commit meanwhile.
            for i in 0..1000 {
                announcer.ask(if i % 2 == 0 {
                    Channels::CHANGES
                } else {
                    Channels::PUBLISH
                });
            }
            gate.add_permits(1);
            assert_eq!(next(&mut sends).await, Channels::BOTH);
            gate.add_permits(1);
            // Nothing more was asked: nothing more is sent.
            tokio::task::yield_now().await;
            assert!(sends.try_recv().is_err(), "one send for the thousand asks");
            announcer.ask(Channels::CHANGES);
            assert_eq!(next(&mut sends).await, Channels::CHANGES);
            gate.add_permits(1);
            stop.cancel();
        };
        tokio::join!(sender, driver);
    }

    #[test]
    fn each_channel_set_has_its_statement() {
        assert_eq!(
            Channels::BOTH.statement(),
            "SELECT pg_notify('baton_publish', ''), pg_notify('baton_changes', '')"
        );
        assert!(Channels::PUBLISH.statement().contains(PUBLISH_CHANNEL));
        assert!(!Channels::PUBLISH.statement().contains(CHANGES_CHANNEL));
        assert!(Channels::CHANGES.statement().contains(CHANGES_CHANNEL));
        assert!(!Channels::CHANGES.statement().contains(PUBLISH_CHANNEL));
    }
}
