//! What discovery hands to the planner: complete item sets, or an error.

use chrono::{DateTime, Utc};

/// Where an item came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SourceKind {
    Issue,
    PullRequest,
    CronTick,
    Jira,
}

/// One discovered unit of work: an issue, a pull request, a cron tick or a Jira issue.
/// Field names follow the original's `WorkItem`; the string fields are the template variables.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WorkItem {
    /// `{{.ID}}`: issue or pull request number, cron `YYYYMMDD-HHMM`, Jira key.
    pub id: String,
    pub source: Option<SourceKind>,
    /// `{{.Number}}`: GitHub number; 0 for cron.
    pub number: i64,
    pub title: String,
    pub body: String,
    pub url: String,
    /// Label names; `{{.Labels}}` renders them joined with ", ".
    pub labels: Vec<String>,
    /// `{{.Comments}}`: the item's comments, concatenated as the original does.
    pub comments: String,
    /// `{{.Kind}}`: "Issue" or "PR" for GitHub, the issue type for Jira, "" for cron.
    pub kind: String,
    /// `{{.Branch}}`: a pull request's head branch.
    pub branch: String,
    /// `{{.ReviewState}}`: "approved", "changes_requested" or "".
    pub review_state: String,
    /// `{{.ReviewComments}}`: inline review comments on the head commit.
    pub review_comments: String,
    /// `{{.Time}}`: the cron tick, RFC 3339.
    pub time: String,
    /// `{{.Schedule}}`: the cron expression.
    pub schedule: String,
    /// Latest trigger (authorised trigger comment, qualifying review, cron tick). Not a
    /// template variable. Comments written by the spawner's own reporting or by the agent's
    /// identity never count.
    pub trigger_time: Option<DateTime<Utc>>,
    /// A pull request's current head commit (retrigger under `onRetrigger: Cancel`).
    pub head_sha: Option<String>,
}

/// Why a discovery is not complete. Any of these means: no removal decisions this cycle.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("GitHub answered {status} for {url}: {message}")]
    Status {
        status: u16,
        url: String,
        message: String,
    },
    #[error("GitHub rate limit exhausted for {url}; retry after {retry_after_secs}s")]
    RateLimited { url: String, retry_after_secs: u64 },
    #[error("malformed response from {url}: {reason}")]
    Malformed { url: String, reason: String },
    #[error("request to {url} failed: {reason}")]
    Transport { url: String, reason: String },
    #[error(
        "listing {url} was cut short after {pages} pages; refusing to treat missing items as removed"
    )]
    Truncated { url: String, pages: usize },
    #[error("invalid source configuration: {0}")]
    Config(String),
}

impl DiscoveryError {
    /// Low-cardinality label for `kelos_spawner_discovery_errors_total{kind}`.
    pub fn kind(&self) -> &'static str {
        match self {
            DiscoveryError::Status { .. } => "status",
            DiscoveryError::RateLimited { .. } => "rate_limited",
            DiscoveryError::Malformed { .. } => "malformed",
            DiscoveryError::Transport { .. } => "transport",
            DiscoveryError::Truncated { .. } => "truncated",
            DiscoveryError::Config(_) => "config",
        }
    }
}

/// Result of looking at one item again before cancelling its Task (positive verification).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recheck {
    /// The item still passes every filter: absence from the listing was not proof.
    StillMatches,
    /// The item now fails the filters; the reason goes into the Task's `status.message`,
    /// e.g. "pull request #7 was closed", "label kelos/work was removed from issue #12".
    NoLongerMatches { reason: String },
}
