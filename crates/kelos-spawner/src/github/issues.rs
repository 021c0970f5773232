//! `githubIssues` (spawner-reference §2.1): `GET /repos/{o}/{r}/issues` with the server-side
//! filters, the client-side ones, and every surviving item's comments.

use futures::{StreamExt, TryStreamExt, stream};
use kelos_api::{GitHubIssues, GitHubItemType, GitHubState};

use super::client::{GitHubClient, PER_PAGE};
use super::content::{concat_comment_bodies, has_label};
use super::model::{Issue, IssueComment, parse_time};
use super::policy::{Authorizer, CommentPolicy, PolicyComment, PolicyOutcome, evaluate};
use super::{Mismatch, query_value};
use crate::item::{DiscoveryError, Recheck, SourceKind, WorkItem};

/// The resolved `githubIssues` filters.
#[derive(Clone, Debug, PartialEq)]
pub struct IssuesFilter {
    pub want_issues: bool,
    pub want_pulls: bool,
    pub labels: Vec<String>,
    pub exclude_labels: Vec<String>,
    pub state: GitHubState,
    /// Login, `*` (any assignee) or `none` (unassigned).
    pub assignee: Option<String>,
    pub author: Option<String>,
    pub policy: CommentPolicy,
    pub priority_labels: Vec<String>,
}

fn non_empty(v: Option<&Vec<String>>) -> Vec<String> {
    v.into_iter()
        .flatten()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn non_blank(v: Option<&String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

impl IssuesFilter {
    pub fn from_spec(s: &GitHubIssues) -> Result<Self, DiscoveryError> {
        let types = if s.types.is_empty() {
            vec![GitHubItemType::Issues]
        } else {
            s.types.clone()
        };
        Ok(IssuesFilter {
            want_issues: types.contains(&GitHubItemType::Issues),
            want_pulls: types.contains(&GitHubItemType::Pulls),
            labels: non_empty(s.labels.as_ref()),
            exclude_labels: non_empty(s.exclude_labels.as_ref()),
            state: s.state,
            assignee: non_blank(s.assignee.as_ref()),
            author: non_blank(s.author.as_ref()),
            policy: CommentPolicy::resolve(
                s.comment_policy.as_ref(),
                s.trigger_comment.as_ref(),
                s.exclude_comments.as_ref(),
            )?,
            priority_labels: non_empty(s.priority_labels.as_ref()),
        })
    }

    /// The listing URL; parameters in alphabetical order as Go's `url.Values.Encode`.
    pub fn list_url(&self, client: &GitHubClient) -> String {
        let mut q = Vec::new();
        if let Some(a) = &self.assignee {
            q.push(format!("assignee={}", query_value(a)));
        }
        if let Some(a) = &self.author {
            q.push(format!("creator={}", query_value(a)));
        }
        if !self.labels.is_empty() {
            q.push(format!("labels={}", query_value(&self.labels.join(","))));
        }
        q.push(format!("per_page={PER_PAGE}"));
        q.push(format!("state={}", state_param(self.state)));
        client.repo_url(&format!("/issues?{}", q.join("&")))
    }

    /// The first filter `issue` fails, if any (comment policy aside).
    pub fn mismatch(&self, issue: &Issue) -> Option<Mismatch> {
        match (self.state, issue.state.as_str()) {
            (GitHubState::Open, s) if s != "open" => return Some(Mismatch::Closed),
            (GitHubState::Closed, s) if s != "closed" => return Some(Mismatch::Reopened),
            _ => {}
        }
        if issue.is_pull_request() && !self.want_pulls {
            return Some(Mismatch::Type("types does not include pulls"));
        }
        if !issue.is_pull_request() && !self.want_issues {
            return Some(Mismatch::Type("types does not include issues"));
        }
        let labels = issue.label_names();
        if let Some(l) = self.labels.iter().find(|l| !has_label(&labels, l)) {
            return Some(Mismatch::LabelRemoved(l.clone()));
        }
        if let Some(l) = self.exclude_labels.iter().find(|l| has_label(&labels, l)) {
            return Some(Mismatch::ExcludedLabel(l.clone()));
        }
        if let Some(wanted) = &self.assignee {
            let assignees = issue.assignee_logins();
            if wanted == "*" {
                if assignees.is_empty() {
                    return Some(Mismatch::Unassigned);
                }
            } else if wanted.eq_ignore_ascii_case("none") {
                if !assignees.is_empty() {
                    return Some(Mismatch::Assigned(assignees.join(", ")));
                }
            } else if !assignees.iter().any(|a| a.eq_ignore_ascii_case(wanted)) {
                return Some(Mismatch::NotAssignedTo(wanted.clone()));
            }
        }
        if let Some(wanted) = &self.author
            && !issue.author().eq_ignore_ascii_case(wanted)
        {
            return Some(Mismatch::Author {
                wanted: wanted.clone(),
                actual: issue.author().to_string(),
            });
        }
        None
    }
}

pub(crate) fn state_param(s: GitHubState) -> &'static str {
    match s {
        GitHubState::Open => "open",
        GitHubState::Closed => "closed",
        GitHubState::All => "all",
    }
}

fn noun(issue: &Issue) -> &'static str {
    if issue.is_pull_request() {
        "pull request"
    } else {
        "issue"
    }
}

