//! Fake GitHub: the project's only test double.
//!
//! Tests cannot reach GitHub (no network beyond package registries, and a real account would
//! make them slow, flaky and rate limited), yet the spawner's discovery, cancellation and
//! reporting, and the controller's GitHub App token exchange, all talk to GitHub's REST API.
//! This crate is a local HTTP server that speaks that API faithfully enough for octocrab and
//! plain HTTP clients: GitHub's JSON shapes, `Link` pagination, ETags and `304 Not Modified`,
//! `X-RateLimit-*` headers and rate-limit errors, GitHub's error bodies, and fault injection
//! for everything a real GitHub (or the network in between) does wrong. Everything else in the
//! tests is real; this is the one stand-in.
//!
//! ```no_run
//! # async fn demo() {
//! use kelos_fake_github::{FakeGitHub, NewIssue, NewPull, NewReview};
//!
//! let gh = FakeGitHub::start().await; // or start_with_prefix("/api/v3") for a GHE-style base
//! let repo = gh.repo("acme", "widgets");
//! let n = repo.add_issue(NewIssue::new("Fix the widget").label("kelos/work"));
//! repo.add_comment(n, "alice", "/kelos pick-up");
//! let pr = repo.add_pull(NewPull::new("Add gizmo", "gizmo").head_sha("abc123"));
//! repo.add_review(pr, NewReview::approved("bob"));
//!
//! let octo = octocrab::Octocrab::builder().base_uri(gh.url()).unwrap().build().unwrap();
//! let issues = octo.issues("acme", "widgets").list().send().await.unwrap();
//! assert_eq!(issues.items.len(), 2); // the issues listing includes pull requests
//! assert_eq!(gh.count("GET", "/repos/acme/widgets/issues"), 1);
//! # }
//! ```
//!
//! The server runs on its own thread and tokio runtime (so it outlives per-test runtimes),
//! listens on `127.0.0.1:0`, and stops when the `FakeGitHub` is dropped. All state is behind
//! synchronous methods that are safe to call from any thread.

mod error;
mod etag;
mod faults;
mod jwt;
mod log;
mod pagination;
mod ratelimit;
mod render;
mod routes;
mod server;
mod state;

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

pub use error::StartError;
pub use faults::{Fault, FaultId, FaultKind};
pub use log::RequestRecord;
pub use ratelimit::RateLimitStatus;
pub use state::{
    CommentRecord, IssueRecord, ItemState, MintedToken, NewComment, NewIssue, NewPull, NewReview,
    NewReviewComment, PullData, ReviewCommentRecord, ReviewRecord, ReviewState, TeamMembership,
};

use server::{ServerThread, Shared, lock};
use state::{AppRecord, LabelInfo, State};

/// A running fake GitHub. Dropping it stops the server.
pub struct FakeGitHub {
    shared: Arc<Shared>,
    addr: SocketAddr,
    // Dropped last: stops the server thread.
    _server: ServerThread,
}

impl FakeGitHub {
    /// Starts a fake with API paths at the root (`http://127.0.0.1:<port>/repos/…`), like
    /// api.github.com. Panics if it cannot start.
    pub async fn start() -> FakeGitHub {
        Self::spawn("").expect("starting fake GitHub")
    }

    /// Starts a fake that serves the API under a GHE-style prefix such as `/api/v3`
    /// (`url()` then ends in the prefix). Panics if it cannot start.
    pub async fn start_with_prefix(prefix: &str) -> FakeGitHub {
        Self::spawn(prefix).expect("starting fake GitHub")
    }

    /// Starts a fake without an async context; `prefix` is `""` or like `/api/v3`.
    pub fn spawn(prefix: &str) -> Result<FakeGitHub, StartError> {
        if !prefix.is_empty() && (!prefix.starts_with('/') || prefix.ends_with('/')) {
            return Err(StartError::Prefix(prefix.to_string()));
        }
        let listener = TcpListener::bind("127.0.0.1:0").map_err(StartError::Bind)?;
        let addr = listener.local_addr().map_err(StartError::Bind)?;
        let shared = Arc::new(Shared::new(
            format!("http://{addr}{prefix}"),
            prefix.to_string(),
        ));
        let server = ServerThread::spawn(listener, shared.clone())?;
        Ok(FakeGitHub {
            shared,
            addr,
            _server: server,
        })
    }

