//! The parts of GitHub's REST JSON the spawner reads. Fields the spawner relies on are
//! required, so a body missing them is `Malformed`, never silently empty.

use chrono::{DateTime, Utc};
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
pub struct User {
    pub login: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Label {
    pub name: String,
}

/// An item of `GET /repos/{o}/{r}/issues` or `GET /repos/{o}/{r}/issues/{n}`.
#[derive(Clone, Debug, Deserialize)]
pub struct Issue {
    pub number: u64,
    pub title: String,
    #[serde(default)]
    pub body: Option<String>,
    pub state: String,
    pub html_url: String,
    pub labels: Vec<Label>,
    /// `null` for a deleted ("ghost") account on some endpoints.
    pub user: Option<User>,
    #[serde(default)]
    pub assignees: Option<Vec<User>>,
    #[serde(default)]
    pub assignee: Option<User>,
    /// Present (an object) when the issue is a pull request.
    #[serde(default)]
    pub pull_request: Option<serde_json::Value>,
}

impl Issue {
    pub fn is_pull_request(&self) -> bool {
        self.pull_request.as_ref().is_some_and(|v| !v.is_null())
    }

    pub fn author(&self) -> &str {
        self.user.as_ref().map_or("", |u| u.login.as_str())
    }

    pub fn label_names(&self) -> Vec<String> {
        self.labels.iter().map(|l| l.name.clone()).collect()
    }

    pub fn assignee_logins(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .assignees
            .iter()
            .flatten()
            .map(|u| u.login.clone())
            .collect();
        if let Some(a) = &self.assignee
            && !out.iter().any(|l| l.eq_ignore_ascii_case(&a.login))
        {
            out.push(a.login.clone());
        }
        out
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct GitRef {
    #[serde(rename = "ref")]
    pub ref_: String,
    pub sha: String,
}

/// An item of `GET /repos/{o}/{r}/pulls` or `GET /repos/{o}/{r}/pulls/{n}`.
#[derive(Clone, Debug, Deserialize)]
pub struct PullRequest {
    pub number: u64,
    pub title: String,
    #[serde(default)]
    pub body: Option<String>,
    pub state: String,
    pub html_url: String,
    pub labels: Vec<Label>,
    pub user: Option<User>,
    #[serde(default)]
    pub draft: Option<bool>,
    pub head: GitRef,
    #[serde(default)]
    pub merged_at: Option<String>,
    /// Only on the single-pull endpoint.
    #[serde(default)]
    pub merged: Option<bool>,
}

impl PullRequest {
    pub fn author(&self) -> &str {
        self.user.as_ref().map_or("", |u| u.login.as_str())
    }

    pub fn label_names(&self) -> Vec<String> {
        self.labels.iter().map(|l| l.name.clone()).collect()
    }

    pub fn is_draft(&self) -> bool {
        self.draft.unwrap_or(false)
    }

    pub fn is_merged(&self) -> bool {
        self.merged == Some(true) || self.merged_at.as_deref().is_some_and(|m| !m.is_empty())
    }
}

/// An issue (conversation) comment.
#[derive(Clone, Debug, Deserialize)]
pub struct IssueComment {
    pub id: u64,
    #[serde(default)]
    pub body: Option<String>,
    pub user: Option<User>,
    pub created_at: String,
}

/// A pull request review.
#[derive(Clone, Debug, Deserialize)]
pub struct Review {
    pub id: u64,
    pub user: Option<User>,
    #[serde(default)]
    pub body: Option<String>,
    pub state: String,
    #[serde(default)]
    pub commit_id: Option<String>,
    #[serde(default)]
    pub submitted_at: Option<String>,
}

/// An inline review comment.
#[derive(Clone, Debug, Deserialize)]
pub struct ReviewComment {
    pub id: u64,
    pub user: Option<User>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub line: Option<u64>,
    #[serde(default)]
    pub commit_id: Option<String>,
    pub created_at: String,
}

/// `GET /repos/{o}/{r}/collaborators/{login}/permission`.
#[derive(Clone, Debug, Deserialize)]
pub struct CollaboratorPermission {
    #[serde(default)]
    pub permission: Option<String>,
    #[serde(default)]
    pub role_name: Option<String>,
}

/// `GET /orgs/{org}/teams/{slug}/memberships/{login}`.
#[derive(Clone, Debug, Deserialize)]
pub struct TeamMembership {
    pub state: String,
}

/// A created or updated comment (`POST`/`PATCH` answers).
#[derive(Clone, Debug, Deserialize)]
pub struct CommentRef {
    pub id: u64,
}

/// Parses GitHub's RFC 3339 timestamps.
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn user_login(u: &Option<User>) -> &str {
    u.as_ref().map_or("", |u| u.login.as_str())
}

impl IssueComment {
    pub fn author(&self) -> &str {
        user_login(&self.user)
    }
}

impl Review {
    pub fn author(&self) -> &str {
        user_login(&self.user)
    }
}

impl ReviewComment {
    pub fn author(&self) -> &str {
        user_login(&self.user)
    }
}
