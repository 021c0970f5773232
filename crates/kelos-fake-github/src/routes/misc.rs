//! The authenticated user, collaborator permissions and team memberships (what the comment
//! policy's authorizer asks).

use serde_json::{Value, json};

use super::{Reply, Req};
use crate::render::{self, Ctx};
use crate::state::{RepoState, State};

/// `GET /user`.
pub(super) fn authenticated_user(ctx: &Ctx, req: &Req) -> Reply {
    match &req.login {
        Some(login) => Reply::ok(render::user_profile(ctx, login)),
        None => Reply::requires_auth(),
    }
}

/// `GET /repos/{o}/{r}/collaborators/{user}/permission` →
/// `{permission, role_name, user}`. `permission` is the legacy base role (maintain → write,
/// triage → read). The owner is admin; a login with no configured role is 404 (not a
/// collaborator), as the original spawner expects.
pub(super) fn collaborator_permission(repo: &RepoState, ctx: &Ctx, login: &str) -> Reply {
    let role = match repo.permissions.get(&login.to_ascii_lowercase()) {
        Some(role) => role.clone(),
        None if login.eq_ignore_ascii_case(&repo.owner) => "admin".into(),
        None => return Reply::error(404, &format!("{login} is not a user")),
    };
    let legacy = match role.as_str() {
        "admin" => "admin",
        "maintain" | "write" => "write",
        "none" => "none",
        _ => "read",
    };
    let rank = match role.as_str() {
        "admin" => 5,
        "maintain" => 4,
        "write" => 3,
        "triage" => 2,
        "none" => 0,
        _ => 1,
    };
    let mut user = render::user(ctx, login);
    user["permissions"] = json!({
        "admin": rank >= 5,
        "maintain": rank >= 4,
        "push": rank >= 3,
        "triage": rank >= 2,
        "pull": rank >= 1,
    });
    user["role_name"] = Value::String(role.clone());
    Reply::ok(json!({ "permission": legacy, "role_name": role, "user": user }))
}

/// `GET /orgs/{org}/teams/{slug}/memberships/{user}` → `{url, role, state}` or 404.
pub(super) fn team_membership(st: &State, ctx: &Ctx, org: &str, slug: &str, login: &str) -> Reply {
    let key = (
        org.to_ascii_lowercase(),
        slug.to_ascii_lowercase(),
        login.to_ascii_lowercase(),
    );
    match st.teams.get(&key) {
        Some(m) => {
            let org_id = render::stable_id("org", org);
            let team_id = render::stable_id("team", &format!("{org}/{slug}"));
            Reply::ok(json!({
                "url": format!(
                    "{}/organizations/{org_id}/team/{team_id}/memberships/{}",
                    ctx.api,
                    render::enc(login)
                ),
                "role": m.role,
                "state": m.state,
            }))
        }
        None => Reply::not_found(),
    }
}