    /// The API base URL, without a trailing slash: `http://127.0.0.1:<port>` or
    /// `http://127.0.0.1:<port>/api/v3`. Give it to octocrab's `base_uri` or to
    /// `--github-api-base-url`.
    pub fn url(&self) -> String {
        self.shared.api_base.clone()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        lock(&self.shared.state)
    }

    // ----- repositories -------------------------------------------------------------------

    /// The repository `owner/name`, created (empty, public, default branch `main`) if needed.
    pub fn repo(&self, owner: &str, name: &str) -> RepoHandle {
        self.state().ensure_repo(owner, name);
        RepoHandle {
            shared: self.shared.clone(),
            key: State::repo_key(owner, name),
            owner: owner.to_string(),
            name: name.to_string(),
        }
    }

    /// Removes a repository; its endpoints then answer 404.
    pub fn remove_repo(&self, owner: &str, name: &str) {
        self.state().repos.remove(&State::repo_key(owner, name));
    }

    /// Base of `html_url`s (default `https://github.com`).
    pub fn set_html_base(&self, base: &str) {
        self.state().html_base = base.trim_end_matches('/').to_string();
    }

    /// Fixes the time stamped on new and changed items (`None`: the wall clock). Rate-limit
    /// resets, token expiry and JWT checks always use the wall clock.
    pub fn set_clock(&self, now: Option<DateTime<Utc>>) {
        self.state().clock = now;
    }

    // ----- users, tokens, teams -----------------------------------------------------------

    /// The login `GET /user` returns and new comments are authored by, when the request's
    /// token is not mapped to another user (default `kelos-bot`).
    pub fn set_authenticated_user(&self, login: &str) {
        self.state().authenticated_user = login.to_string();
    }

    /// `Some(token)`: every request (except the App JWT endpoint) must carry
    /// `Authorization: token <t>` or `Bearer <t>` with this token, a token added with
    /// `add_token`, or an unexpired minted installation token; otherwise 401 "Bad credentials"
    /// (or "Requires authentication" with no header). `None` turns checking off again.
    pub fn require_token(&self, token: Option<&str>) {
        let mut st = self.state();
        match token {
            Some(t) => {
                let user = st.authenticated_user.clone();
                st.tokens.insert(t.to_string(), user);
                st.auth_required = true;
            }
            None => {
                st.tokens.clear();
                st.auth_required = false;
            }
        }
    }

    /// Another accepted token, standing for `login` (its comments are authored by `login`).
    pub fn add_token(&self, token: &str, login: &str) {
        self.state()
            .tokens
            .insert(token.to_string(), login.to_string());
    }

    /// Makes `login` an active `member` of `org/team_slug`.
    pub fn add_team_member(&self, org: &str, team_slug: &str, login: &str) {
        self.set_team_membership(
            org,
            team_slug,
            login,
            Some(TeamMembership {
                role: "member".into(),
                state: "active".into(),
            }),
        );
    }

    /// Sets (or with `None` removes) a team membership.
    pub fn set_team_membership(
        &self,
        org: &str,
        team_slug: &str,
        login: &str,
        membership: Option<TeamMembership>,
    ) {
        let key = (
            org.to_ascii_lowercase(),
            team_slug.to_ascii_lowercase(),
            login.to_ascii_lowercase(),
        );
        let mut st = self.state();
        match membership {
            Some(m) => {
                st.teams.insert(key, m);
            }
            None => {
                st.teams.remove(&key);
            }
        }
    }

    // ----- ETags and rate limits ----------------------------------------------------------

    /// ETags on every GET 200 and 304 for a matching `If-None-Match` (default on).
    pub fn set_etags(&self, enabled: bool) {
        self.state().etags = enabled;
    }

    /// Sets the hourly budget and refills it.
    pub fn set_rate_limit(&self, limit: u32) {
        let mut st = self.state();
        st.rate.limit = limit;
        st.rate.remaining = limit;
    }

    /// Sets what is left of the budget (0: every request gets 403 until the reset).
    pub fn set_rate_limit_remaining(&self, remaining: u32) {
        let mut st = self.state();
        st.rate.remaining = remaining.min(st.rate.limit);
    }

