//! kelos-spawner: discovers work items and creates and cancels Tasks for them.
//!
//! `discover` (I/O: a complete item set or an error) → `plan_cycle` (pure) → apply (I/O).

pub mod cron;
pub mod cycle;
pub mod daemon;
pub mod flags;
pub mod github;
pub mod item;
pub mod metrics;
pub mod naming;
pub mod planner;
pub mod reporting;
pub mod status;
