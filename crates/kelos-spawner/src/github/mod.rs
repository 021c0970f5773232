//! GitHub discovery: the `githubIssues` and `githubPullRequests` sources, positive
//! verification of single items before a source-removed cancellation, and the comment calls
//! reporting needs.
//!
//! Discovery returns a **complete** item set or an error: every page and every per-item
//! sub-request (comments, reviews, permissions, team memberships) answered well-formed 2xx
//! JSON (or 304 with a cached body) and no listing hit the page cap. Anything else —
//! a status error, a rate limit, a timeout or dropped connection, a `null` or malformed body,
//! a truncated listing — is a [`DiscoveryError`] and means "no removal decisions this cycle".
//!
//! ```no_run
//! # async fn demo(spec: &kelos_api::TaskSpawnerSpec) -> Result<(), kelos_spawner::item::DiscoveryError> {
//! use std::sync::Arc;
//! use kelos_spawner::github::{GitHubClient, GitHubConfig, GitHubSource, TokenSource};
//! let client = Arc::new(GitHubClient::new(
//!     GitHubConfig::new("acme", "widgets", TokenSource::from_flags(None))
//!         .base_url("https://ghe.example.com/api/v3"),
//! )?);
//! let source = GitHubSource::from_spec(spec, client.clone())?;
//! let items = source.discover().await?;          // complete, or Err
//! let verdict = source.recheck("12").await?;     // before cancelling a Task for item 12
//! let id = client.create_comment(12, "status").await?;
//! client.update_comment(id, "new status").await?;
//! if let Some(wait) = client.rate_limit_wait() { tokio::time::sleep(wait).await }
//! # let _ = (items, verdict); Ok(()) }
//! ```

mod client;
pub mod content;
mod etag;
pub mod issues;
pub mod model;
pub mod policy;
pub mod pulls;
mod token;

use std::sync::Arc;

pub use client::{DEFAULT_BASE_URL, GitHubClient, GitHubConfig, MAX_PAGES, PER_PAGE};
pub use content::sort_by_label_priority;
pub use issues::IssuesFilter;
pub use policy::CommentPolicy;
pub use pulls::PullsFilter;
pub use token::{GITHUB_TOKEN_ENV, TokenSource};

use crate::item::{DiscoveryError, Recheck, WorkItem};
use kelos_api::TaskSpawnerSpec;
use policy::PolicyOutcome;

/// Put this in the body of every comment the spawner's reporting writes. Comments containing
/// it never count as trigger or exclude commands, so a status comment can never retrigger or
/// pause the Task it reports on.
pub const REPORT_MARKER: &str = "<!-- kelos-spawner-report -->";

/// Why an item fails a (non-comment) filter; [`describe`](Mismatch::describe) makes the
/// `status.message` text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mismatch {
    Closed,
    Merged,
    Reopened,
    Type(&'static str),
    LabelRemoved(String),
    ExcludedLabel(String),
    Unassigned,
    Assigned(String),
    NotAssignedTo(String),
    Author { wanted: String, actual: String },
    Draft,
    NotDraft,
}

impl Mismatch {
    /// `what` is e.g. "issue #12" or "pull request #7".
    pub fn describe(&self, what: &str) -> String {
        match self {
            Mismatch::Closed => format!("{what} was closed"),
            Mismatch::Merged => format!("{what} was merged"),
            Mismatch::Reopened => format!("{what} was reopened"),
            Mismatch::Type(why) => format!("{what} is not discovered: {why}"),
            Mismatch::LabelRemoved(l) => format!("label {l} was removed from {what}"),
            Mismatch::ExcludedLabel(l) => format!("excluded label {l} was added to {what}"),
            Mismatch::Unassigned => format!("{what} is no longer assigned to anyone"),
            Mismatch::Assigned(who) => format!("{what} was assigned to {who}"),
            Mismatch::NotAssignedTo(who) => format!("{what} is no longer assigned to {who}"),
            Mismatch::Author { wanted, actual } => {
                format!("author of {what} is {actual}, not {wanted}")
            }
            Mismatch::Draft => format!("{what} is a draft"),
            Mismatch::NotDraft => format!("{what} is no longer a draft"),
        }
    }
}