    /// When the budget refills (also the `X-RateLimit-Reset` value).
    pub fn set_rate_limit_reset(&self, at: DateTime<Utc>) {
        self.state().rate.reset = at.timestamp();
    }

    pub fn rate_limit(&self) -> RateLimitStatus {
        self.state().rate.status()
    }

    // ----- faults -------------------------------------------------------------------------

    /// Injects a fault; rules are tried in the order added and the first match applies.
    pub fn add_fault(&self, fault: Fault) -> FaultId {
        lock(&self.shared.faults).add(fault)
    }

    pub fn remove_fault(&self, id: FaultId) {
        lock(&self.shared.faults).remove(id);
    }

    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// How many requests a fault has affected.
    pub fn fault_hits(&self, id: FaultId) -> u32 {
        lock(&self.shared.faults).hits(id)
    }

    // ----- request log --------------------------------------------------------------------

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.shared.log).clone()
    }

    /// Requests with `method` (`""` for any) whose API path is `path_prefix` or lies under
    /// it (whole segments).
    pub fn count(&self, method: &str, path_prefix: &str) -> usize {
        let prefix = path_prefix.trim_end_matches('/');
        lock(&self.shared.log)
            .iter()
            .filter(|r| method.is_empty() || r.method.eq_ignore_ascii_case(method))
            .filter(|r| {
                r.api_path == prefix
                    || r.api_path
                        .strip_prefix(prefix)
                        .is_some_and(|rest| rest.starts_with('/'))
            })
            .count()
    }

    /// Requests with `method` (`""` for any) to exactly `path`.
    pub fn count_exact(&self, method: &str, path: &str) -> usize {
        lock(&self.shared.log)
            .iter()
            .filter(|r| method.is_empty() || r.method.eq_ignore_ascii_case(method))
            .filter(|r| r.api_path == path)
            .count()
    }

    /// Requests answered with `status`.
    pub fn count_status(&self, status: u16) -> usize {
        lock(&self.shared.log)
            .iter()
            .filter(|r| r.status == Some(status))
            .count()
    }

    pub fn clear_log(&self) {
        lock(&self.shared.log).clear();
    }

    // ----- GitHub Apps --------------------------------------------------------------------

    /// Registers a GitHub App. With `public_key_pem` (SPKI `PUBLIC KEY` or PKCS#1
    /// `RSA PUBLIC KEY`) the JWT's RS256 signature is verified; without, only its claims.
    /// Minted tokens act as the user `<slug>[bot]`.
    pub fn register_app(&self, app_id: u64, slug: &str, public_key_pem: Option<&str>) {
        self.state().apps.insert(
            app_id,
            AppRecord {
                slug: slug.to_string(),
                public_key_pem: public_key_pem.map(str::to_string),
            },
        );
    }

    /// Installs app `app_id` as installation `installation_id`.
    pub fn add_installation(&self, installation_id: u64, app_id: u64) {
        self.state().installations.insert(installation_id, app_id);
    }

    /// Lifetime of minted installation tokens (default one hour, like GitHub).
    pub fn set_installation_token_ttl(&self, ttl: Duration) {
        self.state().token_ttl = ttl;
    }

    /// How many installation tokens were minted.
    pub fn mint_count(&self) -> usize {
        self.state().minted.len()
    }

    pub fn minted_tokens(&self) -> Vec<MintedToken> {
        self.state().minted.clone()
    }
}

/// One repository of a `FakeGitHub`. Cheap to clone; methods panic when the item they name
/// does not exist (a test bug).
#[derive(Clone)]
pub struct RepoHandle {
    shared: Arc<Shared>,
    key: String,
    owner: String,
    name: String,
}

