//! The REST endpoints. `dispatch` maps (method, path) to a handler; handlers read and change
//! the `State` and return a `Reply` (status, JSON body, pagination link).

mod apps;
mod issues;
mod misc;
mod pulls;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::pagination::Query;
use crate::render::{self, Ctx};
use crate::state::{RepoState, State};

pub(crate) const DOCS: &str = "https://docs.github.com/rest";

/// A request as the handlers see it.
pub(crate) struct Req<'a> {
    pub method: &'a str,
    /// Decoded path segments of the API path.
    pub segs: Vec<String>,
    pub query: Query,
    pub body: &'a [u8],
    /// The authenticated login (token owner, or the default user when auth is off).
    pub login: Option<String>,
    pub authorization: Option<&'a str>,
    /// Absolute URL of this path, without the query (for `Link`).
    pub url: String,
    /// Wall-clock time (token expiry, JWT checks).
    pub now: DateTime<Utc>,
}

/// A handler's answer.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    /// `None` is an empty body (204, 304).
    pub body: Option<Value>,
    pub link: Option<String>,
    pub location: Option<String>,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Self {
        Reply {
            status,
            body: Some(body),
            link: None,
            location: None,
        }
    }
    pub fn ok(body: Value) -> Self {
        Self::json(200, body)
    }
    pub fn page((body, link): (Value, Option<String>)) -> Self {
        Reply {
            link,
            ..Self::ok(body)
        }
    }
    pub fn empty(status: u16) -> Self {
        Reply {
            status,
            body: None,
            link: None,
            location: None,
        }
    }
    pub fn error(status: u16, message: &str) -> Self {
        Self::json(status, render::error(status, message, DOCS))
    }
    pub fn not_found() -> Self {
        Self::error(404, "Not Found")
    }
    /// 422 with GitHub's `errors` array.
    pub fn invalid(resource: &str, field: &str) -> Self {
        let mut body = render::error(422, "Validation Failed", DOCS);
        body["errors"] = serde_json::json!([
            { "resource": resource, "field": field, "code": "invalid" }
        ]);
        Self::json(422, body)
    }
    pub fn requires_auth() -> Self {
        Self::error(401, "Requires authentication")
    }
    pub fn bad_json() -> Self {
        Self::error(400, "Problems parsing JSON")
    }
}

pub(crate) fn dispatch(st: &mut State, ctx: &Ctx, req: &Req) -> Reply {
    let segs: Vec<&str> = req.segs.iter().map(String::as_str).collect();
    match (req.method, segs.as_slice()) {
        ("GET", ["user"]) => misc::authenticated_user(ctx, req),
        ("GET", ["orgs", org, "teams", slug, "memberships", login]) => {
            misc::team_membership(st, ctx, org, slug, login)
        }
        ("POST", ["app", "installations", id, "access_tokens"]) => {
            apps::create_installation_token(st, req, id)
        }
        (_, ["repos", owner, repo, rest @ ..]) => {
            let key = State::repo_key(owner, repo);
            if !st.repos.contains_key(&key) {
                return Reply::not_found();
            }
            repo_route(st, ctx, req, &key, rest)
        }
        _ => Reply::not_found(),
    }
}

fn repo_route(st: &mut State, ctx: &Ctx, req: &Req, key: &str, rest: &[&str]) -> Reply {
    let number = |s: &str| s.parse::<u64>().ok();
    match (req.method, rest) {
        ("GET", []) => Reply::ok(render::repository(
            ctx,
            &st.repos[key],
            &st.repos[key].owner,
        )),
        ("GET", ["issues"]) => issues::list(&st.repos[key], ctx, req),
        ("GET", ["issues", "comments", id]) => match number(id) {
            Some(id) => issues::get_comment(&st.repos[key], ctx, id),
            None => Reply::not_found(),
        },
        // GitHub accepts POST for PATCH endpoints (octocrab's `update_comment` uses it).
        ("PATCH" | "POST", ["issues", "comments", id]) => match number(id) {
            Some(id) => issues::update_comment(st, key, ctx, req, id),
            None => Reply::not_found(),
        },
        ("DELETE", ["issues", "comments", id]) => match number(id) {
            Some(id) => issues::delete_comment(st, key, id),
            None => Reply::not_found(),
        },
        (_, ["issues", n, rest @ ..]) => match number(n) {
            Some(n) if st.repos[key].issues.contains_key(&n) => {
                issues::issue_route(st, key, ctx, req, n, rest)
            }
            _ => Reply::not_found(),
        },
        ("GET", ["pulls"]) => pulls::list(&st.repos[key], ctx, req),
        (_, ["pulls", n, rest @ ..]) => match number(n) {
            Some(n) if is_pull(&st.repos[key], n) => pulls::pull_route(st, key, ctx, req, n, rest),
            _ => Reply::not_found(),
        },
        ("GET", ["collaborators", login, "permission"]) => {
            misc::collaborator_permission(&st.repos[key], ctx, login)
        }
        _ => Reply::not_found(),
    }
}

fn is_pull(repo: &RepoState, n: u64) -> bool {
    repo.issue(n).is_some_and(|i| i.pull.is_some())
}

/// Parses a JSON request body into an object.
pub(crate) fn json_body(body: &[u8]) -> Result<serde_json::Map<String, Value>, Reply> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(Reply::bad_json()),
    }
}

/// `asc`/`desc` (`default` when absent); anything else is invalid.
pub(crate) fn direction(req: &Req, default_desc: bool) -> Result<bool, Reply> {
    match req.query.get("direction") {
        None => Ok(default_desc),
        Some("desc") => Ok(true),
        Some("asc") => Ok(false),
        Some(_) => Err(Reply::invalid("Issue", "direction")),
    }
}
