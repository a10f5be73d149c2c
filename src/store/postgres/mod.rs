//! The PostgreSQL backend of [`Store`](crate::store::Store): the production store. `json` for
//! the documents the hub only stores and shows, `jsonb` for the labels it filters on; one
//! statement per change where possible (the change and its publish outbox row, `outbox`,
//! are written by the same statement), status updates by compare and set (`status`).
//!
//! Owns the pool and the wake-ups its commits give: each write method calls
//! `PgStore::committed` once its change committed (no `NOTIFY` inside a write transaction:
//! [`crate::store::wakeup`]). The files split the SQL by concern: `store` (the trait's plain
//! operations), `create`, `outbox`, `status`, `feed`, `health`, and `json` (a parameter type). They import this module and the shared `store` modules; among themselves
//! only the writers import `outbox` (the statements they embed) and `json`: no circle.

mod create;
mod feed;
mod health;
mod json;
mod outbox;
mod status;
mod store;

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use super::wakeup::{Announcer, Channels};
use super::{StoreError, Wakeup};
pub(crate) use json::PgJson;

/// How every hub connection is opened: `url`'s settings, with PostgreSQL's JIT compiler off.
/// The hub runs short statements only; JIT pays off for long analytic scans, and when the
/// planner overestimates a statement over a transition table or a CTE (it has no statistics
/// for them) it compiles for milliseconds what runs in microseconds, on every call.
pub(crate) fn connect_options(url: &str) -> Result<PgConnectOptions, StoreError> {
    Ok(PgConnectOptions::from_str(url)?.options([("jit", "off")]))
}

pub struct PgStore {
    pool: PgPool,
    wakeup: Wakeup,
    /// Woken when any process committed a change of the feed (`NOTIFY baton_changes`).
    changes: Wakeup,
    /// Tells the other replicas what this one committed.
    announcer: Announcer,
}

impl PgStore {
    /// Connects a pool of up to `max_connections` to `url`.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect_with(connect_options(url)?)
            .await?;
        Ok(Self::from_pool(pool))
    }

    pub fn from_pool(pool: PgPool) -> Self {
        Self {
            pool,
            wakeup: Wakeup::default(),
            changes: Wakeup::default(),
            announcer: Announcer::default(),
        }
    }

    /// After a commit that wrote what `channels` cover: wakes this process's publisher and
    /// feed, and asks for the announcement to the other replicas.
    fn committed(&self, channels: Channels) {
        if channels.publish() {
            self.wakeup.wake();
        }
        if channels.changes() {
            self.changes.wake();
        }
        self.announcer.ask(channels);
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}
