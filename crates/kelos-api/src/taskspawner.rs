//! `TaskSpawner`: discovers work (GitHub issues, pull requests, cron ticks, Jira) and creates
//! a Task for each item; with a `cancellationPolicy` it also cancels Tasks whose item went stale.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{AgentConfigReference, WorkspaceReference};
pub use crate::phase::TaskSpawnerPhase;
use crate::source::When;
use crate::task::{AgentType, Credentials, PodOverrides};

const WORKSPACE_REQUIRED_RULE: &str = "!(has(self.when.githubIssues) || has(self.when.githubPullRequests)) || has(self.taskTemplate.workspaceRef)";
const NO_SOURCE_REMOVED_WITH_CRON_RULE: &str = "!(has(self.when.cron) && has(self.cancellationPolicy) && has(self.cancellationPolicy.onSourceRemoved) && self.cancellationPolicy.onSourceRemoved == 'Cancel')";

/// TaskSpawnerSpec says where work comes from, what each Task looks like, how many may run and
/// when the spawner cancels Tasks whose work went stale.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "kelos.dev",
    version = "v1alpha1",
    kind = "TaskSpawner",
    namespaced,
    status = "TaskSpawnerStatus",
    doc = "TaskSpawner watches a source (GitHub issues, GitHub pull requests, a cron schedule or Jira) and creates a Task from taskTemplate for each discovered item; with a cancellationPolicy it also cancels Tasks whose item went stale.",
    printcolumn = r#"{"name":"Workspace","type":"string","jsonPath":".spec.taskTemplate.workspaceRef.name"}"#,
    printcolumn = r#"{"name":"Suspend","type":"boolean","jsonPath":".spec.suspend"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Active","type":"integer","jsonPath":".status.activeTasks"}"#,
    printcolumn = r#"{"name":"Discovered","type":"integer","jsonPath":".status.totalDiscovered"}"#,
    printcolumn = r#"{"name":"Tasks","type":"integer","jsonPath":".status.totalTasksCreated"}"#,
    printcolumn = r#"{"name":"Cancelled","type":"integer","jsonPath":".status.totalTasksCancelled","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": WORKSPACE_REQUIRED_RULE, "message": "taskTemplate.workspaceRef is required when using githubIssues or githubPullRequests source"},
    {"rule": NO_SOURCE_REMOVED_WITH_CRON_RULE, "message": "cancellationPolicy.onSourceRemoved: Cancel cannot be used with a cron source (every past tick would look removed); use onRetrigger: Cancel to stop overlapping runs"}
]))]
pub struct TaskSpawnerSpec {
    /// The source of work items: githubIssues, githubPullRequests, cron or jira (set one).
    pub when: When,
    /// Template of the Tasks this spawner creates, one per discovered item.
    pub task_template: TaskTemplate,
    /// Deprecated, use the source's own `pollInterval`: how often the spawner polls (Go
    /// duration). Default `5m`.
    #[serde(default = "default_poll_interval")]
    pub poll_interval: String,
    /// Most non-terminal Tasks of this spawner at once; 0 or unset means unlimited. Terminal
    /// Tasks (Succeeded, Failed, Cancelled) do not count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max_concurrency: Option<i32>,
    /// While true, the spawner discovers, creates and cancels nothing (its Deployment is scaled
    /// to zero, its CronJob suspended). Default false.
    #[serde(default)]
    pub suspend: bool,
    /// Most Tasks this spawner creates over its lifetime (`status.totalTasksCreated`); 0 or
    /// unset means unlimited. Cancelling is allowed even when it is exhausted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max_total_tasks: Option<i32>,
    /// When the spawner cancels its active Tasks: when their item no longer matches the source
    /// (`onSourceRemoved`) or gets a newer trigger (`onRetrigger`). Unset: never (Ignore,
    /// Ignore, 0), exactly the original behaviour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancellation_policy: Option<CancellationPolicy>,
}

fn default_poll_interval() -> String {
    "5m".to_string()
}

/// What to do with an active Task when its trigger condition changes. Case-sensitive.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum CancellationAction {
    /// Cancel the active Task.
    Cancel,
    /// Leave the Task running (the original Kelos behaviour).
    #[default]
    Ignore,
}

impl CancellationAction {
    pub fn is_cancel(self) -> bool {
        self == CancellationAction::Cancel
    }
}