impl RepoHandle {
    pub fn owner(&self) -> &str {
        &self.owner
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    fn with<R>(&self, what: &str, f: impl FnOnce(&mut State, &str) -> Option<R>) -> R {
        let mut st = lock(&self.shared.state);
        f(&mut st, &self.key)
            .unwrap_or_else(|| panic!("fake GitHub {}/{}: {what}", self.owner, self.name))
    }

    fn modify(&self, number: u64, f: impl FnOnce(&mut IssueRecord)) {
        self.with(&format!("no issue or pull request #{number}"), |st, key| {
            st.modify_issue(key, number, |i, _| f(i))
        });
    }

    fn modify_pull(&self, number: u64, f: impl FnOnce(&mut PullData)) {
        self.with(&format!("no pull request #{number}"), |st, key| {
            st.modify_issue(key, number, |i, _| i.pull.as_mut().map(f))?
        });
    }

    // ----- issues and pull requests -------------------------------------------------------

    /// Adds an issue; returns its number.
    pub fn add_issue(&self, issue: NewIssue) -> u64 {
        self.with("repository removed", |st, key| st.add_issue(key, issue))
    }

    /// Adds `n` open issues ("Issue 1" …) authored by `octocat`, created one minute apart
    /// (oldest first); returns their numbers.
    pub fn seed_issues(&self, n: usize) -> Vec<u64> {
        let mut st = lock(&self.shared.state);
        let now = st.now();
        (0..n)
            .map(|i| {
                let at = now - Duration::minutes((n - i) as i64);
                let issue = NewIssue::new(format!("Issue {}", i + 1))
                    .body(format!("Body of issue {}", i + 1))
                    .created_at(at);
                st.add_issue(&self.key, issue).expect("repository exists")
            })
            .collect()
    }

    /// Adds a pull request; returns its number (shared with issues, as on GitHub).
    pub fn add_pull(&self, pull: NewPull) -> u64 {
        self.with("repository removed", |st, key| st.add_pull(key, pull))
    }

    /// A snapshot of an issue or pull request.
    pub fn get_issue(&self, number: u64) -> Option<IssueRecord> {
        lock(&self.shared.state)
            .repos
            .get(&self.key)?
            .issue(number)
            .cloned()
    }

    /// Snapshots of all issues and pull requests, by number.
    pub fn issues(&self) -> Vec<IssueRecord> {
        lock(&self.shared.state)
            .repos
            .get(&self.key)
            .map(|r| r.issues.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Edits an issue or pull request in place (bumps `updated_at`).
    pub fn update_issue(&self, number: u64, f: impl FnOnce(&mut IssueRecord)) {
        self.modify(number, f);
    }

    /// Deletes an issue or pull request (and its comments and reviews); it then answers 404.
    pub fn delete_issue(&self, number: u64) {
        self.with(&format!("no issue #{number}"), |st, key| {
            let repo = st.repos.get_mut(key)?;
            repo.issues.remove(&number)?;
            repo.comments.retain(|c| c.issue_number != number);
            repo.reviews.retain(|r| r.pull_number != number);
            repo.review_comments.retain(|c| c.pull_number != number);
            Some(())
        });
    }

    /// Closes an issue or pull request (closed by the repository owner).
    pub fn close(&self, number: u64) {
        self.with(&format!("no issue #{number}"), |st, key| {
            st.close(key, number, None)
        });
    }

    pub fn reopen(&self, number: u64) {
        self.with(&format!("no issue #{number}"), |st, key| {
            st.reopen(key, number)
        });
    }

    /// Merges a pull request: closed, `merged`, `merged_at`, a merge commit.
    pub fn merge(&self, number: u64) {
        let owner = self.owner.clone();
        self.modify_pull(number, |p| {
            p.merged = true;
            p.merged_by = Some(owner);
            p.merge_commit_sha = Some(state::fake_sha(&format!("merge:{}", p.head_sha)));
        });
        self.close(number);
        self.modify(number, |i| {
            i.pull.as_mut().expect("pull").merged_at = i.closed_at;
        });
    }

    pub fn set_title(&self, number: u64, title: &str) {
        self.modify(number, |i| i.title = title.to_string());
    }

    pub fn set_body(&self, number: u64, body: &str) {
        self.modify(number, |i| i.body = Some(body.to_string()));
    }

    pub fn add_label(&self, number: u64, label: &str) {
        self.with(&format!("no issue #{number}"), |st, key| {
            st.add_labels(key, number, &[label.to_string()])
        });
    }

    pub fn remove_label(&self, number: u64, label: &str) {
        self.with(&format!("no issue #{number}"), |st, key| {
            st.remove_label(key, number, label)
        });
    }

    pub fn set_assignees<I: IntoIterator<Item = S>, S: Into<String>>(&self, number: u64, who: I) {
        let who: Vec<String> = who.into_iter().map(Into::into).collect();
        self.modify(number, |i| i.assignees = who);
    }

    /// Defines a label's colour and description (labels otherwise appear on first use).
    pub fn define_label(&self, name: &str, color: &str, description: Option<&str>) {
        self.with("repository removed", |st, key| {
            st.repos.get_mut(key)?.labels.insert(
                name.to_ascii_lowercase(),
                LabelInfo {
                    name: name.to_string(),
                    color: color.to_string(),
                    description: description.map(str::to_string),
                },
            );
            Some(())
        });
    }

    pub fn set_draft(&self, number: u64, draft: bool) {
        self.modify_pull(number, |p| p.draft = draft);
    }

    /// A new head commit on a pull request (a push).
    pub fn push_head(&self, number: u64, sha: &str) {
        self.modify_pull(number, |p| p.head_sha = sha.to_string());
    }

    // ----- comments and reviews -----------------------------------------------------------

    /// Adds an issue comment by `author`; returns its id.
    pub fn add_comment(&self, number: u64, author: &str, body: &str) -> u64 {
        self.add_comment_with(number, NewComment::new(author, body))
    }

    pub fn add_comment_with(&self, number: u64, comment: NewComment) -> u64 {
        self.with(&format!("no issue #{number}"), |st, key| {
            st.add_comment(key, number, comment)
        })
    }

    pub fn edit_comment(&self, id: u64, body: &str) {
        self.with(&format!("no comment {id}"), |st, key| {
            let now = st.now();
            let c = st
                .repos
                .get_mut(key)?
                .comments
                .iter_mut()
                .find(|c| c.id == id)?;
            c.body = body.to_string();
            c.updated_at = now;
            Some(())
        });
    }

    pub fn delete_comment(&self, id: u64) {
        self.with(&format!("no comment {id}"), |st, key| {
            let comments = &mut st.repos.get_mut(key)?.comments;
            let pos = comments.iter().position(|c| c.id == id)?;
            comments.remove(pos);
            Some(())
        });
    }

    /// The comments on an issue or pull request, oldest first.
    pub fn comments(&self, number: u64) -> Vec<CommentRecord> {
        lock(&self.shared.state)
            .repos
            .get(&self.key)
            .map(|r| {
                r.comments
                    .iter()
                    .filter(|c| c.issue_number == number)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Adds a review (on the current head unless `NewReview::commit` says otherwise).
    pub fn add_review(&self, number: u64, review: NewReview) -> u64 {
        self.with(&format!("no pull request #{number}"), |st, key| {
            st.add_review(key, number, review)
        })
    }

    /// Dismisses a review (state `DISMISSED`).
    pub fn dismiss_review(&self, id: u64) {
        self.with(&format!("no review {id}"), |st, key| {
            let r = st
                .repos
                .get_mut(key)?
                .reviews
                .iter_mut()
                .find(|r| r.id == id)?;
            r.state = ReviewState::Dismissed;
            Some(())
        });
    }

    pub fn reviews(&self, number: u64) -> Vec<ReviewRecord> {
        lock(&self.shared.state)
            .repos
            .get(&self.key)
            .map(|r| {
                r.reviews
                    .iter()
                    .filter(|x| x.pull_number == number)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Adds an inline review comment (on the current head unless told otherwise).
    pub fn add_review_comment(&self, number: u64, comment: NewReviewComment) -> u64 {
        self.with(&format!("no pull request #{number}"), |st, key| {
            st.add_review_comment(key, number, comment)
        })
    }

    // ----- collaborators ------------------------------------------------------------------

    /// Gives `login` a repository role: `read`, `triage`, `write`, `maintain`, `admin` (or
    /// `none`, which answers 200 with permission `none`). Without one a login answers 404,
    /// except the owner, who is `admin`.
    pub fn set_permission(&self, login: &str, role: &str) {
        self.with("repository removed", |st, key| {
            st.repos
                .get_mut(key)?
                .permissions
                .insert(login.to_ascii_lowercase(), role.to_string());
            Some(())
        });
    }

    pub fn remove_permission(&self, login: &str) {
        self.with("repository removed", |st, key| {
            st.repos
                .get_mut(key)?
                .permissions
                .remove(&login.to_ascii_lowercase());
            Some(())
        });
    }

    pub fn set_private(&self, private: bool) {
        self.with("repository removed", |st, key| {
            st.repos.get_mut(key)?.private = private;
            Some(())
        });
    }
}
