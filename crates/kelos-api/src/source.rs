//! `TaskSpawner.spec.when`: where work items come from (GitHub issues, GitHub pull requests, a
//! cron schedule, Jira) and the filters that decide which items get a Task.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::SecretReference;

const COMMENT_POLICY_EXCLUSIVE_RULE: &str = "!(has(self.commentPolicy) && ((has(self.triggerComment) && size(self.triggerComment) > 0) || (has(self.excludeComments) && size(self.excludeComments) > 0)))";

/// The source of work items. Set exactly one field; a TaskSpawner with `cron` runs its spawner
/// as a CronJob, any other source as a polling Deployment.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct When {
    /// Discover GitHub issues (and, with `types`, pull requests through the issues API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github_issues: Option<GitHubIssues>,
    /// Discover GitHub pull requests, with review-state, draft and head-commit awareness.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github_pull_requests: Option<GitHubPullRequests>,
    /// Create a Task on every tick of a cron schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<Cron>,
    /// Discover Jira issues with a JQL query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jira: Option<Jira>,
}

/// Item state filter, passed to GitHub's `state` query parameter.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum GitHubState {
    /// Only open items.
    #[default]
    Open,
    /// Only closed items.
    Closed,
    /// Open and closed items.
    All,
}

/// Which kinds of items the issues source discovers.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum GitHubItemType {
    /// Plain issues.
    Issues,
    /// Pull requests, as the issues API lists them.
    Pulls,
}

/// Review state filter for pull requests, evaluated on the current head commit.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewState {
    /// The latest reviews approve the head commit.
    Approved,
    /// A latest review requests changes on the head commit.
    ChangesRequested,
    /// No review filter.
    #[default]
    Any,
}

/// Least repository permission a commenter needs, ordered from least to most.
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

/// Which comments trigger or exclude an item, and who may write them. With no `allowedUsers`,
/// `allowedTeams` or `minimumPermission` everyone is authorised; otherwise comments by anyone
/// else are ignored. The latest authorised command wins.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitHubCommentPolicy {
    /// Command (e.g. `/kelos pick-up`) that, on a line of its own in an authorised comment or
    /// in the item's body, makes the item eligible; a newer one retriggers it. Case-sensitive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_comment: Option<String>,
    /// Commands (e.g. `/kelos needs-input`) that, on a line of their own in an authorised
    /// comment or in the item's body, exclude the item until a newer trigger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude_comments: Option<Vec<String>>,
    /// GitHub logins (case-insensitive) whose commands count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_users: Option<Vec<String>>,
    /// Teams, as `org/team-slug`, whose active members' commands count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_teams: Option<Vec<GitHubTeamRef>>,
    /// Least repository permission (read, triage, write, maintain or admin) whose holders'
    /// commands count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "minimum_permission_schema")]
    pub minimum_permission: Option<MinimumPermission>,
}

fn minimum_permission_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "string",
        "enum": ["read", "triage", "write", "maintain", "admin"]
    })
}

/// A GitHub team as `org/team-slug`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(transparent)]
pub struct GitHubTeamRef(#[schemars(regex(pattern = r"^[^/]+/[^/]+$"))] pub String);

/// Reporting Task progress back to the GitHub item.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitHubReporting {
    /// Post one comment per Task on its item (accepted, succeeded, failed, cancelled) and edit
    /// it as the Task moves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// Discovers GitHub issues (and, with `types: [pulls]`, pull requests through the issues API).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{"rule": COMMENT_POLICY_EXCLUSIVE_RULE, "message": "commentPolicy cannot be used with triggerComment or excludeComments"}]))]
pub struct GitHubIssues {
    /// Repository to watch, `owner/repo` or a URL; unset: the workspace's repository. Set it in
    /// a fork workflow to watch the upstream while cloning the fork.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    /// Item types to discover: `issues`, `pulls` or both. Default `[issues]`.
    #[serde(default = "default_item_types")]
    pub types: Vec<GitHubItemType>,
    /// Only items that carry all of these labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
    /// Skip items that carry any of these labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude_labels: Option<Vec<String>>,
    /// Item state: open (default), closed or all.
    #[serde(default)]
    pub state: GitHubState,
    /// Comment commands that trigger or exclude items, and who may use them. Cannot be
    /// combined with the deprecated `triggerComment` or `excludeComments`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment_policy: Option<GitHubCommentPolicy>,
    /// Deprecated, use `commentPolicy.triggerComment`: the same command, with no authorisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_comment: Option<String>,
    /// Deprecated, use `commentPolicy.excludeComments`: the same commands, with no
    /// authorisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude_comments: Option<Vec<String>>,
    /// Only items assigned to this login; `*` for any assignee, `none` for unassigned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    /// Only items opened by this login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Labels in priority order: when `maxConcurrency` limits creation, items with an earlier
    /// label get their Task first; items with none of them come last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_labels: Option<Vec<String>>,
    /// Report Task progress back to the item as a comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reporting: Option<GitHubReporting>,
    /// How often to poll (Go duration, e.g. `5m`); overrides the deprecated `spec.pollInterval`.
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
    /// Repository to watch, `owner/repo` or a URL; unset: the workspace's repository. Set it in
    /// a fork workflow to watch the upstream while cloning the fork.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    /// Only pull requests that carry all of these labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
    /// Skip pull requests that carry any of these labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude_labels: Option<Vec<String>>,
    /// Pull request state: open (default), closed or all.
    #[serde(default)]
    pub state: GitHubState,
    /// Review state filter: approved, changes_requested or any (default), judged on the
    /// reviews of the current head commit.
    #[serde(default)]
    pub review_state: ReviewState,
    /// Comment commands that trigger or exclude items, and who may use them. Cannot be
    /// combined with the deprecated `triggerComment` or `excludeComments`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment_policy: Option<GitHubCommentPolicy>,
    /// Deprecated, use `commentPolicy.triggerComment`: the same command, with no authorisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_comment: Option<String>,
    /// Deprecated, use `commentPolicy.excludeComments`: the same commands, with no
    /// authorisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude_comments: Option<Vec<String>>,
    /// Only pull requests opened by this login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// true: only drafts; false: only ready pull requests; unset: both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draft: Option<bool>,
    /// Labels in priority order: when `maxConcurrency` limits creation, items with an earlier
    /// label get their Task first; items with none of them come last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_labels: Option<Vec<String>>,
    /// Report Task progress back to the item as a comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reporting: Option<GitHubReporting>,
    /// How often to poll (Go duration, e.g. `5m`); overrides the deprecated `spec.pollInterval`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_interval: Option<String>,
}

/// Creates a Task on every tick of a schedule.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Cron {
    /// Cron schedule (five fields, UTC), e.g. `0 9 * * 1-5`; copied to the spawner CronJob.
    pub schedule: String,
}

/// Discovers Jira issues.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Jira {
    /// Base URL of the Jira instance, `http://` or `https://`, e.g. `https://example.atlassian.net`.
    #[schemars(regex(pattern = r"^https?://.+"))]
    pub base_url: String,
    /// Jira project key, e.g. `ENG`.
    pub project: String,
    /// Extra JQL that narrows the project's issues.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jql: Option<String>,
    /// Secret with key `JIRA_TOKEN` and, for Jira Cloud basic auth, `JIRA_USER`.
    pub secret_ref: SecretReference,
    /// How often to poll (Go duration, e.g. `5m`); overrides the deprecated `spec.pollInterval`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_interval: Option<String>,
}
