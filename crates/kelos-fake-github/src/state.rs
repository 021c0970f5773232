//! The fake's data: repositories with issues, pull requests, comments and reviews, collaborator
//! permissions, teams, apps and tokens, and the knobs tests turn (ETags, rate limit, auth).
//!
//! Records are plain data with public fields so tests can read them back (`RepoHandle::issue`)
//! or edit them in place (`RepoHandle::update_issue`). The builders (`NewIssue`, `NewPull`, …)
//! describe what to add; anything left out gets a GitHub-like default.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, SubsecRound, Utc};

use crate::ratelimit::RateLimit;

/// `open` or `closed`, as GitHub spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ItemState {
    Open,
    Closed,
}

impl ItemState {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemState::Open => "open",
            ItemState::Closed => "closed",
        }
    }
}

/// A pull request review's state, serialized in GitHub's upper-case form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReviewState {
    Approved,
    ChangesRequested,
    Commented,
    Dismissed,
    Pending,
}

impl ReviewState {
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewState::Approved => "APPROVED",
            ReviewState::ChangesRequested => "CHANGES_REQUESTED",
            ReviewState::Commented => "COMMENTED",
            ReviewState::Dismissed => "DISMISSED",
            ReviewState::Pending => "PENDING",
        }
    }
}

/// An issue, or the issue half of a pull request (GitHub numbers both from one sequence and
/// lists both on `/issues`).
#[derive(Clone, Debug)]
pub struct IssueRecord {
    pub number: u64,
    pub id: u64,
    pub title: String,
    pub body: Option<String>,
    pub state: ItemState,
    /// `completed`, `not_planned`, `reopened` or `None`.
    pub state_reason: Option<String>,
    /// Label names, in the order they were added.
    pub labels: Vec<String>,
    /// Assignee logins.
    pub assignees: Vec<String>,
    /// The author's login (`user.login`).
    pub author: String,
    /// Overrides the derived `author_association` (OWNER / COLLABORATOR / NONE).
    pub author_association: Option<String>,
    pub locked: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub closed_by: Option<String>,
    /// Present for pull requests.
    pub pull: Option<PullData>,
}

/// What a pull request has on top of its issue.
#[derive(Clone, Debug)]
pub struct PullData {
    pub id: u64,
    pub draft: bool,
    pub merged: bool,
    pub merged_at: Option<DateTime<Utc>>,
    pub merged_by: Option<String>,
    pub merge_commit_sha: Option<String>,
    pub head_ref: String,
    pub head_sha: String,
    /// Owner of the head repository (a fork's owner; defaults to the base repository's owner).
    pub head_owner: String,
    pub base_ref: String,
    pub base_sha: String,
}

/// An issue (conversation) comment.
#[derive(Clone, Debug)]
pub struct CommentRecord {
    pub id: u64,
    pub issue_number: u64,
    pub author: String,
    pub body: String,
    pub author_association: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A pull request review.
#[derive(Clone, Debug)]
pub struct ReviewRecord {
    pub id: u64,
    pub pull_number: u64,
    pub user: String,
    pub state: ReviewState,
    pub body: String,
    pub commit_id: String,
    /// `None` for pending reviews (GitHub omits `submitted_at` then).
    pub submitted_at: Option<DateTime<Utc>>,
    pub author_association: Option<String>,
}

/// An inline review comment on a pull request's diff.
#[derive(Clone, Debug)]
pub struct ReviewCommentRecord {
    pub id: u64,
    pub pull_number: u64,
    pub review_id: Option<u64>,
    pub user: String,
    pub path: String,
    /// 0 means a file-level comment (`line: null`).
    pub line: u64,
    pub body: String,
    pub commit_id: String,
    pub author_association: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A repository label's presentation (labels are created on first use with defaults).
#[derive(Clone, Debug)]
pub struct LabelInfo {
    pub name: String,
    pub color: String,
    pub description: Option<String>,
}

/// A team membership as `GET /orgs/{org}/teams/{slug}/memberships/{user}` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TeamMembership {
    /// `member` or `maintainer`.
    pub role: String,
    /// `active` or `pending`.
    pub state: String,
}

#[derive(Clone, Debug)]
pub(crate) struct RepoState {
    pub owner: String,
    pub name: String,
    pub id: u64,
    pub default_branch: String,
    pub private: bool,
    pub issues: BTreeMap<u64, IssueRecord>,
    pub comments: Vec<CommentRecord>,
    pub reviews: Vec<ReviewRecord>,
    pub review_comments: Vec<ReviewCommentRecord>,
    /// Lower-cased name → presentation.
    pub labels: BTreeMap<String, LabelInfo>,
    /// Lower-cased login → role name (read, triage, write, maintain, admin, none or custom).
    pub permissions: BTreeMap<String, String>,
    pub next_number: u64,
}

impl RepoState {
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    pub fn issue(&self, number: u64) -> Option<&IssueRecord> {
        self.issues.get(&number)
    }

