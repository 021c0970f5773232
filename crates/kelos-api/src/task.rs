//! `Task`: one agent run in one Kubernetes Job.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{EnvVar, ResourceRequirements};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{AgentConfigReference, SecretReference, WorkspaceReference};
pub use crate::phase::TaskPhase;

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

impl CredentialType {
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialType::ApiKey => "api-key",
            CredentialType::Oauth => "oauth",
        }
    }
}

/// The agent's credentials.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Credentials {
    /// `api-key` or `oauth`. Picks the environment variable the agent reads its secret from:
    /// claude-code `ANTHROPIC_API_KEY` / `CLAUDE_CODE_OAUTH_TOKEN`, codex `CODEX_API_KEY` /
    /// `CODEX_AUTH_JSON`, gemini `GEMINI_API_KEY`, opencode `OPENCODE_API_KEY`, cursor
    /// `CURSOR_API_KEY`.
    #[serde(rename = "type")]
    pub type_: CredentialType,
    /// Secret in the Task's namespace holding a key named exactly like that environment
    /// variable (for example `ANTHROPIC_API_KEY`).
    pub secret_ref: SecretReference,
}

/// Customisation of the agent's pod.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodOverrides {
    /// Compute resources (requests, limits) of the agent container, copied verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Deadline of the Job in seconds (the Job's `spec.activeDeadlineSeconds`); the agent is
    /// stopped and the Task fails when it is exceeded. At least 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub active_deadline_seconds: Option<i64>,
    /// Extra environment variables for the agent container. Entries named like a built-in
    /// variable (`KELOS_*`, the credential variables, `GITHUB_TOKEN`, ...) are dropped:
    /// built-ins win.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<EnvVar>>,
    /// Node selector of the agent pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<BTreeMap<String, String>>,
}

/// TaskSpec is what a Task runs. It is immutable after creation; cancel a Task by setting
/// `status.phase` to `Cancelled` through the status subresource.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "kelos.dev",
    version = "v1alpha1",
    kind = "Task",
    namespaced,
    status = "TaskStatus",
    doc = "Task runs one AI coding agent (Claude Code, Codex, Gemini, OpenCode, Cursor or a custom image) in a Kubernetes Job, optionally on a freshly cloned git Workspace. Cancel it by setting status.phase to Cancelled through the status subresource.",
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
    /// Agent type: claude-code, codex, gemini, opencode or cursor. Selects the default image
    /// and the credential variable names; it is also the agent container's name.
    #[serde(rename = "type")]
    pub type_: AgentType,
    /// The prompt given to the agent. With `dependsOn` it is a Go template over the
    /// dependencies' outputs, e.g. `{{index .Deps "scaffold" "Results" "branch"}}`.
    pub prompt: String,
    /// How the agent authenticates: a credential type and the Secret holding the key or token.
    pub credentials: Credentials,
    /// Model the agent uses (`KELOS_MODEL`); unset: the agent's own default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Agent image; unset: the controller's image for the agent type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Workspace (git repository) cloned into the pod before the agent starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_ref: Option<WorkspaceReference>,
    /// AgentConfig (instructions, plugins, skills, MCP servers) injected into the agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_config_ref: Option<AgentConfigReference>,
    /// Names of Tasks in the same namespace that must succeed before this Task starts; the
    /// Task waits (phase Waiting) until then and fails if one of them fails or is cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depends_on: Option<Vec<String>>,
    /// Git branch the agent works on (`KELOS_BRANCH`). Tasks on the same workspace and branch
    /// run one at a time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// Upstream repository (`owner/repo`) for fork workflows (`KELOS_UPSTREAM_REPO`); used only
    /// with a workspace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_repo: Option<String>,
    /// Deletes the Task this many seconds after it finished (Succeeded, Failed or Cancelled),
    /// counted from `status.completionTime`. Unset: never deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub ttl_seconds_after_finished: Option<i32>,
    /// Customisation of the agent's pod: resources, deadline, env, node selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_overrides: Option<PodOverrides>,
}

/// TaskStatus is the observed state of a Task. Writers condition every write on what they read;
/// the schema refuses any write that moves a Task out of a terminal phase.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": crate::phase::terminal_phase_rule(),
    "message": crate::phase::terminal_phase_message(),
}]))]
pub struct TaskStatus {
    /// Pending, Running, Succeeded, Failed, Waiting or Cancelled. Succeeded, Failed and
    /// Cancelled are terminal: once reached, the phase never changes. Set `Cancelled` (with
    /// `cancelledBy` and `message`) through the status subresource to cancel the Task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::phase::task_phase_schema")]
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
    /// When the Task reached a terminal phase; the TTL counts from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<Time>,
    /// Human-readable reason for the current phase (for a cancelled Task: why it was cancelled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Lines the agent printed between the `---KELOS_OUTPUTS_START---` and
    /// `---KELOS_OUTPUTS_END---` markers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Vec<String>>,
    /// `key: value` pairs parsed from the outputs (branch, pr, commit, cost-usd, ...); dependent
    /// Tasks read them as `{{index .Deps "<task>" "Results" "<key>"}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub results: Option<BTreeMap<String, String>>,
    /// Who cancelled the Task: `user` for people (filled in by the controller when a writer
    /// leaves it empty), `spawner:<taskspawner-name>` for a TaskSpawner's cancellation policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_by: Option<String>,
    /// Seconds the cancelled agent gets between SIGTERM and SIGKILL (0: killed at once), written
    /// together with `phase: Cancelled`. Unset: the pod's own terminationGracePeriodSeconds.
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
