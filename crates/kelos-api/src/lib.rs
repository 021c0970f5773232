//! The Kelos API, group `kelos.dev`, version `v1alpha1`: `Task`, `TaskSpawner`, `Workspace` and
//! `AgentConfig`, field for field compatible with the Go original, plus cancellation
//! (`TaskPhase::Cancelled`, `TaskStatus::cancelled_by`, `TaskSpawnerSpec::cancellation_policy`).
//!
//! Types and constants only: this crate does no I/O.

pub mod agentconfig;
pub mod common;
pub mod constants;
pub mod crd;
pub mod phase;
mod schema;
pub mod source;
pub mod task;
pub mod taskspawner;
pub mod template;
pub mod workspace;

pub use agentconfig::*;
pub use common::*;
pub use crd::crds;
pub use phase::*;
pub use source::*;
pub use task::*;
pub use taskspawner::*;
pub use workspace::*;