    pub fn comment_count(&self, number: u64) -> usize {
        self.comments
            .iter()
            .filter(|c| c.issue_number == number)
            .count()
    }

    /// `author_association` as GitHub derives it: the owner is OWNER, anyone with a
    /// repository role is COLLABORATOR, everyone else NONE.
    pub fn association(&self, login: &str, explicit: Option<&String>) -> String {
        if let Some(a) = explicit {
            return a.clone();
        }
        if login.eq_ignore_ascii_case(&self.owner) {
            return "OWNER".into();
        }
        match self.permissions.get(&login.to_ascii_lowercase()) {
            Some(role) if role != "none" => "COLLABORATOR".into(),
            _ => "NONE".into(),
        }
    }

    pub fn label_info(&self, name: &str) -> LabelInfo {
        self.labels
            .get(&name.to_ascii_lowercase())
            .cloned()
            .unwrap_or_else(|| LabelInfo {
                name: name.to_string(),
                color: "ededed".into(),
                description: None,
            })
    }
}

/// A GitHub App registered with the fake.
#[derive(Clone, Debug)]
pub(crate) struct AppRecord {
    pub slug: String,
    /// PEM public key to verify RS256 JWTs with; `None` checks only the claims.
    pub public_key_pem: Option<String>,
}

/// An installation access token the fake minted.
#[derive(Clone, Debug)]
pub struct MintedToken {
    pub token: String,
    pub installation_id: u64,
    pub app_id: u64,
    pub expires_at: DateTime<Utc>,
}

pub(crate) struct State {
    pub repos: BTreeMap<String, RepoState>,
    /// (org, team slug, login), all lower-cased → membership.
    pub teams: BTreeMap<(String, String, String), TeamMembership>,
    pub authenticated_user: String,
    /// Tokens that authenticate (token → login). Enforced only when `auth_required`.
    pub tokens: BTreeMap<String, String>,
    pub auth_required: bool,
    pub etags: bool,
    pub rate: RateLimit,
    pub apps: BTreeMap<u64, AppRecord>,
    /// installation id → app id.
    pub installations: BTreeMap<u64, u64>,
    pub minted: Vec<MintedToken>,
    pub token_ttl: Duration,
    pub clock: Option<DateTime<Utc>>,
    pub html_base: String,
    next_id: u64,
}

impl State {
    pub fn new(now: DateTime<Utc>) -> Self {
        State {
            repos: BTreeMap::new(),
            teams: BTreeMap::new(),
            authenticated_user: "kelos-bot".into(),
            tokens: BTreeMap::new(),
            auth_required: false,
            etags: true,
            rate: RateLimit::new(5000, now),
            apps: BTreeMap::new(),
            installations: BTreeMap::new(),
            minted: Vec::new(),
            token_ttl: Duration::hours(1),
            clock: None,
            html_base: "https://github.com".into(),
            next_id: 1_000,
        }
    }

    /// The time stamped on new and changed items: the test clock if set, else now, to the
    /// second (GitHub's timestamps have no fractional seconds).
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.unwrap_or_else(Utc::now).trunc_subsecs(0)
    }

    pub fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub fn repo_key(owner: &str, repo: &str) -> String {
        format!(
            "{}/{}",
            owner.to_ascii_lowercase(),
            repo.to_ascii_lowercase()
        )
    }

