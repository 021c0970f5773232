//! `githubPullRequests` (spawner-reference §2.2): `GET /repos/{o}/{r}/pulls`, client-side
//! filters, then per pull request its reviews (the review-state gate on the current head
//! commit), conversation comments and inline review comments.

use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt, stream};
use kelos_api::{GitHubPullRequests, GitHubState, ReviewState};

use super::client::{GitHubClient, PER_PAGE};
use super::content::{
    AggregatedReview, aggregate_reviews, concat_comment_bodies, format_review_comments, has_label,
};
use super::issues::{policy_comments, state_param};
use super::model::{IssueComment, PullRequest, Review, ReviewComment, parse_time};
use super::policy::{Authorizer, CommentPolicy, PolicyComment, PolicyOutcome, evaluate};
use super::{Mismatch, policy_reason};
use crate::item::{DiscoveryError, Recheck, SourceKind, WorkItem};

/// The resolved `githubPullRequests` filters.
#[derive(Clone, Debug, PartialEq)]
pub struct PullsFilter {
    pub labels: Vec<String>,
    pub exclude_labels: Vec<String>,
    pub state: GitHubState,
    /// `"approved"` or `"changes_requested"`; `None` for `any`.
    pub review_state: Option<&'static str>,
    pub author: Option<String>,
    pub draft: Option<bool>,
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

impl PullsFilter {
    pub fn from_spec(s: &GitHubPullRequests) -> Result<Self, DiscoveryError> {
        Ok(PullsFilter {
            labels: non_empty(s.labels.as_ref()),
            exclude_labels: non_empty(s.exclude_labels.as_ref()),
            state: s.state,
            review_state: match s.review_state {
                ReviewState::Approved => Some("approved"),
                ReviewState::ChangesRequested => Some("changes_requested"),
                ReviewState::Any => None,
            },
            author: s
                .author
                .as_ref()
                .map(|a| a.trim().to_string())
                .filter(|a| !a.is_empty()),
            draft: s.draft,
            policy: CommentPolicy::resolve(
                s.comment_policy.as_ref(),
                s.trigger_comment.as_ref(),
                s.exclude_comments.as_ref(),
            )?,
            priority_labels: non_empty(s.priority_labels.as_ref()),
        })
    }

    pub fn list_url(&self, client: &GitHubClient) -> String {
        client.repo_url(&format!(
            "/pulls?direction=desc&per_page={PER_PAGE}&sort=updated&state={}",
            state_param(self.state)
        ))
    }