/// When the spawner cancels active Tasks. The defaults (Ignore, Ignore, 0) change nothing.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CancellationPolicy {
    /// `Cancel` or `Ignore` (default): cancel an active Task whose item no longer matches the
    /// source (pull request closed or merged, issue closed, required label removed, excluded
    /// label added, ...). Decided only after a complete, successful discovery and a fresh look
    /// at the item itself. Not allowed with a cron source. Caveat: an agent that itself removes
    /// its item from discovery (closes it, adds an excluded label) may be cancelled by that.
    #[serde(default)]
    pub on_source_removed: CancellationAction,
    /// `Cancel` or `Ignore` (default): cancel an active Task when its item gets a newer trigger
    /// (an authorised trigger comment, a qualifying review, a new head commit on a pull
    /// request, the next cron tick) and create its replacement in the same cycle.
    #[serde(default)]
    pub on_retrigger: CancellationAction,
    /// Seconds a cancelled agent gets between SIGTERM and SIGKILL; 0 (default) stops it at
    /// once. The branch lock is held until the agent's pods are gone or this has passed.
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub grace_period_seconds: i32,
}

/// Template of spawned Tasks. `branch` and `promptTemplate` are Go templates over the work
/// item (`{{.Number}}`, `{{.Title}}`, `{{.Body}}`, `{{.URL}}`, ...).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskTemplate {
    /// Agent type of each Task: claude-code, codex, gemini, opencode or cursor.
    #[serde(rename = "type")]
    pub type_: AgentType,
    /// How each Task's agent authenticates: a credential type and the Secret holding the key.
    pub credentials: Credentials,
    /// Model each Task's agent uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Agent image override for each Task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Workspace cloned for each Task; required for GitHub sources, whose repository it also
    /// names unless the source sets `repo`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_ref: Option<WorkspaceReference>,
    /// AgentConfig injected into each Task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_config_ref: Option<AgentConfigReference>,
    /// Copied verbatim to each Task's `dependsOn`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depends_on: Option<Vec<String>>,
    /// Go template for each Task's branch, e.g. `kelos-task-{{.Number}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// Go template for each Task's prompt, e.g. `Fix issue #{{.Number}}: {{.Title}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_template: Option<String>,
    /// Copied to each Task's `ttlSecondsAfterFinished`: seconds after which a finished Task is
    /// deleted (which also lets its item be picked up again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub ttl_seconds_after_finished: Option<i32>,
    /// Copied to each Task's `podOverrides`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_overrides: Option<PodOverrides>,
    /// Upstream repository (`owner/repo`) of each Task; unset: derived from the source's `repo`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_repo: Option<String>,
}

/// TaskSpawnerStatus is the observed state of a TaskSpawner, written by the controller and the
/// spawner.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskSpawnerStatus {
    /// Pending, Running, Failed or Suspended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::phase::taskspawner_phase_schema")]
    pub phase: Option<TaskSpawnerPhase>,
    /// Name of the spawner Deployment (polling sources).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_name: Option<String>,
    /// Name of the spawner CronJob (cron sources).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron_job_name: Option<String>,
    /// Items found by the last discovery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::counter")]
    pub total_discovered: Option<i64>,
    /// Tasks created over the spawner's lifetime; checked against `maxTotalTasks`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::counter")]
    pub total_tasks_created: Option<i64>,
    /// Tasks the spawner's cancellation policy cancelled over its lifetime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::counter")]
    pub total_tasks_cancelled: Option<i64>,
    /// Non-terminal Tasks of this spawner right now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::counter")]
    pub active_tasks: Option<i64>,
    /// When discovery last succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_discovery_time: Option<Time>,
    /// Human-readable state, e.g. "Suspended by user".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Conditions keyed by type: Suspended, TaskBudgetExhausted and DiscoveryFailed (true while
    /// the last discovery failed, so nothing was cancelled; its message says why).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::conditions")]
    pub conditions: Option<Vec<Condition>>,
}

impl TaskSpawnerSpec {
    /// The policy with the documented defaults (Ignore, Ignore, 0) filled in.
    pub fn cancellation_policy(&self) -> CancellationPolicy {
        self.cancellation_policy.clone().unwrap_or_default()
    }

    pub fn is_suspended(&self) -> bool {
        self.suspend
    }

    pub fn is_cron(&self) -> bool {
        self.when.cron.is_some()
    }
}