    pub fn ensure_repo(&mut self, owner: &str, repo: &str) {
        let key = Self::repo_key(owner, repo);
        if !self.repos.contains_key(&key) {
            let id = self.next_id();
            self.repos.insert(
                key,
                RepoState {
                    owner: owner.to_string(),
                    name: repo.to_string(),
                    id,
                    default_branch: "main".into(),
                    private: false,
                    issues: BTreeMap::new(),
                    comments: Vec::new(),
                    reviews: Vec::new(),
                    review_comments: Vec::new(),
                    labels: BTreeMap::new(),
                    permissions: BTreeMap::new(),
                    next_number: 1,
                },
            );
        }
    }

    /// The login a request's token stands for: a registered token's user, a minted token's
    /// bot, or the default authenticated user.
    pub fn login_for_token(&self, token: Option<&str>, now: DateTime<Utc>) -> Option<String> {
        let Some(token) = token else {
            return (!self.auth_required).then(|| self.authenticated_user.clone());
        };
        if let Some(login) = self.tokens.get(token) {
            return Some(login.clone());
        }
        if let Some(m) = self
            .minted
            .iter()
            .find(|m| m.token == token && m.expires_at > now)
        {
            let slug = self
                .apps
                .get(&m.app_id)
                .map(|a| a.slug.clone())
                .unwrap_or_else(|| format!("app-{}", m.app_id));
            return Some(format!("{slug}[bot]"));
        }
        (!self.auth_required).then(|| self.authenticated_user.clone())
    }
}

/// A new issue. `NewIssue::new("title").label("bug").author("alice")`.
#[derive(Clone, Debug)]
pub struct NewIssue {
    pub(crate) title: String,
    pub(crate) body: Option<String>,
    pub(crate) labels: Vec<String>,
    pub(crate) assignees: Vec<String>,
    pub(crate) author: Option<String>,
    pub(crate) author_association: Option<String>,
    pub(crate) created_at: Option<DateTime<Utc>>,
    pub(crate) updated_at: Option<DateTime<Utc>>,
    pub(crate) closed: bool,
}

impl NewIssue {
    pub fn new(title: impl Into<String>) -> Self {
        NewIssue {
            title: title.into(),
            body: None,
            labels: Vec::new(),
            assignees: Vec::new(),
            author: None,
            author_association: None,
            created_at: None,
            updated_at: None,
            closed: false,
        }
    }
    pub fn body(mut self, body: impl Into<String>) -> Self {
        self.body = Some(body.into());
        self
    }
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.labels.push(label.into());
        self
    }
    pub fn labels<I: IntoIterator<Item = S>, S: Into<String>>(mut self, labels: I) -> Self {
        self.labels.extend(labels.into_iter().map(Into::into));
        self
    }
    pub fn assignee(mut self, login: impl Into<String>) -> Self {
        self.assignees.push(login.into());
        self
    }
    /// The author's login; defaults to `octocat`.
    pub fn author(mut self, login: impl Into<String>) -> Self {
        self.author = Some(login.into());
        self
    }
    pub fn author_association(mut self, association: impl Into<String>) -> Self {
        self.author_association = Some(association.into());
        self
    }
    pub fn created_at(mut self, at: DateTime<Utc>) -> Self {
        self.created_at = Some(at);
        self
    }
    pub fn updated_at(mut self, at: DateTime<Utc>) -> Self {
        self.updated_at = Some(at);
        self
    }
    pub fn closed(mut self) -> Self {
        self.closed = true;
        self
    }
}

/// A new pull request. `NewPull::new("title", "feature-branch").head_sha("abc").draft(true)`.
#[derive(Clone, Debug)]
pub struct NewPull {
    pub(crate) issue: NewIssue,
    pub(crate) head_ref: String,
    pub(crate) head_sha: Option<String>,
    pub(crate) head_owner: Option<String>,
    pub(crate) base_ref: Option<String>,
    pub(crate) draft: bool,
}

