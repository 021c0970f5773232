//! `/repos/{o}/{r}/issues…`: listing (with pull requests, as GitHub does), single issues,
//! comments and labels.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{Reply, Req, direction, json_body};
use crate::pagination::paginate;
use crate::render::{self, Ctx};
use crate::state::{IssueRecord, ItemState, NewComment, RepoState, State};

/// `state` filter: `open` (default), `closed` or `all`.
pub(super) fn state_filter(req: &Req, resource: &str) -> Result<Option<ItemState>, Reply> {
    match req.query.get("state") {
        None | Some("open") => Ok(Some(ItemState::Open)),
        Some("closed") => Ok(Some(ItemState::Closed)),
        Some("all") => Ok(None),
        Some(_) => Err(Reply::invalid(resource, "state")),
    }
}

/// `GET /repos/{o}/{r}/issues`: state, labels (all of them, case-insensitive), assignee
/// (`*`, `none` or a login), creator, since, sort (created|updated|comments), direction,
/// per_page, page.
pub(super) fn list(repo: &RepoState, ctx: &Ctx, req: &Req) -> Reply {
    match list_inner(repo, ctx, req) {
        Ok(r) | Err(r) => r,
    }
}

fn list_inner(repo: &RepoState, ctx: &Ctx, req: &Req) -> Result<Reply, Reply> {
    let q = &req.query;
    let state = state_filter(req, "Issue")?;
    let labels: Vec<&str> = q
        .get("labels")
        .map(|l| {
            l.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let since = match q.get("since") {
        None => None,
        Some(s) => Some(
            DateTime::parse_from_rfc3339(s)
                .map_err(|_| Reply::invalid("Issue", "since"))?
                .with_timezone(&Utc),
        ),
    };
    let sort = q.get("sort").unwrap_or("created");
    if !["created", "updated", "comments"].contains(&sort) {
        return Err(Reply::invalid("Issue", "sort"));
    }
    let desc = direction(req, true)?;

    let mut items: Vec<&IssueRecord> = repo
        .issues
        .values()
        .filter(|i| state.is_none_or(|s| i.state == s))
        .filter(|i| {
            labels
                .iter()
                .all(|want| i.labels.iter().any(|l| l.eq_ignore_ascii_case(want)))
        })
        .filter(|i| match q.get("assignee") {
            None => true,
            Some("*") => !i.assignees.is_empty(),
            Some("none") => i.assignees.is_empty(),
            Some(login) => i.assignees.iter().any(|a| a.eq_ignore_ascii_case(login)),
        })
        .filter(|i| {
            q.get("creator")
                .is_none_or(|c| i.author.eq_ignore_ascii_case(c))
        })
        .filter(|i| since.is_none_or(|s| i.updated_at >= s))
        .collect();
    items.sort_by(|a, b| {
        let key = |i: &IssueRecord| match sort {
            "updated" => (i.updated_at.timestamp(), i.number),
            "comments" => (repo.comment_count(i.number) as i64, i.number),
            _ => (i.created_at.timestamp(), i.number),
        };
        key(a).cmp(&key(b))
    });
    if desc {
        items.reverse();
    }
    let items = items
        .into_iter()
        .map(|i| render::issue(ctx, repo, i, false))
        .collect();
    Ok(Reply::page(paginate(items, q, &req.url)))
}

/// Everything under `/issues/{n}` (the issue exists).
pub(super) fn issue_route(
    st: &mut State,
    key: &str,
    ctx: &Ctx,
    req: &Req,
    n: u64,
    rest: &[&str],
) -> Reply {
    match (req.method, rest) {
        ("GET", []) => {
            let repo = &st.repos[key];
            Reply::ok(render::issue(ctx, repo, &repo.issues[&n], true))
        }
        ("PATCH" | "POST", []) => update_issue(st, key, ctx, req, n),
        ("GET", ["comments"]) => list_comments(&st.repos[key], ctx, req, n),
        ("POST", ["comments"]) => create_comment(st, key, ctx, req, n),
        ("GET", ["labels"]) => labels_of(&st.repos[key], ctx, n),
        ("POST", ["labels"]) => add_labels(st, key, ctx, req, n),
        ("DELETE", ["labels", name]) => match st.remove_label(key, n, name) {
            Some(true) => labels_of(&st.repos[key], ctx, n),
            _ => Reply::error(404, "Label does not exist"),
        },
        _ => Reply::not_found(),
    }
}

/// `PATCH /issues/{n}`: title, body, state (+ state_reason), labels, assignees.
fn update_issue(st: &mut State, key: &str, ctx: &Ctx, req: &Req, n: u64) -> Reply {
    if req.login.is_none() {
        return Reply::requires_auth();
    }
    let body = match json_body(req.body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let strings = |v: &Value| -> Option<Vec<String>> {
        v.as_array().map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().or_else(|| x.get("name")?.as_str()))
                .map(str::to_string)
                .collect()
        })
    };
    match body.get("state").and_then(Value::as_str) {
        Some("closed") => {
            st.close(key, n, req.login.clone());
        }
        Some("open") => {
            st.reopen(key, n);
        }
        Some(_) => return Reply::invalid("Issue", "state"),
        None => {}
    }
    st.modify_issue(key, n, |i, _| {
        if let Some(t) = body.get("title").and_then(Value::as_str) {
            i.title = t.to_string();
        }
        if let Some(b) = body.get("body") {
            i.body = b.as_str().map(str::to_string);
        }
        if let Some(r) = body.get("state_reason").and_then(Value::as_str)
            && i.state == ItemState::Closed
        {
            i.state_reason = Some(r.to_string());
        }
        if let Some(l) = body.get("labels").and_then(strings) {
            i.labels = l;
        }
        if let Some(a) = body.get("assignees").and_then(strings) {
            i.assignees = a;
        }
    });
    let repo = &st.repos[key];
    Reply::ok(render::issue(ctx, repo, &repo.issues[&n], true))
}

