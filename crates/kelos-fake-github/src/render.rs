//! GitHub's JSON shapes (REST API 2022-11-28): field names, nesting and URL forms as
//! api.github.com returns them. Every shape here deserializes into the matching octocrab model
//! (checked in `tests/models.rs`).

use chrono::{DateTime, SecondsFormat, Utc};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};

use crate::state::{CommentRecord, IssueRecord, RepoState, ReviewCommentRecord, ReviewRecord};

/// Characters left alone when a login or label name goes into a URL path.
const PATH_SAFE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

pub(crate) fn enc(segment: &str) -> String {
    utf8_percent_encode(segment, PATH_SAFE).to_string()
}

pub(crate) fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn opt_time(t: Option<DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, |t| Value::String(time(t)))
}

/// A stable id for a name (users and labels need ids but no registry).
pub(crate) fn stable_id(kind: &str, name: &str) -> u64 {
    // FNV-1a, folded into a range that looks like GitHub's ids.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in kind
        .bytes()
        .chain([0])
        .chain(name.to_ascii_lowercase().bytes())
    {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    10_000_000 + h % 90_000_000
}

/// Where URLs in bodies point: the API base (with any GHE prefix) and the web base.
pub(crate) struct Ctx<'a> {
    pub api: &'a str,
    pub html: &'a str,
}

impl Ctx<'_> {
    pub fn repo_api(&self, repo: &RepoState) -> String {
        format!("{}/repos/{}/{}", self.api, repo.owner, repo.name)
    }
    pub fn repo_html(&self, repo: &RepoState) -> String {
        format!("{}/{}/{}", self.html, repo.owner, repo.name)
    }
}

/// A user in GitHub's "simple user" shape (`octocrab::models::Author`). Logins ending in
/// `[bot]` are `"type": "Bot"`.
pub(crate) fn user(ctx: &Ctx, login: &str) -> Value {
    let id = stable_id("user", login);
    let api = format!("{}/users/{}", ctx.api, enc(login));
    let is_bot = login.ends_with("[bot]");
    let html = if is_bot {
        format!("{}/apps/{}", ctx.html, login.trim_end_matches("[bot]"))
    } else {
        format!("{}/{}", ctx.html, login)
    };
    json!({
        "login": login,
        "id": id,
        "node_id": format!("U_kgDO{id}"),
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{id}?v=4"),
        "gravatar_id": "",
        "url": api,
        "html_url": html,
        "followers_url": format!("{api}/followers"),
        "following_url": format!("{api}/following{{/other_user}}"),
        "gists_url": format!("{api}/gists{{/gist_id}}"),
        "starred_url": format!("{api}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{api}/subscriptions"),
        "organizations_url": format!("{api}/orgs"),
        "repos_url": format!("{api}/repos"),
        "events_url": format!("{api}/events{{/privacy}}"),
        "received_events_url": format!("{api}/received_events"),
        "type": if is_bot { "Bot" } else { "User" },
        "user_view_type": "public",
        "site_admin": false,
    })
}

/// `GET /user`: the private profile shape (`octocrab::models::UserProfile` / `Author`).
pub(crate) fn user_profile(ctx: &Ctx, login: &str) -> Value {
    let mut u = user(ctx, login);
    let extra = json!({
        "name": login,
        "company": null,
        "blog": "",
        "location": null,
        "email": null,
        "hireable": null,
        "bio": null,
        "twitter_username": null,
        "public_repos": 1,
        "public_gists": 0,
        "followers": 0,
        "following": 0,
        "created_at": "2020-01-01T00:00:00Z",
        "updated_at": "2020-01-01T00:00:00Z",
    });
    merge(&mut u, extra);
    u
}

fn merge(into: &mut Value, from: Value) {
    if let (Value::Object(a), Value::Object(b)) = (into, from) {
        a.extend(b);
    }
}

pub(crate) fn label(ctx: &Ctx, repo: &RepoState, name: &str) -> Value {
    let info = repo.label_info(name);
    let id = stable_id("label", &format!("{}/{}", repo.full_name(), info.name));
    json!({
        "id": id,
        "node_id": format!("LA_kwDO{id}"),
        "url": format!("{}/labels/{}", ctx.repo_api(repo), enc(&info.name)),
        "name": info.name,
        "color": info.color,
        "default": false,
        "description": info.description,
    })
}

