//! Scenario 1 (todo)