/// `GET /issues/{n}/comments`: oldest first; `since` filters on `updated_at`.
fn list_comments(repo: &RepoState, ctx: &Ctx, req: &Req, n: u64) -> Reply {
    let since = match req.query.get("since") {
        None => None,
        Some(s) => match DateTime::parse_from_rfc3339(s) {
            Ok(t) => Some(t.with_timezone(&Utc)),
            Err(_) => return Reply::invalid("IssueComment", "since"),
        },
    };
    let mut comments: Vec<_> = repo
        .comments
        .iter()
        .filter(|c| c.issue_number == n)
        .filter(|c| since.is_none_or(|s| c.updated_at >= s))
        .collect();
    comments.sort_by_key(|c| (c.created_at, c.id));
    let items = comments
        .into_iter()
        .map(|c| render::comment(ctx, repo, c))
        .collect();
    Reply::page(paginate(items, &req.query, &req.url))
}

/// `POST /issues/{n}/comments` → 201 with the comment and a `Location` header.
fn create_comment(st: &mut State, key: &str, ctx: &Ctx, req: &Req, n: u64) -> Reply {
    let Some(login) = req.login.clone() else {
        return Reply::requires_auth();
    };
    let body = match json_body(req.body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(text) = body.get("body").and_then(Value::as_str) else {
        return Reply::invalid("IssueComment", "body");
    };
    let Some(id) = st.add_comment(key, n, NewComment::new(login, text)) else {
        return Reply::not_found();
    };
    let reply = get_comment(&st.repos[key], ctx, id);
    Reply {
        location: Some(format!(
            "{}/issues/comments/{id}",
            ctx.repo_api(&st.repos[key])
        )),
        status: 201,
        ..reply
    }
}

pub(super) fn get_comment(repo: &RepoState, ctx: &Ctx, id: u64) -> Reply {
    match repo.comments.iter().find(|c| c.id == id) {
        Some(c) => Reply::ok(render::comment(ctx, repo, c)),
        None => Reply::not_found(),
    }
}

/// `PATCH /issues/comments/{id}` with `{"body": …}`.
pub(super) fn update_comment(st: &mut State, key: &str, ctx: &Ctx, req: &Req, id: u64) -> Reply {
    if req.login.is_none() {
        return Reply::requires_auth();
    }
    let body = match json_body(req.body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(text) = body.get("body").and_then(Value::as_str) else {
        return Reply::invalid("IssueComment", "body");
    };
    let now = st.now();
    let repo = st.repos.get_mut(key).expect("repo checked");
    let Some(c) = repo.comments.iter_mut().find(|c| c.id == id) else {
        return Reply::not_found();
    };
    c.body = text.to_string();
    c.updated_at = now;
    let issue = c.issue_number;
    st.modify_issue(key, issue, |_, _| ());
    get_comment(&st.repos[key], ctx, id)
}

/// `DELETE /issues/comments/{id}` → 204.
pub(super) fn delete_comment(st: &mut State, key: &str, id: u64) -> Reply {
    let repo = st.repos.get_mut(key).expect("repo checked");
    let before = repo.comments.len();
    repo.comments.retain(|c| c.id != id);
    if repo.comments.len() == before {
        Reply::not_found()
    } else {
        Reply::empty(204)
    }
}

fn labels_of(repo: &RepoState, ctx: &Ctx, n: u64) -> Reply {
    let labels: Vec<Value> = repo.issues[&n]
        .labels
        .iter()
        .map(|l| render::label(ctx, repo, l))
        .collect();
    Reply::ok(json!(labels))
}

/// `POST /issues/{n}/labels` with `{"labels": [...]}` or a bare array → the item's labels.
fn add_labels(st: &mut State, key: &str, ctx: &Ctx, req: &Req, n: u64) -> Reply {
    if req.login.is_none() {
        return Reply::requires_auth();
    }
    let parsed: Option<Vec<String>> = match serde_json::from_slice::<Value>(req.body) {
        Ok(Value::Array(a)) => Some(a),
        Ok(Value::Object(o)) => o.get("labels").and_then(Value::as_array).cloned(),
        _ => None,
    }
    .map(|a| {
        a.iter()
            .filter_map(|x| x.as_str().or_else(|| x.get("name")?.as_str()))
            .map(str::to_string)
            .collect()
    });
    let Some(labels) = parsed else {
        return Reply::bad_json();
    };
    st.add_labels(key, n, &labels);
    labels_of(&st.repos[key], ctx, n)
}
