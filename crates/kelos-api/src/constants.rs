//! Every label, annotation, finalizer, condition, event reason and field-manager name the
//! controller and the spawner share. Nothing else in the project spells these strings.

/// API group and version of every Kelos kind.
pub const GROUP: &str = "kelos.dev";
pub const VERSION: &str = "v1alpha1";
pub const API_VERSION: &str = "kelos.dev/v1alpha1";

// Finalizers.
pub const TASK_FINALIZER: &str = "kelos.dev/finalizer";
pub const TASKSPAWNER_FINALIZER: &str = "kelos.dev/taskspawner-finalizer";

// Field managers for server-side apply; never shared, so neither drops the other's fields.
pub const CONTROLLER_FIELD_MANAGER: &str = "kelos-controller";
pub const SPAWNER_FIELD_MANAGER: &str = "kelos-spawner";

// Recommended labels on Jobs, pods and spawner workloads.
pub const LABEL_APP_NAME: &str = "app.kubernetes.io/name";
pub const LABEL_APP_COMPONENT: &str = "app.kubernetes.io/component";
pub const LABEL_APP_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const APP_NAME: &str = "kelos";
pub const COMPONENT_TASK: &str = "task";
pub const COMPONENT_SPAWNER: &str = "spawner";
pub const MANAGED_BY_CONTROLLER: &str = "kelos-controller";

/// On Jobs and pods: the Task they run.
pub const LABEL_TASK: &str = "kelos.dev/task";
/// On spawned Tasks and spawner workloads: the TaskSpawner they belong to.
pub const LABEL_TASKSPAWNER: &str = "kelos.dev/taskspawner";
/// On spawned Tasks: the source item's identity (`issue-12`, `pr-7`, `cron-<tick>`), a valid
/// label value, so the spawner matches Tasks to items by selector, never by parsing names.
pub const LABEL_SOURCE_ITEM: &str = "kelos.dev/source-item";

// Annotations on spawned Tasks (the original's names).
pub const ANNOTATION_SOURCE_KIND: &str = "kelos.dev/source-kind";
pub const ANNOTATION_SOURCE_NUMBER: &str = "kelos.dev/source-number";
pub const ANNOTATION_GITHUB_REPORTING: &str = "kelos.dev/github-reporting";
pub const ANNOTATION_GITHUB_COMMENT_ID: &str = "kelos.dev/github-comment-id";
pub const ANNOTATION_GITHUB_REPORT_PHASE: &str = "kelos.dev/github-report-phase";
/// On spawned Tasks: RFC 3339 time of the trigger (comment, review, head commit, cron tick)
/// the Task was created for; a newer trigger retriggers, the same one never does.
pub const ANNOTATION_TRIGGER_TIME: &str = "kelos.dev/trigger-time";
/// On spawned pull-request Tasks: the head commit the Task was created for.
pub const ANNOTATION_HEAD_SHA: &str = "kelos.dev/head-sha";

/// Set by the controller once a Task's completion was counted in
/// `kelos_task_completed_total`, so a restarted controller never counts it again.
pub const ANNOTATION_COMPLETION_RECORDED: &str = "kelos.dev/completion-recorded";

pub const SOURCE_KIND_ISSUE: &str = "issue";
pub const SOURCE_KIND_PULL_REQUEST: &str = "pull-request";

/// `status.cancelledBy` for a person (filled in by the controller when a writer leaves it empty).
pub const CANCELLED_BY_USER: &str = "user";
/// `status.cancelledBy` prefix for a spawner: `spawner:<taskspawner-name>`.
pub const CANCELLED_BY_SPAWNER_PREFIX: &str = "spawner:";

/// `status.cancelledBy` value the spawner writes.
pub fn cancelled_by_spawner(taskspawner: &str) -> String {
    format!("{CANCELLED_BY_SPAWNER_PREFIX}{taskspawner}")
}

// TaskSpawner condition types.
pub const CONDITION_SUSPENDED: &str = "Suspended";
pub const CONDITION_TASK_BUDGET_EXHAUSTED: &str = "TaskBudgetExhausted";
/// True while the last discovery failed; its message says why nothing was cancelled.
pub const CONDITION_DISCOVERY_FAILED: &str = "DiscoveryFailed";

// Task event reasons (the original's names, plus TaskCancelled).
pub const REASON_BRANCH_WITHOUT_WORKSPACE: &str = "BranchWithoutWorkspace";
pub const REASON_GITHUB_TOKEN_FAILED: &str = "GitHubTokenFailed";
pub const REASON_MCP_SECRET_FAILED: &str = "MCPSecretFailed";
pub const REASON_JOB_BUILD_FAILED: &str = "JobBuildFailed";
pub const REASON_TASK_CREATED: &str = "TaskCreated";
pub const REASON_TASK_RUNNING: &str = "TaskRunning";
pub const REASON_TASK_SUCCEEDED: &str = "TaskSucceeded";
pub const REASON_TASK_FAILED: &str = "TaskFailed";
pub const REASON_TASK_CANCELLED: &str = "TaskCancelled";
pub const REASON_OUTPUTS_CAPTURED: &str = "OutputsCaptured";
pub const REASON_TASK_EXPIRED: &str = "TaskExpired";
pub const REASON_DEPENDENCY_FAILED: &str = "DependencyFailed";

// TaskSpawner event reasons.
pub const REASON_DEPLOYMENT_CREATED: &str = "DeploymentCreated";
pub const REASON_DEPLOYMENT_UPDATED: &str = "DeploymentUpdated";
pub const REASON_CRONJOB_CREATED: &str = "CronJobCreated";
pub const REASON_CRONJOB_UPDATED: &str = "CronJobUpdated";
pub const REASON_WORKSPACE_NOT_FOUND: &str = "WorkspaceNotFound";