pub(crate) fn repository(ctx: &Ctx, repo: &RepoState, owner_login: &str) -> Value {
    let api = format!("{}/repos/{}/{}", ctx.api, owner_login, repo.name);
    let html = format!("{}/{}/{}", ctx.html, owner_login, repo.name);
    let id = if owner_login.eq_ignore_ascii_case(&repo.owner) {
        repo.id
    } else {
        stable_id("repo", &format!("{owner_login}/{}", repo.name))
    };
    let open_issues = repo
        .issues
        .values()
        .filter(|i| i.state == crate::state::ItemState::Open)
        .count();
    let mut v = json!({
        "id": id,
        "node_id": format!("R_kgDO{id}"),
        "name": repo.name,
        "full_name": format!("{owner_login}/{}", repo.name),
        "private": repo.private,
        "owner": user(ctx, owner_login),
        "html_url": html,
        "description": null,
        "fork": !owner_login.eq_ignore_ascii_case(&repo.owner),
        "url": api,
        "archive_url": format!("{api}/{{archive_format}}{{/ref}}"),
        "assignees_url": format!("{api}/assignees{{/user}}"),
        "branches_url": format!("{api}/branches{{/branch}}"),
        "collaborators_url": format!("{api}/collaborators{{/collaborator}}"),
        "comments_url": format!("{api}/comments{{/number}}"),
        "commits_url": format!("{api}/commits{{/sha}}"),
        "contents_url": format!("{api}/contents/{{+path}}"),
        "events_url": format!("{api}/events"),
        "hooks_url": format!("{api}/hooks"),
        "issue_comment_url": format!("{api}/issues/comments{{/number}}"),
        "issues_url": format!("{api}/issues{{/number}}"),
        "labels_url": format!("{api}/labels{{/name}}"),
        "pulls_url": format!("{api}/pulls{{/number}}"),
        "statuses_url": format!("{api}/statuses/{{sha}}"),
        "git_url": format!("git://{}/{owner_login}/{}.git", host_of(ctx.html), repo.name),
        "ssh_url": format!("git@{}:{owner_login}/{}.git", host_of(ctx.html), repo.name),
        "clone_url": format!("{html}.git"),
        "svn_url": html,
    });
    merge(
        &mut v,
        json!({
        "homepage": null,
        "language": null,
        "forks_count": 0,
        "stargazers_count": 0,
        "watchers_count": 0,
        "size": 0,
        "default_branch": repo.default_branch,
        "open_issues_count": open_issues,
        "is_template": false,
        "topics": [],
        "has_issues": true,
        "has_projects": true,
        "has_wiki": true,
        "has_pages": false,
        "has_downloads": true,
        "archived": false,
        "disabled": false,
        "visibility": if repo.private { "private" } else { "public" },
        "pushed_at": "2020-01-01T00:00:00Z",
        "created_at": "2020-01-01T00:00:00Z",
        "updated_at": "2020-01-01T00:00:00Z",
        }),
    );
    v
}

fn host_of(base: &str) -> &str {
    let rest = base.split("://").nth(1).unwrap_or(base);
    rest.split('/').next().unwrap_or(rest)
}

fn issue_html(ctx: &Ctx, repo: &RepoState, issue: &IssueRecord) -> String {
    let kind = if issue.pull.is_some() {
        "pull"
    } else {
        "issues"
    };
    format!("{}/{kind}/{}", ctx.repo_html(repo), issue.number)
}

/// An issue as `/issues` and `/issues/{n}` return it. Pull requests carry a `pull_request`
/// object and `draft`. `closed_by` is only part of the single-issue answer (`full`).
pub(crate) fn issue(ctx: &Ctx, repo: &RepoState, issue: &IssueRecord, full: bool) -> Value {
    let api = format!("{}/issues/{}", ctx.repo_api(repo), issue.number);
    let assignees: Vec<Value> = issue.assignees.iter().map(|a| user(ctx, a)).collect();
    let mut v = json!({
        "url": api,
        "repository_url": ctx.repo_api(repo),
        "labels_url": format!("{api}/labels{{/name}}"),
        "comments_url": format!("{api}/comments"),
        "events_url": format!("{api}/events"),
        "html_url": issue_html(ctx, repo, issue),
        "timeline_url": format!("{api}/timeline"),
        "id": issue.id,
        "node_id": format!("I_kwDO{}", issue.id),
        "number": issue.number,
        "title": issue.title,
        "user": user(ctx, &issue.author),
        "labels": issue.labels.iter().map(|l| label(ctx, repo, l)).collect::<Vec<_>>(),
        "state": issue.state.as_str(),
        "state_reason": issue.state_reason,
        "locked": issue.locked,
        "assignee": assignees.first().cloned().unwrap_or(Value::Null),
        "assignees": assignees,
        "milestone": null,
        "comments": repo.comment_count(issue.number),
        "created_at": time(issue.created_at),
        "updated_at": time(issue.updated_at),
        "closed_at": opt_time(issue.closed_at),
        "author_association": repo.association(&issue.author, issue.author_association.as_ref()),
        "active_lock_reason": null,
        "body": issue.body,
        "performed_via_github_app": null,
    });
    if let Some(pr) = &issue.pull {
        let pulls_api = format!("{}/pulls/{}", ctx.repo_api(repo), issue.number);
        let html = issue_html(ctx, repo, issue);
        merge(
            &mut v,
            json!({
                "draft": pr.draft,
                "pull_request": {
                    "url": pulls_api,
                    "html_url": html,
                    "diff_url": format!("{html}.diff"),
                    "patch_url": format!("{html}.patch"),
                    "merged_at": opt_time(pr.merged_at),
                },
            }),
        );
    }
    if full {
        let closed_by = issue
            .closed_by
            .as_deref()
            .map_or(Value::Null, |l| user(ctx, l));
        merge(&mut v, json!({ "closed_by": closed_by }));
    }
    v
}

