//! A token bucket for publishes: `qps` tokens a second, at most `burst` saved up. sdk-go's
//! clients run behind one (QPS 50, burst 100, §9), which is what caps them near 50 events/s;
//! baton offers it as an option and runs without it by default.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

#[derive(Debug)]
pub struct RateLimiter {
    qps: f64,
    burst: f64,
    bucket: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    refilled_at: Instant,
}

impl RateLimiter {
    /// # Panics
    /// If `qps` is not positive or `burst` is 0: both are configuration, checked at start-up.
    pub fn new(qps: f64, burst: u32) -> Self {
        assert!(
            qps > 0.0 && burst > 0,
            "rate limiter needs qps > 0 and burst > 0"
        );
        Self {
            qps,
            burst: f64::from(burst),
            bucket: Mutex::new(Bucket {
                tokens: f64::from(burst),
                refilled_at: Instant::now(),
            }),
        }
    }

    /// Waits until one token is available and takes it. Fair in arrival order (the mutex is).
    pub async fn acquire(&self) {
        let mut bucket = self.bucket.lock().await;
        let now = Instant::now();
        let elapsed = now.duration_since(bucket.refilled_at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.qps).min(self.burst);
        bucket.refilled_at = now;
        if bucket.tokens < 1.0 {
            let wait = Duration::from_secs_f64((1.0 - bucket.tokens) / self.qps);
            tokio::time::sleep(wait).await;
            bucket.tokens = 1.0;
            bucket.refilled_at = Instant::now();
        }
        bucket.tokens -= 1.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn holds_its_rate_after_the_burst() {
        let limiter = RateLimiter::new(50.0, 100);
        let start = Instant::now();
        for _ in 0..100 {
            limiter.acquire().await;
        }
        assert!(
            start.elapsed() < Duration::from_millis(1),
            "the burst is free"
        );
        for _ in 0..500 {
            limiter.acquire().await;
        }
        let elapsed = start.elapsed().as_secs_f64();
        // 500 tokens at 50/s take 10 s of (paused, exact) clock time.
        assert!((9.9..=10.1).contains(&elapsed), "took {elapsed} s");
    }
}
