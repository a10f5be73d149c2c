//! Gives the heap's free pages back to the operating system after a burst.
//!
//! glibc's `malloc` keeps what a burst freed in its arenas: after a fleet connects or resyncs at
//! once (connection setup, queued events, spec resync answers), the hub's resident size stays at
//! the burst's peak for as long as it runs, although most of it is free. The hub watches its own
//! resident size; once it has grown by [`HeapTrim::min_growth_kib`] since the last trim and then
//! held still for one tick (the burst is over), it asks glibc to return the free pages
//! (`malloc_trim`). Steady use never grows, so it never trims. Linux with glibc only; a no-op
//! elsewhere. `baton serve --heap-trim=false` turns it off.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::debug;

/// When to trim.
#[derive(Debug, Clone, Copy)]
pub struct HeapTrim {
    /// How often the resident size is read.
    pub tick: Duration,
    /// Growth since the last trim (KiB) that makes the next quiet tick trim.
    pub min_growth_kib: u64,
    /// A tick whose resident size moved by at most this much (KiB) is quiet.
    pub still_kib: u64,
    /// Quiet ticks after a trim that trim again: what a burst leaves queued (events waiting
    /// for slow agents, answers being written) is freed a little after the burst ends.
    pub follow_ups: u32,
}

impl Default for HeapTrim {
    fn default() -> Self {
        Self {
            tick: Duration::from_millis(500),
            min_growth_kib: 4 * 1024,
            still_kib: 256,
            follow_ups: 6,
        }
    }
}

impl HeapTrim {
    /// Whether to trim now: grown enough since the last trim, and quiet since the last tick.
    pub fn due(&self, at_last_trim_kib: u64, last_tick_kib: u64, now_kib: u64) -> bool {
        now_kib.saturating_sub(at_last_trim_kib) >= self.min_growth_kib
            && now_kib.abs_diff(last_tick_kib) <= self.still_kib
    }

    /// Watches the resident size until `stop`, trimming after each burst.
    pub fn spawn(self, tasks: &TaskTracker, stop: &CancellationToken) {
        if !trim_supported() {
            return;
        }
        let stop = stop.clone();
        tasks.spawn(async move {
            let Some(mut at_last_trim) = resident_kib() else {
                return;
            };
            let mut last_tick = at_last_trim;
            let mut follow_ups: u32 = 0;
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(self.tick) => {}
                }
                let Some(now) = resident_kib() else { return };
                let quiet = now.abs_diff(last_tick) <= self.still_kib;
                let follow_up = follow_ups > 0 && quiet;
                follow_ups = follow_ups.saturating_sub(1);
                if self.due(at_last_trim, last_tick, now) || follow_up {
                    if !follow_up {
                        follow_ups = self.follow_ups;
                    }
                    let released = trim();
                    let after = resident_kib().unwrap_or(now);
                    debug!(
                        before_kib = now,
                        after_kib = after,
                        released,
                        "heap trimmed after a burst"
                    );
                    at_last_trim = after;
                    last_tick = after;
                } else {
                    last_tick = now;
                    // Shrinking (a trim by glibc itself, a freed mapping) lowers the mark too.
                    at_last_trim = at_last_trim.min(now);
                }
            }
        });
    }
}

/// This process's resident set size (VmRSS), in KiB.
pub fn resident_kib() -> Option<u64> {
    resident_kib_of("self")
}

/// A process's resident set size (VmRSS), in KiB: `process` is a pid or `self`. `None` off
/// Linux or once the process is gone.
pub fn resident_kib_of(process: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{process}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Whether [`trim`] can give memory back on this platform.
pub fn trim_supported() -> bool {
    cfg!(all(target_os = "linux", target_env = "gnu"))
}

/// Asks the allocator to return free pages to the operating system; whether it released any.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn trim() -> bool {
    // SAFETY: `malloc_trim` takes no pointers and only walks glibc's own free lists under its
    // arena locks; it is safe to call from any thread at any time.
    unsafe { libc::malloc_trim(0) == 1 }
}

/// Asks the allocator to return free pages to the operating system; whether it released any.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn trim() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_once_grown_and_quiet() {
        let policy = HeapTrim::default();
        let mib = 1024;
        assert!(
            !policy.due(10 * mib, 10 * mib, 12 * mib),
            "grown too little"
        );
        assert!(!policy.due(10 * mib, 11 * mib, 20 * mib), "still growing");
        assert!(
            policy.due(10 * mib, 20 * mib, 20 * mib),
            "grown, then quiet"
        );
        assert!(!policy.due(20 * mib, 20 * mib, 10 * mib), "shrunk");
    }

    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn a_bursts_freed_heap_is_given_back() {
        const CHUNK: usize = 64 * 1024; // under glibc's mmap threshold: from the heap
        const CHUNKS: usize = 1024; // 64 MiB
        let mut burst = Vec::with_capacity(CHUNKS);
        let mut keepers = Vec::with_capacity(CHUNKS);
        for i in 0..CHUNKS {
            burst.push(vec![i as u8 | 1; CHUNK]);
            // Small blocks left between the chunks: free() alone cannot shrink the heap.
            keepers.push(Box::new(i));
        }
        let peak = resident_kib().expect("VmRSS");
        drop(burst);
        // Measured from the peak, not from after the drop: when the burst landed in a thread's
        // arena, free() may already hand some of it back, and trim() then finds less to do.
        trim();
        let after = resident_kib().expect("VmRSS");
        assert!(
            peak.saturating_sub(after) >= 32 * 1024,
            "resident {peak} KiB at the burst's peak -> {after} KiB after the trim"
        );
        assert_eq!(*keepers[CHUNKS - 1], CHUNKS - 1);
    }
}