/// A pull request as `/pulls` (`full = false`, GitHub's "pull-request-simple") or
/// `/pulls/{n}` (`full = true`, with merge and diff statistics) return it.
pub(crate) fn pull(ctx: &Ctx, repo: &RepoState, issue: &IssueRecord, full: bool) -> Value {
    let pr = issue.pull.as_ref().expect("pull() on an issue");
    let repo_api = ctx.repo_api(repo);
    let api = format!("{repo_api}/pulls/{}", issue.number);
    let html = issue_html(ctx, repo, issue);
    let issue_api = format!("{repo_api}/issues/{}", issue.number);
    let assignees: Vec<Value> = issue.assignees.iter().map(|a| user(ctx, a)).collect();
    let statuses = format!("{repo_api}/statuses/{}", pr.head_sha);
    let head = json!({
        "label": format!("{}:{}", pr.head_owner, pr.head_ref),
        "ref": pr.head_ref,
        "sha": pr.head_sha,
        "user": user(ctx, &pr.head_owner),
        "repo": repository(ctx, repo, &pr.head_owner),
    });
    let base = json!({
        "label": format!("{}:{}", repo.owner, pr.base_ref),
        "ref": pr.base_ref,
        "sha": pr.base_sha,
        "user": user(ctx, &repo.owner),
        "repo": repository(ctx, repo, &repo.owner),
    });
    let links = json!({
        "self": { "href": api },
        "html": { "href": html },
        "issue": { "href": issue_api },
        "comments": { "href": format!("{issue_api}/comments") },
        "review_comments": { "href": format!("{api}/comments") },
        "review_comment": { "href": format!("{repo_api}/pulls/comments{{/number}}") },
        "commits": { "href": format!("{api}/commits") },
        "statuses": { "href": statuses },
    });
    let mut v = json!({
        "url": api,
        "id": pr.id,
        "node_id": format!("PR_kwDO{}", pr.id),
        "html_url": html,
        "diff_url": format!("{html}.diff"),
        "patch_url": format!("{html}.patch"),
        "issue_url": issue_api,
        "commits_url": format!("{api}/commits"),
        "review_comments_url": format!("{api}/comments"),
        "review_comment_url": format!("{repo_api}/pulls/comments{{/number}}"),
        "comments_url": format!("{issue_api}/comments"),
        "statuses_url": statuses,
        "number": issue.number,
        "state": issue.state.as_str(),
        "locked": issue.locked,
        "title": issue.title,
        "user": user(ctx, &issue.author),
        "body": issue.body,
        "labels": issue.labels.iter().map(|l| label(ctx, repo, l)).collect::<Vec<_>>(),
        "milestone": null,
        "active_lock_reason": null,
        "created_at": time(issue.created_at),
        "updated_at": time(issue.updated_at),
        "closed_at": opt_time(issue.closed_at),
        "merged_at": opt_time(pr.merged_at),
        "merge_commit_sha": pr.merge_commit_sha,
        "assignee": assignees.first().cloned().unwrap_or(Value::Null),
        "assignees": assignees,
        "requested_reviewers": [],
        "requested_teams": [],
        "head": head,
        "base": base,
        "_links": links,
        "author_association": repo.association(&issue.author, issue.author_association.as_ref()),
        "auto_merge": null,
        "draft": pr.draft,
    });
    if full {
        let (mergeable, mergeable_state) = match (issue.state, pr.draft) {
            (crate::state::ItemState::Closed, _) => (Value::Null, "unknown"),
            (_, true) => (Value::Bool(true), "draft"),
            _ => (Value::Bool(true), "clean"),
        };
        let review_comments = repo
            .review_comments
            .iter()
            .filter(|c| c.pull_number == issue.number)
            .count();
        merge(
            &mut v,
            json!({
                "merged": pr.merged,
                "mergeable": mergeable,
                "rebaseable": mergeable,
                "mergeable_state": mergeable_state,
                "merged_by": pr.merged_by.as_deref().map_or(Value::Null, |l| user(ctx, l)),
                "comments": repo.comment_count(issue.number),
                "review_comments": review_comments,
                "maintainer_can_modify": false,
                "commits": 1,
                "additions": 1,
                "deletions": 0,
                "changed_files": 1,
            }),
        );
    }
    v
}