/// The recheck reason for a comment-policy outcome that no longer allows the item.
pub(crate) fn policy_reason(outcome: &PolicyOutcome, what: &str) -> Option<String> {
    match outcome {
        PolicyOutcome::Allowed { .. } => None,
        PolicyOutcome::Excluded {
            command,
            in_body: false,
        } => Some(format!("exclude comment {command} was posted on {what}")),
        PolicyOutcome::Excluded {
            command,
            in_body: true,
        } => Some(format!(
            "the description of {what} contains the exclude command {command}"
        )),
        PolicyOutcome::NoTrigger { command } => Some(format!(
            "{what} has no authorised trigger comment {command}"
        )),
    }
}

/// Encodes a query value as Go's `url.QueryEscape` does.
pub(crate) fn query_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Which GitHub source a TaskSpawner uses, with its resolved filters.
#[derive(Clone, Debug, PartialEq)]
pub enum GitHubFilter {
    Issues(IssuesFilter),
    PullRequests(PullsFilter),
}

/// A TaskSpawner's GitHub source bound to a client.
#[derive(Clone, Debug)]
pub struct GitHubSource {
    client: Arc<GitHubClient>,
    filter: GitHubFilter,
}

impl GitHubSource {
    /// The spec's `githubIssues` source, else its `githubPullRequests` source (the original's
    /// order). `Config` error when it has neither, or when the comment policy is invalid
    /// (`commentPolicy` mixed with legacy fields, a team without `/`).
    pub fn from_spec(
        spec: &TaskSpawnerSpec,
        client: Arc<GitHubClient>,
    ) -> Result<Self, DiscoveryError> {
        let filter = if let Some(s) = &spec.when.github_issues {
            GitHubFilter::Issues(IssuesFilter::from_spec(s)?)
        } else if let Some(s) = &spec.when.github_pull_requests {
            GitHubFilter::PullRequests(PullsFilter::from_spec(s)?)
        } else {
            return Err(DiscoveryError::Config(
                "the TaskSpawner has no githubIssues or githubPullRequests source".into(),
            ));
        };
        Ok(GitHubSource { client, filter })
    }

    pub fn new(client: Arc<GitHubClient>, filter: GitHubFilter) -> Self {
        GitHubSource { client, filter }
    }

    pub fn client(&self) -> &Arc<GitHubClient> {
        &self.client
    }

    pub fn filter(&self) -> &GitHubFilter {
        &self.filter
    }

    pub fn priority_labels(&self) -> &[String] {
        match &self.filter {
            GitHubFilter::Issues(f) => &f.priority_labels,
            GitHubFilter::PullRequests(f) => &f.priority_labels,
        }
    }

    /// Every item that passes the filters, in discovery order (issues: GitHub's default,
    /// newest first; pull requests: recently updated first), then stably sorted by
    /// `priorityLabels`. Because the sort is stable, filtering this list keeps the priority
    /// order. A complete set, or an error.
    pub async fn discover(&self) -> Result<Vec<WorkItem>, DiscoveryError> {
        let mut items = match &self.filter {
            GitHubFilter::Issues(f) => issues::discover(&self.client, f).await?,
            GitHubFilter::PullRequests(f) => pulls::discover(&self.client, f).await?,
        };
        sort_by_label_priority(&mut items, self.priority_labels());
        Ok(items)
    }

    /// Positive verification before a source-removed cancellation: fetches item `item_id`
    /// itself and says whether it still passes every filter (with the reason when it does
    /// not). A 404 or any other failure is an error: cancel nothing.
    pub async fn recheck(&self, item_id: &str) -> Result<Recheck, DiscoveryError> {
        let number: u64 = item_id.trim().parse().map_err(|_| {
            DiscoveryError::Config(format!(
                "{item_id:?} is not a GitHub issue or pull request number"
            ))
        })?;
        match &self.filter {
            GitHubFilter::Issues(f) => issues::recheck(&self.client, f, number).await,
            GitHubFilter::PullRequests(f) => pulls::recheck(&self.client, f, number).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_escaped_like_go() {
        assert_eq!(
            query_value("kelos/work,good first issue"),
            "kelos%2Fwork%2Cgood+first+issue"
        );
        assert_eq!(query_value("*"), "%2A");
    }
}