    /// The first filter `pr` fails, if any (review state and comment policy aside).
    pub fn mismatch(&self, pr: &PullRequest) -> Option<Mismatch> {
        match (self.state, pr.state.as_str()) {
            (GitHubState::Open, s) if s != "open" => {
                return Some(if pr.is_merged() {
                    Mismatch::Merged
                } else {
                    Mismatch::Closed
                });
            }
            (GitHubState::Closed, s) if s != "closed" => return Some(Mismatch::Reopened),
            _ => {}
        }
        // The original compares the author exactly (case-sensitive).
        if let Some(wanted) = &self.author
            && pr.author() != wanted
        {
            return Some(Mismatch::Author {
                wanted: wanted.clone(),
                actual: pr.author().to_string(),
            });
        }
        match (self.draft, pr.is_draft()) {
            (Some(false), true) => return Some(Mismatch::Draft),
            (Some(true), false) => return Some(Mismatch::NotDraft),
            _ => {}
        }
        let labels = pr.label_names();
        if let Some(l) = self.labels.iter().find(|l| !has_label(&labels, l)) {
            return Some(Mismatch::LabelRemoved(l.clone()));
        }
        if let Some(l) = self.exclude_labels.iter().find(|l| has_label(&labels, l)) {
            return Some(Mismatch::ExcludedLabel(l.clone()));
        }
        None
    }
}

fn reviews_url(client: &GitHubClient, n: u64) -> String {
    client.repo_url(&format!("/pulls/{n}/reviews?per_page={PER_PAGE}"))
}
fn conversation_url(client: &GitHubClient, n: u64) -> String {
    client.repo_url(&format!("/issues/{n}/comments?per_page={PER_PAGE}"))
}
fn review_comments_url(client: &GitHubClient, n: u64) -> String {
    client.repo_url(&format!("/pulls/{n}/comments?per_page={PER_PAGE}"))
}

/// Conversation comments, then inline review comments, then non-empty review bodies.
fn all_policy_comments(
    conversation: &[IssueComment],
    inline: &[ReviewComment],
    reviews: &[Review],
) -> Vec<PolicyComment> {
    let mut out = policy_comments(conversation);
    out.extend(inline.iter().map(|c| PolicyComment {
        author: c.author().to_string(),
        body: c.body.clone().unwrap_or_default(),
        created_at: parse_time(&c.created_at),
    }));
    out.extend(reviews.iter().filter_map(|r| {
        let body = r.body.as_deref().unwrap_or("");
        (!body.trim().is_empty()).then(|| PolicyComment {
            author: r.author().to_string(),
            body: body.to_string(),
            created_at: r.submitted_at.as_deref().and_then(parse_time),
        })
    }));
    out
}

/// Every pull request that passes the filters; a complete set or an error.
pub async fn discover(
    client: &GitHubClient,
    filter: &PullsFilter,
) -> Result<Vec<WorkItem>, DiscoveryError> {
    let listed: Vec<PullRequest> = client.get_list(&filter.list_url(client)).await?;
    let candidates: Vec<PullRequest> = listed
        .into_iter()
        .filter(|p| filter.mismatch(p).is_none())
        .collect();
    // The agent's identity matters for triggers: comment commands and qualifying reviews.
    let agent = if filter.policy.needs_comment_filter() || filter.review_state.is_some() {
        client.viewer_login().await?
    } else {
        None
    };
    let authz = Authorizer::new(client, &filter.policy);
    let items: Vec<Option<WorkItem>> = stream::iter(candidates)
        .map(|pr| item_for(client, filter, &authz, agent.as_deref(), pr))
        .buffered(client.config().concurrency.max(1))
        .try_collect()
        .await?;
    Ok(items.into_iter().flatten().collect())
}

async fn item_for(
    client: &GitHubClient,
    filter: &PullsFilter,
    authz: &Authorizer<'_>,
    agent: Option<&str>,
    pr: PullRequest,
) -> Result<Option<WorkItem>, DiscoveryError> {
    let n = pr.number;
    let reviews: Vec<Review> = client.get_list(&reviews_url(client, n)).await?;
    let review = aggregate_reviews(&reviews, &pr.head.sha, agent);
    if let Some(wanted) = filter.review_state
        && review.state != wanted
    {
        return Ok(None);
    }
    let conversation: Vec<IssueComment> = client.get_list(&conversation_url(client, n)).await?;
    let inline: Vec<ReviewComment> = client.get_list(&review_comments_url(client, n)).await?;
    let body = pr.body.clone().unwrap_or_default();
    let outcome = evaluate(
        &filter.policy,
        authz,
        pr.author(),
        &body,
        &all_policy_comments(&conversation, &inline, &reviews),
        agent,
    )
    .await?;
    let PolicyOutcome::Allowed { trigger_time } = outcome else {
        return Ok(None);
    };
    let bodies: Vec<String> = conversation
        .iter()
        .map(|c| c.body.clone().unwrap_or_default())
        .collect();
    Ok(Some(WorkItem {
        id: n.to_string(),
        source: Some(SourceKind::PullRequest),
        number: n as i64,
        title: pr.title.clone(),
        body,
        url: pr.html_url.clone(),
        labels: pr.label_names(),
        comments: concat_comment_bodies(&bodies),
        kind: "PR".to_string(),
        branch: pr.head.ref_.clone(),
        review_state: review.state.clone(),
        review_comments: format_review_comments(&inline, &pr.head.sha),
        trigger_time: resolve_trigger_time(filter, trigger_time, &review),
        head_sha: Some(pr.head.sha.clone()),
        ..WorkItem::default()
    }))
}

/// The comment trigger time, or the qualifying review's time when `reviewState` is not
/// `any` and the review is later (the original's `resolveTriggerTime`). Reviews by the agent
/// itself never count.
fn resolve_trigger_time(
    filter: &PullsFilter,
    comment: Option<DateTime<Utc>>,
    review: &AggregatedReview,
) -> Option<DateTime<Utc>> {
    if filter.review_state.is_none() {
        return comment;
    }
    match (comment, review.trigger_time) {
        (Some(c), Some(r)) => Some(c.max(r)),
        (c, r) => c.or(r),
    }
}

/// Looks at pull request `number` itself (and its reviews and comments as the filter needs)
/// and says whether it still passes every filter.
pub async fn recheck(
    client: &GitHubClient,
    filter: &PullsFilter,
    number: u64,
) -> Result<Recheck, DiscoveryError> {
    let pr: PullRequest = client
        .get_json(&client.repo_url(&format!("/pulls/{number}")))
        .await?;
    let what = format!("pull request #{number}");
    if let Some(m) = filter.mismatch(&pr) {
        return Ok(Recheck::NoLongerMatches {
            reason: m.describe(&what),
        });
    }
    let needs_policy = filter.policy.needs_comment_filter();
    if filter.review_state.is_none() && !needs_policy {
        return Ok(Recheck::StillMatches);
    }
    let agent = client.viewer_login().await?;
    let reviews: Vec<Review> = client.get_list(&reviews_url(client, number)).await?;
    if let Some(wanted) = filter.review_state {
        let review = aggregate_reviews(&reviews, &pr.head.sha, agent.as_deref());
        if review.state != wanted {
            return Ok(Recheck::NoLongerMatches {
                reason: format!("review state of {what} is no longer {wanted}"),
            });
        }
    }
    if needs_policy {
        let conversation: Vec<IssueComment> =
            client.get_list(&conversation_url(client, number)).await?;
        let inline: Vec<ReviewComment> = client
            .get_list(&review_comments_url(client, number))
            .await?;
        let authz = Authorizer::new(client, &filter.policy);
        let outcome = evaluate(
            &filter.policy,
            &authz,
            pr.author(),
            pr.body.as_deref().unwrap_or(""),
            &all_policy_comments(&conversation, &inline, &reviews),
            agent.as_deref(),
        )
        .await?;
        if let Some(reason) = policy_reason(&outcome, &what) {
            return Ok(Recheck::NoLongerMatches { reason });
        }
    }
    Ok(Recheck::StillMatches)
}
