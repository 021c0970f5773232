//! The Task reconciler: observe (Task, Job, pods, dependencies, branch-lock peers, now) →
//! [`decide::decide`] (pure) → apply (Job and pod deletes, conditioned status writes, events,
//! metrics).

pub mod branch;
pub mod decide;
pub mod deps;
pub mod model;
pub mod outputs;
