//! Exponential backoff with full jitter for reconnects (§7.1, §9: sdk-go starts at 5 s, ×5,
//! caps at 1 min, resets after 10 min without failure).

use std::time::Duration;

use rand::Rng;

/// Backoff settings. `Default` is sdk-go's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackoffPolicy {
    /// Delay before the first retry.
    pub initial: Duration,
    /// Each delay is the previous one times this.
    pub factor: f64,
    /// Delays never exceed this (before jitter).
    pub max: Duration,
    /// Fraction of the delay that is random (1.0 = up to 100 % added, as sdk-go).
    pub jitter: f64,
    /// A connection that lived this long resets the backoff.
    pub reset_after: Duration,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(5),
            factor: 5.0,
            max: Duration::from_secs(60),
            jitter: 1.0,
            reset_after: Duration::from_secs(600),
        }
    }
}

impl BackoffPolicy {
    /// Quick retries for loopback tests and the embedded broker.
    pub fn fast() -> Self {
        Self {
            initial: Duration::from_millis(50),
            factor: 2.0,
            max: Duration::from_secs(2),
            jitter: 0.5,
            reset_after: Duration::from_secs(10),
        }
    }
}

/// The state of one retry sequence.
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: BackoffPolicy,
    next: Duration,
}

impl Backoff {
    /// Starts at `policy.initial`.
    pub fn new(policy: BackoffPolicy) -> Self {
        Self {
            next: policy.initial,
            policy,
        }
    }

    /// The delay before the next attempt (jittered), advancing the sequence.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.next;
        self.next = base.mul_f64(self.policy.factor).min(self.policy.max);
        let jitter = rand::rng().random_range(0.0..=self.policy.jitter.max(0.0));
        base.mul_f64(1.0 + jitter)
            .min(self.policy.max.mul_f64(1.0 + self.policy.jitter))
    }

    /// Call after a connection that lasted `lived`: long-lived ones reset the sequence.
    pub fn connection_ended(&mut self, lived: Duration) {
        if lived >= self.policy.reset_after {
            self.reset();
        }
    }

    /// Back to `policy.initial`, e.g. once a connection has lived long enough.
    pub fn reset(&mut self) {
        self.next = self.policy.initial;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_by_factor_up_to_the_cap_and_resets() {
        let policy = BackoffPolicy {
            jitter: 0.0,
            ..BackoffPolicy::default()
        };
        let mut backoff = Backoff::new(policy);
        let delays: Vec<u64> = (0..4).map(|_| backoff.next_delay().as_secs()).collect();
        assert_eq!(delays, vec![5, 25, 60, 60]);
        backoff.connection_ended(Duration::from_secs(601));
        assert_eq!(backoff.next_delay().as_secs(), 5);
    }

    #[test]
    fn jitter_stays_within_its_fraction() {
        let mut backoff = Backoff::new(BackoffPolicy::default());
        let first = backoff.next_delay();
        assert!(first >= Duration::from_secs(5) && first <= Duration::from_secs(10));
    }
}
