//! [`LeaseKeeper`]: holds a lease for work that one replica at a time must do (over MQTT the
//! broker routes every publish to the agent wherever it is, so a change published by every
//! replica would reach its agent once per replica; a status resync broadcast by every replica
//! would make every agent answer once per replica). The holder renews it every heartbeat;
//! another replica takes it over when it expires, or at once when the holder stops and drops
//! it. Must not do the work itself: it only opens and closes the gate ([`watch`]) the
//! publisher and the periodic status resync wait on.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::instance::InstanceId;
use crate::store::fleet::Fleet;

/// The lease of the MQTT publisher and status resync.
pub const MQTT_PUBLISHER: &str = "mqtt-publisher";

pub struct LeaseKeeper {
    pub fleet: Arc<dyn Fleet>,
    pub name: &'static str,
    pub instance: InstanceId,
    /// How often the lease is renewed.
    pub renew: Duration,
    /// How long a renewal holds it.
    pub lease: Duration,
    /// Open while this replica holds the lease.
    pub gate: watch::Sender<bool>,
    /// The store, whose publisher wake-up rings when the gate opens (a backlog to send).
    pub store: Arc<dyn crate::store::Store>,
}

impl LeaseKeeper {
    /// Runs until `stop`, then drops the lease.
    pub async fn run(self, stop: CancellationToken) {
        let mut ticks = tokio::time::interval(self.renew);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut renewed = Instant::now();
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = ticks.tick() => {}
            }
            let held = self
                .fleet
                .hold_lease(self.name, self.instance.as_str(), self.lease)
                .await;
            let open = match held {
                Ok(held) => {
                    renewed = Instant::now();
                    held
                }
                // Unsure whether the lease still holds: keep working only while it surely does.
                Err(err) => {
                    warn!(%err, lease = self.name, "renewing the lease failed");
                    *self.gate.borrow() && renewed.elapsed() < self.lease / 2
                }
            };
            let was = self.gate.send_replace(open);
            if open && !was {
                info!(lease = self.name, instance = %self.instance, "this replica holds the lease");
                self.store.wakeup().wake();
            } else if was && !open {
                info!(lease = self.name, "this replica no longer holds the lease");
            }
        }
        self.gate.send_replace(false);
        if let Err(err) = self
            .fleet
            .drop_lease(self.name, self.instance.as_str())
            .await
        {
            warn!(%err, lease = self.name, "dropping the lease failed; it will expire");
        }
    }
}