impl NewPull {
    pub fn new(title: impl Into<String>, head_ref: impl Into<String>) -> Self {
        NewPull {
            issue: NewIssue::new(title),
            head_ref: head_ref.into(),
            head_sha: None,
            head_owner: None,
            base_ref: None,
            draft: false,
        }
    }
    pub fn body(mut self, body: impl Into<String>) -> Self {
        self.issue = self.issue.body(body);
        self
    }
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.issue = self.issue.label(label);
        self
    }
    pub fn labels<I: IntoIterator<Item = S>, S: Into<String>>(mut self, labels: I) -> Self {
        self.issue = self.issue.labels(labels);
        self
    }
    pub fn assignee(mut self, login: impl Into<String>) -> Self {
        self.issue = self.issue.assignee(login);
        self
    }
    pub fn author(mut self, login: impl Into<String>) -> Self {
        self.issue = self.issue.author(login);
        self
    }
    pub fn author_association(mut self, association: impl Into<String>) -> Self {
        self.issue = self.issue.author_association(association);
        self
    }
    pub fn created_at(mut self, at: DateTime<Utc>) -> Self {
        self.issue = self.issue.created_at(at);
        self
    }
    pub fn updated_at(mut self, at: DateTime<Utc>) -> Self {
        self.issue = self.issue.updated_at(at);
        self
    }
    /// Head commit; defaults to a SHA derived from the head ref.
    pub fn head_sha(mut self, sha: impl Into<String>) -> Self {
        self.head_sha = Some(sha.into());
        self
    }
    /// Owner of the head repository, for pull requests from forks.
    pub fn head_owner(mut self, owner: impl Into<String>) -> Self {
        self.head_owner = Some(owner.into());
        self
    }
    /// Base branch; defaults to the repository's default branch (`main`).
    pub fn base(mut self, base_ref: impl Into<String>) -> Self {
        self.base_ref = Some(base_ref.into());
        self
    }
    pub fn draft(mut self, draft: bool) -> Self {
        self.draft = draft;
        self
    }
}

/// A new issue comment. `NewComment::new("alice", "/kelos pick-up").created_at(t)`.
#[derive(Clone, Debug)]
pub struct NewComment {
    pub(crate) author: String,
    pub(crate) body: String,
    pub(crate) author_association: Option<String>,
    pub(crate) created_at: Option<DateTime<Utc>>,
}

impl NewComment {
    pub fn new(author: impl Into<String>, body: impl Into<String>) -> Self {
        NewComment {
            author: author.into(),
            body: body.into(),
            author_association: None,
            created_at: None,
        }
    }
    pub fn author_association(mut self, association: impl Into<String>) -> Self {
        self.author_association = Some(association.into());
        self
    }
    pub fn created_at(mut self, at: DateTime<Utc>) -> Self {
        self.created_at = Some(at);
        self
    }
}

/// A new pull request review. `NewReview::new("bob", ReviewState::Approved).commit("abc")`.
#[derive(Clone, Debug)]
pub struct NewReview {
    pub(crate) user: String,
    pub(crate) state: ReviewState,
    pub(crate) body: String,
    pub(crate) commit_id: Option<String>,
    pub(crate) submitted_at: Option<DateTime<Utc>>,
    pub(crate) author_association: Option<String>,
}

impl NewReview {
    pub fn new(user: impl Into<String>, state: ReviewState) -> Self {
        NewReview {
            user: user.into(),
            state,
            body: String::new(),
            commit_id: None,
            submitted_at: None,
            author_association: None,
        }
    }
    pub fn approved(user: impl Into<String>) -> Self {
        Self::new(user, ReviewState::Approved)
    }
    pub fn changes_requested(user: impl Into<String>) -> Self {
        Self::new(user, ReviewState::ChangesRequested)
    }
    pub fn commented(user: impl Into<String>) -> Self {
        Self::new(user, ReviewState::Commented)
    }
    pub fn body(mut self, body: impl Into<String>) -> Self {
        self.body = body.into();
        self
    }
    /// The commit reviewed; defaults to the pull request's current head SHA.
    pub fn commit(mut self, sha: impl Into<String>) -> Self {
        self.commit_id = Some(sha.into());
        self
    }
    pub fn submitted_at(mut self, at: DateTime<Utc>) -> Self {
        self.submitted_at = Some(at);
        self
    }
    pub fn author_association(mut self, association: impl Into<String>) -> Self {
        self.author_association = Some(association.into());
        self
    }
}

