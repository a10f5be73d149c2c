//! What `/proc` says about a process the bench watches (the hub, the agents' process, or
//! itself): resident set and CPU time, so a scenario can report where the machine's two cores
//! went ([`Parties`]) and how large the hub grew. Linux only; `None` elsewhere or once the
//! process is gone.

/// A process to read: `"self"` or a pid.
#[derive(Debug, Clone)]
pub struct Proc(String);

impl Proc {
    pub fn this() -> Self {
        Self("self".into())
    }

    pub fn pid(pid: u32) -> Self {
        Self(pid.to_string())
    }

    /// VmRSS, in KiB.
    pub fn rss_kib(&self) -> Option<u64> {
        baton::hub::heap_trim::resident_kib_of(&self.0)
    }

    /// User + system CPU time so far, in seconds (clock ticks of 1/100 s, Linux's `USER_HZ`).
    pub fn cpu_seconds(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.0)).ok()?;
        // Fields after the command name, which is in parentheses and may hold spaces.
        let rest = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let utime: u64 = fields.get(11)?.parse().ok()?;
        let stime: u64 = fields.get(12)?.parse().ok()?;
        Some((utime + stime) as f64 / 100.0)
    }
}

/// CPU seconds so far of the PostgreSQL backends serving `database` (their process titles,
/// `postgres: <cluster>: <user> <database> <client> <state>`, name it), so a scenario can
/// report the database's share of a run apart from other databases on the same server.
/// A backend that exits between two readings takes its time with it: the hub's pool keeps
/// its connections, so this fits runs that measure the hub's work. `None` if `/proc` cannot
/// be read.
pub fn postgres_backends_cpu_seconds(database: &str) -> Option<f64> {
    let mut total = 0.0;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let title = String::from_utf8_lossy(&cmdline);
        let mut words = title.split_whitespace();
        if words.next() == Some("postgres:") && words.any(|w| w == database) {
            total += Proc(pid.to_owned()).cpu_seconds().unwrap_or(0.0);
        }
    }
    Some(total)
}

/// The processes a run's CPU time is split between.
pub struct Parties {
    /// The hub's processes (one per replica).
    pub hub: Vec<Proc>,
    /// The database whose PostgreSQL backends count ([`postgres_backends_cpu_seconds`]).
    pub database: String,
    /// The agents' process, when they run in one of their own (else they are in this one).
    pub agents: Option<Proc>,
}

/// CPU seconds (user + system) each party has spent so far, or between two readings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuSpent {
    pub hub: f64,
    pub postgres: f64,
    pub agents: Option<f64>,
    /// This process: the load generator (and the agents, when they run in it).
    pub bench: f64,
}

impl Parties {
    /// Reads every party now; a process already gone counts as 0.
    pub fn read(&self) -> CpuSpent {
        CpuSpent {
            hub: self.hub.iter().filter_map(Proc::cpu_seconds).sum(),
            postgres: postgres_backends_cpu_seconds(&self.database).unwrap_or(0.0),
            agents: self.agents.as_ref().and_then(Proc::cpu_seconds),
            bench: Proc::this().cpu_seconds().unwrap_or(0.0),
        }
    }
}

impl CpuSpent {
    /// What was spent since `earlier`.
    pub fn since(&self, earlier: &CpuSpent) -> CpuSpent {
        CpuSpent {
            hub: self.hub - earlier.hub,
            postgres: self.postgres - earlier.postgres,
            agents: self
                .agents
                .zip(earlier.agents)
                .map(|(now, then)| now - then),
            bench: self.bench - earlier.bench,
        }
    }

    /// These seconds over `window`, and per create of the `creates` made in it (`agents_*`
    /// null when the agents had no process of their own).
    pub fn per_create(&self, creates: usize, window: std::time::Duration) -> serde_json::Value {
        let round = crate::stats::round;
        let per = |seconds: f64| round(seconds * 1000.0 / creates.max(1) as f64);
        serde_json::json!({
            "window_s": round(window.as_secs_f64()),
            "hub_s": round(self.hub),
            "postgres_s": round(self.postgres),
            "agents_s": self.agents.map(round),
            "bench_s": round(self.bench),
            "hub_ms_per_create": per(self.hub),
            "postgres_ms_per_create": per(self.postgres),
            "agents_ms_per_create": self.agents.map(per),
            "bench_ms_per_create": per(self.bench),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_a_resident_set_and_spends_cpu() {
        let me = Proc::this();
        assert!(me.rss_kib().is_some_and(|kib| kib > 0));
        let before = me.cpu_seconds().expect("cpu time");
        let mut x = 0u64;
        let until = std::time::Instant::now() + std::time::Duration::from_millis(300);
        while std::time::Instant::now() < until {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        assert!(x > 0);
        assert!(me.cpu_seconds().expect("cpu time") > before);
    }

    #[test]
    fn cpu_spent_between_readings_is_their_difference() {
        let then = CpuSpent {
            hub: 1.0,
            postgres: 2.0,
            agents: Some(0.5),
            bench: 0.25,
        };
        let now = CpuSpent {
            hub: 3.0,
            postgres: 2.5,
            agents: Some(1.5),
            bench: 0.5,
        };
        let spent = now.since(&then);
        assert_eq!(
            spent,
            CpuSpent {
                hub: 2.0,
                postgres: 0.5,
                agents: Some(1.0),
                bench: 0.25
            }
        );
        let without_agents = CpuSpent {
            agents: None,
            ..now
        };
        assert_eq!(without_agents.since(&then).agents, None);
    }

    #[test]
    fn no_backend_serves_a_database_that_does_not_exist() {
        let cpu = postgres_backends_cpu_seconds("baton_bench_no_such_database_x");
        assert_eq!(cpu, Some(0.0));
    }
}
