//! Scenario 2 (todo)
