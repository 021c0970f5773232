//! `TaskSpawner`: discovers work (GitHub issues, pull requests, cron ticks, Jira) and creates
//! a Task for each item; with a `cancellationPolicy` it also cancels Tasks whose item went stale.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{AgentConfigReference, SecretReference, WorkspaceReference};
use crate::task::{AgentType, Credentials, PodOverrides};

const WORKSPACE_REQUIRED_RULE: &str = "!(has(self.when.githubIssues) || has(self.when.githubPullRequests)) || has(self.taskTemplate.workspaceRef)";
const NO_SOURCE_REMOVED_WITH_CRON_RULE: &str = "!(has(self.when.cron) && has(self.cancellationPolicy) && has(self.cancellationPolicy.onSourceRemoved) && self.cancellationPolicy.onSourceRemoved == 'Cancel')";
const COMMENT_POLICY_EXCLUSIVE_RULE: &str = "!(has(self.commentPolicy) && ((has(self.triggerComment) && size(self.triggerComment) > 0) || (has(self.excludeComments) && size(self.excludeComments) > 0)))";

/// A TaskSpawner watches a source (GitHub issues, GitHub pull requests, a cron schedule or
/// Jira) and creates a Task from `taskTemplate` for each discovered item.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "kelos.dev",
    version = "v1alpha1",
    kind = "TaskSpawner",
    namespaced,
    status = "TaskSpawnerStatus",
    doc = "TaskSpawner discovers work items (GitHub issues, pull requests, cron ticks, Jira issues) and creates a Task for each.",
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
    /// The source of work items. Set exactly one of its fields.
    pub when: When,
    /// Template of the Tasks this spawner creates.
    pub task_template: TaskTemplate,
    /// Deprecated: how often to poll; use the source's own `pollInterval`.
    #[serde(default = "default_poll_interval")]
    pub poll_interval: String,
    /// Most non-terminal Tasks at once; 0 or unset means unlimited. Cancelled Tasks do not count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max_concurrency: Option<i32>,
    /// Stops discovery, creation and cancellation while true (the spawner is scaled to zero).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = false))]
    pub suspend: Option<bool>,
    /// Most Tasks this spawner creates over its lifetime; 0 or unset means unlimited.
    /// Cancelling is allowed even when it is exhausted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub max_total_tasks: Option<i32>,
    /// When the spawner cancels active Tasks whose work item went stale. Unset: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancellation_policy: Option<CancellationPolicy>,
}

fn default_poll_interval() -> String {
    "5m".to_string()
}

/// What to do with an active Task when its trigger condition changes.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum CancellationAction {
    /// Cancel the active Task.
    Cancel,
    /// Leave the Task running (the original Kelos behaviour).
    #[default]
    Ignore,
}

/// When the spawner cancels active Tasks. The defaults (Ignore, Ignore, 0) change nothing.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CancellationPolicy {
    /// Cancel an active Task whose item no longer matches the source (pull request closed or
    /// merged, issue closed, required label removed, excluded label added, ...). Checked only
    /// after a complete, successful discovery and a fresh look at the item itself. Not allowed
    /// with a cron source.
    #[serde(default)]
    pub on_source_removed: CancellationAction,
    /// Cancel an active Task when its item gets a newer trigger (a trigger comment, a
    /// qualifying review, a new head commit on a pull request, the next cron tick), and create
    /// its replacement in the same cycle.
    #[serde(default)]
    pub on_retrigger: CancellationAction,
    /// Seconds a cancelled agent gets between SIGTERM and SIGKILL; 0 stops it at once.
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub grace_period_seconds: i32,
}

/// The source of work items.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct When {
    /// Discover GitHub issues.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github_issues: Option<GitHubIssues>,
    /// Discover GitHub pull requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github_pull_requests: Option<GitHubPullRequests>,
    /// Create a Task on a schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<Cron>,
    /// Discover Jira issues.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jira: Option<Jira>,
}

/// Item state filter.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum GitHubState {
    #[default]
    Open,
    Closed,
    All,
}

/// Which kinds of items the issues source discovers.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum GitHubItemType {
    Issues,
    Pulls,
}

/// Review state filter for pull requests, evaluated on the current head commit.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewState {
    Approved,
    ChangesRequested,
    #[default]
    Any,
}

/// Least repository permission a commenter needs.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum MinimumPermission {
    Read,
    Triage,
    Write,
    Maintain,
    Admin,
}

/// Who may trigger or exclude work through comments.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitHubCommentPolicy {
    /// A comment consisting of this command on a line of its own triggers the item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_comment: Option<String>,
    /// Comments with one of these commands on a line of their own exclude the item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude_comments: Option<Vec<String>>,
    /// GitHub logins allowed to trigger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_users: Option<Vec<String>>,
    /// Teams (`org/team-slug`) whose members may trigger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_teams: Option<Vec<GitHubTeamRef>>,
    /// Least repository permission (read, triage, write, maintain, admin) a commenter needs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "minimum_permission_schema")]
    pub minimum_permission: Option<MinimumPermission>,
}

fn minimum_permission_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "string",
        "enum": ["read", "triage", "write", "maintain", "admin"],
        "description": "Least repository permission (read, triage, write, maintain, admin) a commenter needs."
    })
}

