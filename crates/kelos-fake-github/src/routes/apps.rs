//! `POST /app/installations/{id}/access_tokens`: the GitHub App token exchange.

use serde_json::json;
use sha2::{Digest, Sha256};

use super::{Reply, Req};
use crate::jwt;
use crate::render;
use crate::state::{MintedToken, State};

pub(super) fn create_installation_token(st: &mut State, req: &Req, id: &str) -> Reply {
    let Some(auth) = req.authorization else {
        return Reply::requires_auth();
    };
    let Some(token) = auth
        .strip_prefix("Bearer ")
        .or_else(|| auth.strip_prefix("bearer "))
    else {
        return Reply::error(401, "A JSON web token could not be decoded");
    };
    let app_id = match jwt::verify(token.trim(), &st.apps, req.now) {
        Ok(app_id) => app_id,
        Err(jwt::JwtError::UnknownApp) => return Reply::error(404, "Integration not found"),
        Err(e) => return Reply::error(401, &e.to_string()),
    };
    let Some(installation_id) = id.parse::<u64>().ok() else {
        return Reply::not_found();
    };
    if st.installations.get(&installation_id) != Some(&app_id) {
        return Reply::not_found();
    }

    let seed = format!(
        "{installation_id}:{}:{}",
        st.minted.len(),
        req.now.timestamp_nanos_opt().unwrap_or_default()
    );
    let token = format!("ghs_{}", &format!("{:x}", Sha256::digest(seed))[..36]);
    let expires_at = req.now + st.token_ttl;
    st.minted.push(MintedToken {
        token: token.clone(),
        installation_id,
        app_id,
        expires_at,
    });
    Reply::json(
        201,
        json!({
            "token": token,
            "expires_at": render::time(expires_at),
            "permissions": {
                "contents": "write",
                "issues": "write",
                "metadata": "read",
                "pull_requests": "write",
            },
            "repository_selection": "all",
        }),
    )
}
