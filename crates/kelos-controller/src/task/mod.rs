//! The Task reconciler: observe (Task, Job, pods, dependencies, branch-lock peers, now) →
//! [`decide::decide`] (pure) → apply (Job and pod deletes, conditioned status writes, events,
//! metrics).

pub mod apply;
pub mod branch;
pub mod context;
pub mod controller;
pub mod decide;
pub mod deps;
pub mod github;
pub mod model;
pub mod observe;
pub mod outputs;

pub use context::TaskConfig;
pub use controller::{RunConfig, run};
