//! Status sequence ids (docs/protocol.md §5.3): Twitter-style snowflakes as bwmarrin/snowflake
//! renders them (epoch 1288834974657 ms, 41-bit time, 10-bit node, 12-bit step, decimal), with
//! node 1 as every sdk-go agent uses, and sdk-go's `CompareSnowflakeSequenceIDs`.

use std::sync::{Mutex, OnceLock, PoisonError};

use chrono::Utc;

/// The snowflake epoch: 2010-11-04T01:42:54.657Z, in Unix milliseconds.
pub const EPOCH_MS: i64 = 1_288_834_974_657;
/// The node every agent uses (§5.3).
pub const AGENT_NODE: i64 = 1;
const NODE_BITS: u32 = 10;
const STEP_BITS: u32 = 12;
const STEP_MASK: i64 = (1 << STEP_BITS) - 1;
const NODE_MASK: i64 = (1 << NODE_BITS) - 1;

/// A parsed snowflake id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SequenceId(i64);

impl SequenceId {
    /// The id of step `step` on node `node` at `unix_ms`.
    pub fn new(unix_ms: i64, node: i64, step: i64) -> Self {
        Self(
            ((unix_ms - EPOCH_MS) << (NODE_BITS + STEP_BITS))
                | ((node & NODE_MASK) << STEP_BITS)
                | (step & STEP_MASK),
        )
    }

    /// Milliseconds since the Unix epoch.
    pub fn unix_ms(self) -> i64 {
        (self.0 >> (NODE_BITS + STEP_BITS)) + EPOCH_MS
    }

    /// The node (10 bits) that generated it.
    pub fn node(self) -> i64 {
        (self.0 >> STEP_BITS) & NODE_MASK
    }

    /// The counter within its millisecond (12 bits).
    pub fn step(self) -> i64 {
        self.0 & STEP_MASK
    }

    /// The id as the integer its decimal string renders.
    pub fn as_i64(self) -> i64 {
        self.0
    }
}

impl std::fmt::Display for SequenceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::str::FromStr for SequenceId {
    type Err = std::num::ParseIntError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(Self)
    }
}

/// Why two sequence ids cannot be compared (the event is then ignored, §5.3).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SequenceError {
    /// The last accepted id does not parse.
    #[error("unable to parse last sequence ID {0:?}")]
    BadLast(String),
    /// The received id does not parse.
    #[error("unable to parse current sequence ID {0:?}")]
    BadCurrent(String),
    #[error("sequence IDs ({last},{current}) are not from the same node")]
    /// The ids come from different nodes: their order is unknown.
    DifferentNode {
        /// The last accepted id.
        last: String,
        /// The received id.
        current: String,
    },
}

/// `newer(last, current)` of §5.3: is `current` a later status than `last`?
pub fn is_newer(last: &str, current: &str) -> Result<bool, SequenceError> {
    if last.is_empty() && !current.is_empty() {
        return Ok(true);
    }
    let last_id: SequenceId = last
        .parse()
        .map_err(|_| SequenceError::BadLast(last.to_owned()))?;
    let current_id: SequenceId = current
        .parse()
        .map_err(|_| SequenceError::BadCurrent(current.to_owned()))?;
    if last_id.node() != current_id.node() {
        return Err(SequenceError::DifferentNode {
            last: last.to_owned(),
            current: current.to_owned(),
        });
    }
    if last_id.unix_ms() != current_id.unix_ms() {
        return Ok(current_id.unix_ms() > last_id.unix_ms());
    }
    Ok(current_id.step() > last_id.step())
}

/// Generates strictly increasing node-1 ids. When the clock stands still (or goes back) the
/// step counts up; when 4096 steps are used within one millisecond the generator moves on to
/// the next millisecond instead of waiting for it.
#[derive(Debug, Default)]
pub struct SequenceGenerator {
    last: Mutex<Option<(i64, i64)>>,
}

impl SequenceGenerator {
    /// A generator of its own (tests; agents share [`SequenceGenerator::global`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// The process-wide generator the agent codecs share, as sdk-go's package-level one.
    pub fn global() -> &'static SequenceGenerator {
        static GLOBAL: OnceLock<SequenceGenerator> = OnceLock::new();
        GLOBAL.get_or_init(SequenceGenerator::new)
    }

    /// The next id: later than every id this generator gave before.
    pub fn next_id(&self) -> SequenceId {
        self.next_at(Utc::now().timestamp_millis())
    }

    /// The next id given the current time `now_ms`.
    pub fn next_at(&self, now_ms: i64) -> SequenceId {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        let (ms, step) = match *last {
            Some((last_ms, last_step)) if now_ms <= last_ms => {
                if last_step < STEP_MASK {
                    (last_ms, last_step + 1)
                } else {
                    (last_ms + 1, 0)
                }
            }
            _ => (now_ms, 0),
        };
        *last = Some((ms, step));
        SequenceId::new(ms, AGENT_NODE, step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example_decomposes() {
        let id: SequenceId = "1929145946591989760".parse().unwrap();
        assert_eq!(id.unix_ms(), 1_748_779_210_123);
        assert_eq!((id.node(), id.step()), (1, 0));
        assert_eq!(SequenceId::new(1_748_779_210_123, 1, 0), id);
    }

    #[test]
    fn generated_ids_strictly_increase_even_when_the_clock_stalls_or_steps_back() {
        let generator = SequenceGenerator::new();
        let mut previous = generator.next_at(1_748_779_210_123).to_string();
        for now in (0..5000).map(|i| 1_748_779_210_123 - (i % 3)) {
            let id = generator.next_at(now);
            assert_eq!(id.node(), AGENT_NODE);
            let current = id.to_string();
            assert_eq!(
                is_newer(&previous, &current),
                Ok(true),
                "{previous} -> {current}"
            );
            previous = current;
        }
    }
}
