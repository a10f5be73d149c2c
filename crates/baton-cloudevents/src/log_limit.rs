//! A bounded rate for log lines that a peer can trigger once per event (a malformed event, a
//! refused request): a hostile or broken peer must not be able to flood the log. Each site
//! keeps its own [`LogLimit`] (a `static`); lines past the budget are counted and the count
//! is reported on the next line that goes out.
//! Must not decide what is logged or at which level: the call site does.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// At most `per_window` lines every `window`.
#[derive(Debug)]
pub struct LogLimit {
    per_window: u32,
    window: Duration,
    state: Mutex<Window>,
}

#[derive(Debug)]
struct Window {
    started: Option<Instant>,
    logged: u32,
    suppressed: u64,
}

impl LogLimit {
    /// A budget of `per_window` lines every `window`.
    pub const fn new(per_window: u32, window: Duration) -> Self {
        Self {
            per_window,
            window,
            state: Mutex::new(Window {
                started: None,
                logged: 0,
                suppressed: 0,
            }),
        }
    }

    /// The budget of a per-event warning: five lines every ten seconds.
    pub const fn per_event() -> Self {
        Self::new(5, Duration::from_secs(10))
    }

    /// `Some(n)` if this line may go out, `n` being the lines suppressed since the last one
    /// that did (for the line to report); `None` if it is over the budget.
    pub fn allow(&self) -> Option<u64> {
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state
            .started
            .is_none_or(|started| now.duration_since(started) >= self.window)
        {
            state.started = Some(now);
            state.logged = 0;
        }
        if state.logged >= self.per_window {
            state.suppressed += 1;
            return None;
        }
        state.logged += 1;
        Some(std::mem::take(&mut state.suppressed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_flood_is_cut_to_the_budget_and_the_rest_is_counted() {
        let limit = LogLimit::new(5, Duration::from_secs(10));
        let allowed: Vec<u64> = (0..5_000).filter_map(|_| limit.allow()).collect();
        assert_eq!(allowed, vec![0; 5], "5,000 events, 5 lines");
        tokio::time::advance(Duration::from_secs(9)).await;
        assert_eq!(limit.allow(), None, "the window has not passed");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(
            limit.allow(),
            Some(4_996),
            "the next line reports the suppressed"
        );
        assert_eq!(limit.allow(), Some(0));
    }
}
