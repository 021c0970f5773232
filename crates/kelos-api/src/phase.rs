//! Task and TaskSpawner phases. [`TaskPhase::is_terminal`] is the one place that knows which
//! phases are final; the CRD's enum and its terminal-phase CEL rule are generated from it.

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

/// Lifecycle phase of a Task.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum TaskPhase {
    /// Accepted; the Job is being created or its pod is not running yet.
    Pending,
    /// The agent's pod is running.
    Running,
    /// The agent finished successfully. Terminal.
    Succeeded,
    /// The agent, its Job or a precondition failed. Terminal.
    Failed,
    /// Waiting for dependencies (`dependsOn`) or for the branch lock.
    Waiting,
    /// Cancelled by a person or a TaskSpawner's cancellation policy. Terminal.
    Cancelled,
}

impl TaskPhase {
    pub const ALL: [TaskPhase; 6] = [
        TaskPhase::Pending,
        TaskPhase::Running,
        TaskPhase::Succeeded,
        TaskPhase::Failed,
        TaskPhase::Waiting,
        TaskPhase::Cancelled,
    ];

    /// The only place that knows which phases are final. Nothing moves a Task out of one.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskPhase::Succeeded | TaskPhase::Failed | TaskPhase::Cancelled
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TaskPhase::Pending => "Pending",
            TaskPhase::Running => "Running",
            TaskPhase::Succeeded => "Succeeded",
            TaskPhase::Failed => "Failed",
            TaskPhase::Waiting => "Waiting",
            TaskPhase::Cancelled => "Cancelled",
        }
    }

    /// The terminal phases, in declaration order.
    pub fn terminal() -> impl Iterator<Item = TaskPhase> {
        Self::ALL.into_iter().filter(|p| p.is_terminal())
    }
}

impl std::fmt::Display for TaskPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for TaskPhase {
    type Err = UnknownPhase;

    /// Case-sensitive, like the CRD's enum.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownPhase(s.to_owned()))
    }
}

/// A phase string that is not one of [`TaskPhase::ALL`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownPhase(pub String);

impl std::fmt::Display for UnknownPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unknown Task phase {:?}", self.0)
    }
}

impl std::error::Error for UnknownPhase {}

/// `status.phase` as a plain string enum: deriving it from `Option<TaskPhase>` would put `null`
/// into the enum list, which the apiserver rejects.
pub(crate) fn task_phase_schema(_: &mut SchemaGenerator) -> Schema {
    let values: Vec<&str> = TaskPhase::ALL.iter().map(|p| p.as_str()).collect();
    json_schema!({ "type": "string", "enum": values })
}

/// CEL on `status`: a write that leaves a terminal phase (or drops the phase) is refused, so a
/// Job finishing at the instant of a cancellation can never flip the outcome.
pub(crate) fn terminal_phase_rule() -> String {
    let list = TaskPhase::terminal()
        .map(|p| format!("'{p}'"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "!has(oldSelf.phase) || !(oldSelf.phase in [{list}]) || (has(self.phase) && self.phase == oldSelf.phase)"
    )
}

pub(crate) fn terminal_phase_message() -> String {
    let names: Vec<&str> = TaskPhase::terminal().map(TaskPhase::as_str).collect();
    format!(
        "a Task in a terminal phase ({}) cannot change phase",
        names.join(", ")
    )
}

/// Lifecycle phase of a TaskSpawner.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum TaskSpawnerPhase {
    /// Created; its spawner workload is not running yet.
    Pending,
    /// Its spawner Deployment or CronJob exists and is not suspended.
    Running,
    /// Reserved by the original API; never set.
    Failed,
    /// `spec.suspend` is true.
    Suspended,
}

impl TaskSpawnerPhase {
    pub const ALL: [TaskSpawnerPhase; 4] = [
        TaskSpawnerPhase::Pending,
        TaskSpawnerPhase::Running,
        TaskSpawnerPhase::Failed,
        TaskSpawnerPhase::Suspended,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskSpawnerPhase::Pending => "Pending",
            TaskSpawnerPhase::Running => "Running",
            TaskSpawnerPhase::Failed => "Failed",
            TaskSpawnerPhase::Suspended => "Suspended",
        }
    }
}

impl std::fmt::Display for TaskSpawnerPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Same reason as [`task_phase_schema`].
pub(crate) fn taskspawner_phase_schema(_: &mut SchemaGenerator) -> Schema {
    let values: Vec<&str> = TaskSpawnerPhase::ALL.iter().map(|p| p.as_str()).collect();
    json_schema!({ "type": "string", "enum": values })
}
