//! `Task`: one agent run in one Kubernetes Job.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{EnvVar, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{AgentConfigReference, SecretReference, WorkspaceReference};

/// The coding agent a Task runs. Selects the default image, the credential variable names and
/// the name of the agent container.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AgentType {
    ClaudeCode,
    Codex,
    Gemini,
    Opencode,
    Cursor,
}

impl AgentType {
    pub const ALL: [AgentType; 5] = [
        AgentType::ClaudeCode,
        AgentType::Codex,
        AgentType::Gemini,
        AgentType::Opencode,
        AgentType::Cursor,
    ];

    /// The JSON value, also the agent container's name.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentType::ClaudeCode => "claude-code",
            AgentType::Codex => "codex",
            AgentType::Gemini => "gemini",
            AgentType::Opencode => "opencode",
            AgentType::Cursor => "cursor",
        }
    }
}

impl std::fmt::Display for AgentType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the agent authenticates: with an API key or an OAuth token.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CredentialType {
    ApiKey,
    Oauth,
}

/// The agent's credentials.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Credentials {
    /// `api-key` or `oauth`; picks the environment variable the agent reads (for example
    /// `ANTHROPIC_API_KEY` or `CLAUDE_CODE_OAUTH_TOKEN` for claude-code).
    #[serde(rename = "type")]
    pub type_: CredentialType,
    /// Secret holding a key named exactly like that environment variable.
    pub secret_ref: SecretReference,
}

/// Customisation of the agent's pod.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodOverrides {
    /// Compute resources of the agent container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Deadline for the Job in seconds (Job `spec.activeDeadlineSeconds`). At least 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub active_deadline_seconds: Option<i64>,
    /// Extra environment variables for the agent container. Entries named like a built-in
    /// variable are dropped: built-ins win.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<EnvVar>>,
    /// Node selector of the agent pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<BTreeMap<String, String>>,
}

/// A Task runs one AI coding agent in a Kubernetes Job, optionally on a freshly cloned git
/// Workspace. The spec is immutable; cancel a running Task by setting `status.phase` to
/// `Cancelled` through the status subresource.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "kelos.dev",
    version = "v1alpha1",
    kind = "Task",
    namespaced,
    status = "TaskStatus",
    doc = "Task runs one AI coding agent in a Kubernetes Job. Cancel it by setting status.phase to Cancelled through the status subresource.",
    printcolumn = r#"{"name":"Type","type":"string","jsonPath":".spec.type"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Branch","type":"string","jsonPath":".spec.branch","priority":1}"#,
    printcolumn = r#"{"name":"Depends On","type":"string","jsonPath":".spec.dependsOn","priority":1}"#,
    printcolumn = r#"{"name":"Cancelled By","type":"string","jsonPath":".status.cancelledBy","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{"rule": "self == oldSelf", "message": "Task spec is immutable after creation"}]))]
pub struct TaskSpec {
    /// Agent type: claude-code, codex, gemini, opencode or cursor.
    #[serde(rename = "type")]
    pub type_: AgentType,
    /// The prompt given to the agent. With `dependsOn` it is a Go template over the
    /// dependencies' results, e.g. `{{index .Deps "scaffold" "Results" "branch"}}`.
    pub prompt: String,
    /// How the agent authenticates.
    pub credentials: Credentials,
    /// Model the agent uses (`KELOS_MODEL`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Agent image; defaults to the controller's image for the agent type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Workspace (git repository) cloned for the agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_ref: Option<WorkspaceReference>,
    /// AgentConfig (instructions, plugins, skills, MCP servers) injected into the agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_config_ref: Option<AgentConfigReference>,
    /// Names of Tasks in the same namespace that must succeed before this Task starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depends_on: Option<Vec<String>>,
    /// Git branch the agent works on. Tasks on the same workspace and branch run one at a time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// Upstream repository (`owner/repo`) for fork workflows (`KELOS_UPSTREAM_REPO`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_repo: Option<String>,
    /// Deletes the Task this many seconds after it finished (Succeeded, Failed or Cancelled).
    /// Unset: never deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub ttl_seconds_after_finished: Option<i32>,
    /// Customisation of the agent's pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_overrides: Option<PodOverrides>,
}

/// Lifecycle phase of a Task.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum TaskPhase {
    Pending,
    Running,
    Succeeded,
    Failed,
    Waiting,
    Cancelled,
}

impl TaskPhase {
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
}

impl std::fmt::Display for TaskPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Observed state of a Task.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "!has(oldSelf.phase) || !(oldSelf.phase in ['Succeeded', 'Failed', 'Cancelled']) || (has(self.phase) && self.phase == oldSelf.phase)",
    "message": "a Task in a terminal phase (Succeeded, Failed, Cancelled) cannot change phase"
}]))]
pub struct TaskStatus {
    /// Pending, Running, Succeeded, Failed, Waiting or Cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::task_phase")]
    pub phase: Option<TaskPhase>,
    /// Name of the Job running the agent (equals the Task name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_name: Option<String>,
    /// Name of the newest pod of the Job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_name: Option<String>,
    /// When the agent started running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    /// When the Task reached a terminal phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<Time>,
    /// Human-readable reason for the current phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Lines the agent printed between the output markers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Vec<String>>,
    /// `key: value` pairs parsed from the outputs (branch, pr, commit, cost-usd, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub results: Option<BTreeMap<String, String>>,
    /// Who cancelled the Task: `user`, or `spawner:<taskspawner-name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_by: Option<String>,
    /// Seconds the cancelled agent gets between SIGTERM and SIGKILL (0: at once). Written
    /// together with `phase: Cancelled`; unset means the pod's own termination grace period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub cancellation_grace_period_seconds: Option<i64>,
}

impl Task {
    /// The current phase, if any writer set one.
    pub fn phase(&self) -> Option<TaskPhase> {
        self.status.as_ref().and_then(|s| s.phase)
    }

    /// Whether the Task is Succeeded, Failed or Cancelled.
    pub fn is_terminal(&self) -> bool {
        self.phase().is_some_and(TaskPhase::is_terminal)
    }
}