/// A new inline review comment. `NewReviewComment::new("bob", "src/lib.rs", 10, "nit")`.
#[derive(Clone, Debug)]
pub struct NewReviewComment {
    pub(crate) user: String,
    pub(crate) path: String,
    pub(crate) line: u64,
    pub(crate) body: String,
    pub(crate) commit_id: Option<String>,
    pub(crate) review_id: Option<u64>,
    pub(crate) created_at: Option<DateTime<Utc>>,
}

impl NewReviewComment {
    pub fn new(
        user: impl Into<String>,
        path: impl Into<String>,
        line: u64,
        body: impl Into<String>,
    ) -> Self {
        NewReviewComment {
            user: user.into(),
            path: path.into(),
            line,
            body: body.into(),
            commit_id: None,
            review_id: None,
            created_at: None,
        }
    }
    /// The commit commented on; defaults to the pull request's current head SHA.
    pub fn commit(mut self, sha: impl Into<String>) -> Self {
        self.commit_id = Some(sha.into());
        self
    }
    pub fn review(mut self, review_id: u64) -> Self {
        self.review_id = Some(review_id);
        self
    }
    pub fn created_at(mut self, at: DateTime<Utc>) -> Self {
        self.created_at = Some(at);
        self
    }
}

/// A deterministic 40-hex-digit "commit SHA" for a seed string.
pub(crate) fn fake_sha(seed: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = format!("{:x}", Sha256::digest(seed.as_bytes()));
    digest[..40].to_string()
}

/// Mutations shared by the test-facing handles and the REST handlers. Each returns `None`
/// when the repository or item does not exist, and bumps `updated_at` like GitHub does.
impl State {
    pub fn add_issue(&mut self, key: &str, new: NewIssue) -> Option<u64> {
        self.insert_item(key, new, None)
    }

    pub fn add_pull(&mut self, key: &str, new: NewPull) -> Option<u64> {
        let repo = self.repos.get(key)?;
        let owner = repo.owner.clone();
        let base_ref = new
            .base_ref
            .clone()
            .unwrap_or_else(|| repo.default_branch.clone());
        let pull = PullData {
            id: 0,
            draft: new.draft,
            merged: false,
            merged_at: None,
            merged_by: None,
            merge_commit_sha: None,
            head_sha: new
                .head_sha
                .clone()
                .unwrap_or_else(|| fake_sha(&format!("{key}:{}", new.head_ref))),
            head_ref: new.head_ref,
            head_owner: new.head_owner.unwrap_or_else(|| owner.clone()),
            base_sha: fake_sha(&format!("{key}:{base_ref}")),
            base_ref,
        };
        self.insert_item(key, new.issue, Some(pull))
    }

    fn insert_item(&mut self, key: &str, new: NewIssue, pull: Option<PullData>) -> Option<u64> {
        let now = self.now();
        let id = self.next_id();
        let pull_id = self.next_id();
        let repo = self.repos.get_mut(key)?;
        let number = repo.next_number;
        repo.next_number += 1;
        let created_at = new.created_at.unwrap_or(now);
        let closed = new.closed;
        repo.issues.insert(
            number,
            IssueRecord {
                number,
                id,
                title: new.title,
                body: new.body,
                state: if closed {
                    ItemState::Closed
                } else {
                    ItemState::Open
                },
                state_reason: closed.then(|| "completed".to_string()),
                labels: dedup_ci(new.labels),
                assignees: new.assignees,
                author: new.author.unwrap_or_else(|| "octocat".into()),
                author_association: new.author_association,
                locked: false,
                created_at,
                updated_at: new.updated_at.unwrap_or(created_at),
                closed_at: closed.then_some(now),
                closed_by: closed.then(|| repo.owner.clone()),
                pull: pull.map(|p| PullData { id: pull_id, ..p }),
            },
        );
        Some(number)
    }

    /// Applies `f` to an issue or pull request and bumps its `updated_at`.
    pub fn modify_issue<R>(
        &mut self,
        key: &str,
        number: u64,
        f: impl FnOnce(&mut IssueRecord, DateTime<Utc>) -> R,
    ) -> Option<R> {
        let now = self.now();
        let issue = self.repos.get_mut(key)?.issues.get_mut(&number)?;
        let r = f(issue, now);
        issue.updated_at = now.max(issue.updated_at);
        Some(r)
    }

