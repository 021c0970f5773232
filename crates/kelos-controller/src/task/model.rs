//! What the reconciler observed about one Task, reduced to the facts `decide` needs. Built by
//! `observe` from the caches (and pod logs); built by hand in unit tests.

use std::collections::BTreeMap;

use jiff::Timestamp;
use kelos_api::{Task, TaskPhase};

/// The Task's Job, as far as the phase mapping cares.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobView {
    /// `status.active`: pods that have not terminated.
    pub active: i32,
    /// `status.succeeded`.
    pub succeeded: i32,
    /// The Job has a `Failed=True` condition (backoff exhausted, FailJob rule, deadline).
    pub failed: bool,
    /// The Job has a deletionTimestamp (someone is deleting it with a finalizer pending).
    pub deleting: bool,
}

/// One pod labelled `kelos.dev/task=<task>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodView {
    pub name: String,
    pub uid: Option<String>,
    pub created: Option<Timestamp>,
    /// `metadata.deletionTimestamp`: the apiserver sets it to deletion time + grace period, so
    /// past it the kubelet has sent SIGKILL and the agent can no longer push.
    pub deletion: Option<Timestamp>,
}

impl PodView {
    /// Whether the agent in this pod may still be running (and pushing) at `now`.
    pub fn alive(&self, now: Timestamp) -> bool {
        self.deletion.is_none_or(|d| d > now)
    }
}

/// A dependency named in `spec.dependsOn`, in the order written.
#[derive(Clone, Debug, PartialEq)]
pub struct DepView {
    pub name: String,
    /// `None`: no Task of that name exists (yet).
    pub state: Option<DepState>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct DepState {
    pub phase: Option<TaskPhase>,
    pub outputs: Vec<String>,
    pub results: BTreeMap<String, String>,
}

/// Another Task with the same branch-lock key.
#[derive(Clone, Debug, PartialEq)]
pub struct Peer {
    pub name: String,
    pub created: Option<Timestamp>,
    pub phase: Option<TaskPhase>,
    pub deleting: bool,
    /// Its Job exists (and is not being deleted).
    pub has_job: bool,
    pub pods: Vec<PodView>,
    /// All its dependencies have Succeeded, so it is queued for the branch (not for a
    /// dependency).
    pub deps_ready: bool,
}

/// The branch lock as seen from one Task.
#[derive(Clone, Debug, PartialEq)]
pub struct BranchView {
    /// `<namespace>/<workspace>:<branch>`.
    pub key: String,
    pub branch: String,
    /// `spec.branch` is set but `spec.workspaceRef` is not.
    pub without_workspace: bool,
    pub peers: Vec<Peer>,
    /// The Task this process last let create a Job under this key, if it is not this Task.
    /// Covers the moment between Job creation and the cache showing the new phase.
    pub memory_holder: Option<String>,
}

/// Everything `decide` looks at.
#[derive(Clone, Debug)]
pub struct Observed<'a> {
    pub task: &'a Task,
    pub job: Option<JobView>,
    pub pods: Vec<PodView>,
    pub deps: Vec<DepView>,
    /// `Some(name)`: following `dependsOn` from this Task comes back to `name`.
    pub cycle: Option<String>,
    pub branch: Option<BranchView>,
    /// Output lines read from the agent's log in this reconcile (`None`: not read or none).
    pub log_outputs: Option<Vec<String>>,
}
