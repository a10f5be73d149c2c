//! Latency summaries: percentiles over recorded samples (nearest rank), in milliseconds.

use std::time::Duration;

use serde_json::{Value, json};

/// Recorded latencies.
#[derive(Debug, Default, Clone)]
pub struct Latencies {
    samples: Vec<Duration>,
}

impl Latencies {
    pub fn with_capacity(n: usize) -> Self {
        Self {
            samples: Vec::with_capacity(n),
        }
    }

    pub fn record(&mut self, sample: Duration) {
        self.samples.push(sample);
    }

    pub fn extend(&mut self, other: Latencies) {
        self.samples.extend(other.samples);
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// The `p`-th percentile (0..=100) in ms; 0 without samples.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        if self.samples.is_empty() {
            return 0.0;
        }
        let mut sorted = self.samples.clone();
        sorted.sort_unstable();
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        ms(sorted[rank.clamp(1, sorted.len()) - 1])
    }

    pub fn mean_ms(&self) -> f64 {
        if self.samples.is_empty() {
            return 0.0;
        }
        let total: Duration = self.samples.iter().sum();
        ms(total) / self.samples.len() as f64
    }

    /// `{count, mean_ms, p50_ms, p95_ms, p99_ms, max_ms}`.
    pub fn summary(&self) -> Value {
        json!({
            "count": self.len(),
            "mean_ms": round(self.mean_ms()),
            "p50_ms": round(self.percentile_ms(50.0)),
            "p95_ms": round(self.percentile_ms(95.0)),
            "p99_ms": round(self.percentile_ms(99.0)),
            "max_ms": round(self.percentile_ms(100.0)),
        })
    }
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Three decimals: enough for a table, stable in JSON.
pub fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let mut l = Latencies::default();
        for i in 1..=100 {
            l.record(Duration::from_millis(i));
        }
        assert_eq!(l.percentile_ms(50.0), 50.0);
        assert_eq!(l.percentile_ms(99.0), 99.0);
        assert_eq!(l.percentile_ms(100.0), 100.0);
        assert_eq!(l.mean_ms(), 50.5);
        assert_eq!(Latencies::default().percentile_ms(50.0), 0.0);
    }
}