    pub fn add_comment(&mut self, key: &str, number: u64, new: NewComment) -> Option<u64> {
        let id = self.next_id();
        let at = new.created_at.unwrap_or_else(|| self.now());
        self.modify_issue(key, number, |_, _| ())?;
        self.repos.get_mut(key)?.comments.push(CommentRecord {
            id,
            issue_number: number,
            author: new.author,
            body: new.body,
            author_association: new.author_association,
            created_at: at,
            updated_at: at,
        });
        Some(id)
    }

    pub fn add_review(&mut self, key: &str, number: u64, new: NewReview) -> Option<u64> {
        let id = self.next_id();
        let now = self.now();
        let head = self.modify_issue(key, number, |i, _| {
            i.pull.as_ref().map(|p| p.head_sha.clone())
        })??;
        self.repos.get_mut(key)?.reviews.push(ReviewRecord {
            id,
            pull_number: number,
            user: new.user,
            submitted_at: match new.state {
                ReviewState::Pending => None,
                _ => Some(new.submitted_at.unwrap_or(now)),
            },
            state: new.state,
            body: new.body,
            commit_id: new.commit_id.unwrap_or(head),
            author_association: new.author_association,
        });
        Some(id)
    }

    pub fn add_review_comment(
        &mut self,
        key: &str,
        number: u64,
        new: NewReviewComment,
    ) -> Option<u64> {
        let id = self.next_id();
        let at = new.created_at.unwrap_or_else(|| self.now());
        let head = self.modify_issue(key, number, |i, _| {
            i.pull.as_ref().map(|p| p.head_sha.clone())
        })??;
        self.repos
            .get_mut(key)?
            .review_comments
            .push(ReviewCommentRecord {
                id,
                pull_number: number,
                review_id: new.review_id,
                user: new.user,
                path: new.path,
                line: new.line,
                body: new.body,
                commit_id: new.commit_id.unwrap_or(head),
                author_association: None,
                created_at: at,
                updated_at: at,
            });
        Some(id)
    }

    pub fn close(&mut self, key: &str, number: u64, by: Option<String>) -> Option<()> {
        let by = by.or_else(|| self.repos.get(key).map(|r| r.owner.clone()));
        self.modify_issue(key, number, |i, now| {
            if i.state == ItemState::Closed {
                return;
            }
            i.state = ItemState::Closed;
            i.state_reason = i.pull.is_none().then(|| "completed".to_string());
            i.closed_at = Some(now);
            i.closed_by = by;
        })
    }

    pub fn reopen(&mut self, key: &str, number: u64) -> Option<()> {
        self.modify_issue(key, number, |i, _| {
            if i.state == ItemState::Open {
                return;
            }
            i.state = ItemState::Open;
            i.state_reason = i.pull.is_none().then(|| "reopened".to_string());
            i.closed_at = None;
            i.closed_by = None;
        })
    }

    pub fn add_labels(&mut self, key: &str, number: u64, labels: &[String]) -> Option<()> {
        self.modify_issue(key, number, |i, _| {
            let mut all = std::mem::take(&mut i.labels);
            all.extend(labels.iter().cloned());
            i.labels = dedup_ci(all);
        })
    }

    /// Removes a label; the inner `bool` says whether the item had it.
    pub fn remove_label(&mut self, key: &str, number: u64, label: &str) -> Option<bool> {
        let had = self
            .repos
            .get(key)?
            .issue(number)?
            .labels
            .iter()
            .any(|l| l.eq_ignore_ascii_case(label));
        if had {
            self.modify_issue(key, number, |i, _| {
                i.labels.retain(|l| !l.eq_ignore_ascii_case(label));
            })?;
        }
        Some(had)
    }
}

/// Keeps the first spelling of each label, comparing case-insensitively (as GitHub does).
fn dedup_ci(labels: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for l in labels {
        if !out.iter().any(|o| o.eq_ignore_ascii_case(&l)) {
            out.push(l);
        }
    }
    out
}