pub(crate) fn comment(ctx: &Ctx, repo: &RepoState, c: &CommentRecord) -> Value {
    let repo_api = ctx.repo_api(repo);
    let html = repo
        .issue(c.issue_number)
        .map(|i| issue_html(ctx, repo, i))
        .unwrap_or_else(|| format!("{}/issues/{}", ctx.repo_html(repo), c.issue_number));
    json!({
        "url": format!("{repo_api}/issues/comments/{}", c.id),
        "html_url": format!("{html}#issuecomment-{}", c.id),
        "issue_url": format!("{repo_api}/issues/{}", c.issue_number),
        "id": c.id,
        "node_id": format!("IC_kwDO{}", c.id),
        "user": user(ctx, &c.author),
        "created_at": time(c.created_at),
        "updated_at": time(c.updated_at),
        "author_association": repo.association(&c.author, c.author_association.as_ref()),
        "body": c.body,
        "performed_via_github_app": null,
    })
}

pub(crate) fn review(ctx: &Ctx, repo: &RepoState, r: &ReviewRecord) -> Value {
    let html = format!(
        "{}/pull/{}#pullrequestreview-{}",
        ctx.repo_html(repo),
        r.pull_number,
        r.id
    );
    let pr_api = format!("{}/pulls/{}", ctx.repo_api(repo), r.pull_number);
    let mut v = json!({
        "id": r.id,
        "node_id": format!("PRR_kwDO{}", r.id),
        "user": user(ctx, &r.user),
        "body": r.body,
        "state": r.state.as_str(),
        "html_url": html,
        "pull_request_url": pr_api,
        "author_association": repo.association(&r.user, r.author_association.as_ref()),
        "_links": {
            "html": { "href": html },
            "pull_request": { "href": pr_api },
        },
        "commit_id": r.commit_id,
    });
    if let Some(at) = r.submitted_at {
        merge(&mut v, json!({ "submitted_at": time(at) }));
    }
    v
}

pub(crate) fn review_comment(ctx: &Ctx, repo: &RepoState, c: &ReviewCommentRecord) -> Value {
    let repo_api = ctx.repo_api(repo);
    let api = format!("{repo_api}/pulls/comments/{}", c.id);
    let html = format!(
        "{}/pull/{}#discussion_r{}",
        ctx.repo_html(repo),
        c.pull_number,
        c.id
    );
    let pr_api = format!("{repo_api}/pulls/{}", c.pull_number);
    let head = repo
        .issue(c.pull_number)
        .and_then(|i| i.pull.as_ref())
        .map(|p| p.head_sha.clone());
    let current = head.as_deref() == Some(c.commit_id.as_str());
    let line = (c.line > 0).then_some(c.line);
    json!({
        "url": api,
        "pull_request_review_id": c.review_id,
        "id": c.id,
        "node_id": format!("PRRC_kwDO{}", c.id),
        "diff_hunk": format!("@@ -1,1 +1,{} @@", c.line.max(1)),
        "path": c.path,
        "position": if current { line } else { None },
        "original_position": line,
        "commit_id": c.commit_id,
        "original_commit_id": c.commit_id,
        "user": user(ctx, &c.user),
        "body": c.body,
        "created_at": time(c.created_at),
        "updated_at": time(c.updated_at),
        "html_url": html,
        "pull_request_url": pr_api,
        "author_association": repo.association(&c.user, c.author_association.as_ref()),
        "_links": {
            "self": { "href": api },
            "html": { "href": html },
            "pull_request": { "href": pr_api },
        },
        "start_line": null,
        "original_start_line": null,
        "start_side": null,
        "line": if current { line } else { None },
        "original_line": line,
        "side": "RIGHT",
        "subject_type": if line.is_some() { "line" } else { "file" },
    })
}

/// GitHub's error body: `{"message", "documentation_url", "status"}`.
pub(crate) fn error(status: u16, message: &str, documentation_url: &str) -> Value {
    json!({
        "message": message,
        "documentation_url": documentation_url,
        "status": status.to_string(),
    })
}
