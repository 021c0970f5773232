//! kelos-controller: reconciles Tasks into Jobs (dependencies, branch locks, TTL, outputs,
//! cancellation, metrics) and TaskSpawners into spawner Deployments and CronJobs.

pub mod github_app;
pub mod job;
pub mod task;
pub mod taskspawner;
