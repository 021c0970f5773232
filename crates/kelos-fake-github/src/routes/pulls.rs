//! `/repos/{o}/{r}/pulls…`: listing, single pull requests, reviews and review comments.

use super::issues::state_filter;
use super::{Reply, Req, direction};
use crate::pagination::paginate;
use crate::render::{self, Ctx};
use crate::state::{IssueRecord, RepoState, State};

/// `GET /repos/{o}/{r}/pulls`: state, head (`owner:branch`), base, sort
/// (created|updated|popularity|long-running), direction (desc by default for `created`, asc
/// otherwise, as documented), per_page, page.
pub(super) fn list(repo: &RepoState, ctx: &Ctx, req: &Req) -> Reply {
    match list_inner(repo, ctx, req) {
        Ok(r) | Err(r) => r,
    }
}

fn list_inner(repo: &RepoState, ctx: &Ctx, req: &Req) -> Result<Reply, Reply> {
    let q = &req.query;
    let state = state_filter(req, "PullRequest")?;
    let sort = q.get("sort").unwrap_or("created");
    if !["created", "updated", "popularity", "long-running"].contains(&sort) {
        return Err(Reply::invalid("PullRequest", "sort"));
    }
    let desc = direction(req, sort == "created")?;

    let mut items: Vec<&IssueRecord> = repo
        .issues
        .values()
        .filter(|i| i.pull.is_some())
        .filter(|i| state.is_none_or(|s| i.state == s))
        .filter(|i| {
            let pr = i.pull.as_ref().expect("filtered to pulls");
            let head_ok = q.get("head").is_none_or(|h| match h.split_once(':') {
                Some((owner, branch)) => {
                    pr.head_owner.eq_ignore_ascii_case(owner) && pr.head_ref == branch
                }
                None => pr.head_ref == h,
            });
            head_ok && q.get("base").is_none_or(|b| pr.base_ref == b)
        })
        .collect();
    items.sort_by(|a, b| {
        let key = |i: &IssueRecord| match sort {
            "updated" => (i.updated_at.timestamp(), i.number),
            "popularity" => (repo.comment_count(i.number) as i64, i.number),
            // long-running: the oldest open pull requests rank highest.
            "long-running" => (-i.created_at.timestamp(), i.number),
            _ => (i.created_at.timestamp(), i.number),
        };
        key(a).cmp(&key(b))
    });
    if desc {
        items.reverse();
    }
    let items = items
        .into_iter()
        .map(|i| render::pull(ctx, repo, i, false))
        .collect();
    Ok(Reply::page(paginate(items, q, &req.url)))
}

/// Everything under `/pulls/{n}` (the pull request exists).
pub(super) fn pull_route(
    st: &mut State,
    key: &str,
    ctx: &Ctx,
    req: &Req,
    n: u64,
    rest: &[&str],
) -> Reply {
    let repo = &st.repos[key];
    match (req.method, rest) {
        ("GET", []) => Reply::ok(render::pull(ctx, repo, &repo.issues[&n], true)),
        ("GET", ["reviews"]) => {
            let mut reviews: Vec<_> = repo.reviews.iter().filter(|r| r.pull_number == n).collect();
            reviews.sort_by_key(|r| r.id);
            let items = reviews
                .into_iter()
                .map(|r| render::review(ctx, repo, r))
                .collect();
            Reply::page(paginate(items, &req.query, &req.url))
        }
        ("GET", ["comments"]) => {
            let mut comments: Vec<_> = repo
                .review_comments
                .iter()
                .filter(|c| c.pull_number == n)
                .collect();
            comments.sort_by_key(|c| (c.created_at, c.id));
            let desc = req.query.get("direction") == Some("desc");
            if desc {
                comments.reverse();
            }
            let items = comments
                .into_iter()
                .map(|c| render::review_comment(ctx, repo, c))
                .collect();
            Reply::page(paginate(items, &req.query, &req.url))
        }
        _ => Reply::not_found(),
    }
}