/// A GitHub team as `org/team-slug`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(transparent)]
pub struct GitHubTeamRef(#[schemars(regex(pattern = r"^[^/]+/[^/]+$"))] pub String);

/// Reporting Task progress back to GitHub.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitHubReporting {
    /// Post one comment per Task on its item and edit it as the Task moves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// Discovers GitHub issues (and, with `types: [pulls]`, pull requests through the issues API).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{"rule": COMMENT_POLICY_EXCLUSIVE_RULE, "message": "commentPolicy cannot be used with triggerComment or excludeComments"}]))]
pub struct GitHubIssues {
    /// `owner/repo` or a URL; overrides the workspace's repository (fork workflow).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    /// Item types to discover: issues, pulls.
    #[serde(default = "default_item_types")]
    pub types: Vec<GitHubItemType>,
    /// Only items with all of these labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
    /// Skip items with any of these labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude_labels: Option<Vec<String>>,
    /// open, closed or all.
    #[serde(default)]
    pub state: GitHubState,
    /// Who may trigger work through comments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment_policy: Option<GitHubCommentPolicy>,
    /// Deprecated: use commentPolicy.triggerComment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_comment: Option<String>,
    /// Deprecated: use commentPolicy.excludeComments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude_comments: Option<Vec<String>>,
    /// Assignee login; `*` for any assignee, `none` for unassigned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    /// Author login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Labels in priority order, used when maxConcurrency limits creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_labels: Option<Vec<String>>,
    /// Report Task progress back to GitHub.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reporting: Option<GitHubReporting>,
    /// How often to poll, e.g. `5m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_interval: Option<String>,
}

fn default_item_types() -> Vec<GitHubItemType> {
    vec![GitHubItemType::Issues]
}

/// Discovers GitHub pull requests.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{"rule": COMMENT_POLICY_EXCLUSIVE_RULE, "message": "commentPolicy cannot be used with triggerComment or excludeComments"}]))]
pub struct GitHubPullRequests {
    /// `owner/repo` or a URL; overrides the workspace's repository (fork workflow).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    /// Only pull requests with all of these labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
    /// Skip pull requests with any of these labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude_labels: Option<Vec<String>>,
    /// open, closed or all.
    #[serde(default)]
    pub state: GitHubState,
    /// approved, changes_requested or any, judged on the current head commit's reviews.
    #[serde(default)]
    pub review_state: ReviewState,
    /// Who may trigger work through comments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment_policy: Option<GitHubCommentPolicy>,
    /// Deprecated: use commentPolicy.triggerComment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_comment: Option<String>,
    /// Deprecated: use commentPolicy.excludeComments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude_comments: Option<Vec<String>>,
    /// Author login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// true: only drafts; false: only ready pull requests; unset: both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draft: Option<bool>,
    /// Labels in priority order, used when maxConcurrency limits creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_labels: Option<Vec<String>>,
    /// Report Task progress back to GitHub.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reporting: Option<GitHubReporting>,
    /// How often to poll, e.g. `5m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_interval: Option<String>,
}

/// Creates a Task on a schedule.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Cron {
    /// Five-field cron schedule in UTC, e.g. `0 9 * * 1-5`.
    pub schedule: String,
}

/// Discovers Jira issues.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Jira {
    /// Jira base URL, `http://` or `https://`.
    #[schemars(regex(pattern = r"^https?://.+"))]
    pub base_url: String,
    /// Jira project key.
    pub project: String,
    /// Extra JQL filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jql: Option<String>,
    /// Secret with `JIRA_TOKEN` and optionally `JIRA_USER`.
    pub secret_ref: SecretReference,
    /// How often to poll, e.g. `5m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_interval: Option<String>,
}

/// Template of spawned Tasks.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskTemplate {
    /// Agent type: claude-code, codex, gemini, opencode or cursor.
    #[serde(rename = "type")]
    pub type_: AgentType,
    /// How the agent authenticates.
    pub credentials: Credentials,
    /// Model the agent uses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Agent image override.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Workspace cloned for each Task; required for GitHub sources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_ref: Option<WorkspaceReference>,
    /// AgentConfig injected into each Task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_config_ref: Option<AgentConfigReference>,
    /// Copied verbatim to each Task's dependsOn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depends_on: Option<Vec<String>>,
    /// Go template for each Task's branch, e.g. `kelos-task-{{.Number}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// Go template for each Task's prompt, e.g. `Fix issue #{{.Number}}: {{.Title}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_template: Option<String>,
    /// Copied to each Task's ttlSecondsAfterFinished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub ttl_seconds_after_finished: Option<i32>,
    /// Copied to each Task's podOverrides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_overrides: Option<PodOverrides>,
    /// Upstream repository (`owner/repo`); defaults to the source's `repo`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_repo: Option<String>,
}

/// Observed state of a TaskSpawner.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskSpawnerStatus {
    /// Pending, Running, Failed or Suspended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// The spawner Deployment (polling sources).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_name: Option<String>,
    /// The spawner CronJob (cron sources).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron_job_name: Option<String>,
    /// Items found by the last discovery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_discovered: Option<i64>,
    /// Tasks created over the spawner's lifetime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_tasks_created: Option<i64>,
    /// Tasks cancelled by the spawner over its lifetime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_tasks_cancelled: Option<i64>,
    /// Non-terminal Tasks right now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_tasks: Option<i64>,
    /// When discovery last succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_discovery_time: Option<Time>,
    /// Human-readable state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Suspended, TaskBudgetExhausted, DiscoveryFailed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::schema::conditions")]
    pub conditions: Option<Vec<Condition>>,
}

impl TaskSpawnerSpec {
    /// The source's workspace, agent type and so on are in the template; this is the policy
    /// with the documented defaults filled in.
    pub fn cancellation_policy(&self) -> CancellationPolicy {
        self.cancellation_policy.clone().unwrap_or_default()
    }

    pub fn is_suspended(&self) -> bool {
        self.suspend == Some(true)
    }

    pub fn is_cron(&self) -> bool {
        self.when.cron.is_some()
    }
}