fn comments_url(client: &GitHubClient, number: u64) -> String {
    client.repo_url(&format!("/issues/{number}/comments?per_page={PER_PAGE}"))
}

pub(crate) fn policy_comments(comments: &[IssueComment]) -> Vec<PolicyComment> {
    comments
        .iter()
        .map(|c| PolicyComment {
            author: c.author().to_string(),
            body: c.body.clone().unwrap_or_default(),
            created_at: parse_time(&c.created_at),
        })
        .collect()
}

/// Every issue (and, with `types: [pulls]`, pull request) that passes the filters, with its
/// comments; a complete set or an error.
pub async fn discover(
    client: &GitHubClient,
    filter: &IssuesFilter,
) -> Result<Vec<WorkItem>, DiscoveryError> {
    let listed: Vec<Issue> = client.get_list(&filter.list_url(client)).await?;
    let candidates: Vec<Issue> = listed
        .into_iter()
        .filter(|i| filter.mismatch(i).is_none())
        .collect();
    let agent = if filter.policy.needs_comment_filter() {
        client.viewer_login().await?
    } else {
        None
    };
    let authz = Authorizer::new(client, &filter.policy);
    let items: Vec<Option<WorkItem>> = stream::iter(candidates)
        .map(|issue| item_for(client, filter, &authz, agent.as_deref(), issue))
        .buffered(client.config().concurrency.max(1))
        .try_collect()
        .await?;
    Ok(items.into_iter().flatten().collect())
}

async fn item_for(
    client: &GitHubClient,
    filter: &IssuesFilter,
    authz: &Authorizer<'_>,
    agent: Option<&str>,
    issue: Issue,
) -> Result<Option<WorkItem>, DiscoveryError> {
    let comments: Vec<IssueComment> = client.get_list(&comments_url(client, issue.number)).await?;
    let body = issue.body.clone().unwrap_or_default();
    let outcome = evaluate(
        &filter.policy,
        authz,
        issue.author(),
        &body,
        &policy_comments(&comments),
        agent,
    )
    .await?;
    let PolicyOutcome::Allowed { trigger_time } = outcome else {
        return Ok(None);
    };
    let bodies: Vec<String> = comments
        .iter()
        .map(|c| c.body.clone().unwrap_or_default())
        .collect();
    let is_pr = issue.is_pull_request();
    Ok(Some(WorkItem {
        id: issue.number.to_string(),
        source: Some(if is_pr {
            SourceKind::PullRequest
        } else {
            SourceKind::Issue
        }),
        number: issue.number as i64,
        title: issue.title.clone(),
        body,
        url: issue.html_url.clone(),
        labels: issue.label_names(),
        comments: concat_comment_bodies(&bodies),
        kind: if is_pr { "PR" } else { "Issue" }.to_string(),
        // Only a trigger command yields a trigger time for issues (the original's rule).
        trigger_time: if filter.policy.trigger.is_some() {
            trigger_time
        } else {
            None
        },
        ..WorkItem::default()
    }))
}

/// Looks at issue `number` itself and says whether it still passes every filter.
pub async fn recheck(
    client: &GitHubClient,
    filter: &IssuesFilter,
    number: u64,
) -> Result<Recheck, DiscoveryError> {
    let issue: Issue = client
        .get_json(&client.repo_url(&format!("/issues/{number}")))
        .await?;
    let what = format!("{} #{number}", noun(&issue));
    if let Some(m) = filter.mismatch(&issue) {
        // A closed pull request may have been merged: say which.
        if m == Mismatch::Closed && issue.is_pull_request() {
            let pr: super::model::PullRequest = client
                .get_json(&client.repo_url(&format!("/pulls/{number}")))
                .await?;
            if pr.is_merged() {
                return Ok(Recheck::NoLongerMatches {
                    reason: Mismatch::Merged.describe(&what),
                });
            }
        }
        return Ok(Recheck::NoLongerMatches {
            reason: m.describe(&what),
        });
    }
    if filter.policy.needs_comment_filter() {
        let comments: Vec<IssueComment> = client.get_list(&comments_url(client, number)).await?;
        let agent = client.viewer_login().await?;
        let authz = Authorizer::new(client, &filter.policy);
        let outcome = evaluate(
            &filter.policy,
            &authz,
            issue.author(),
            issue.body.as_deref().unwrap_or(""),
            &policy_comments(&comments),
            agent.as_deref(),
        )
        .await?;
        if let Some(reason) = super::policy_reason(&outcome, &what) {
            return Ok(Recheck::NoLongerMatches { reason });
        }
    }
    Ok(Recheck::StillMatches)
}
