//! The Workspace's GitHub credentials for a Task (reference §3.5): a personal access token is
//! used as is; a GitHub App key is exchanged for an installation token stored in the
//! Task-owned Secret `<task>-github-token` (see [`crate::github_app`]). Error messages never
//! include Secret values.

use k8s_openapi::api::core::v1::Secret;
use kelos_api::{Task, WorkspaceSpec};
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};

use super::context::Context;
use crate::github_app::{self, AppCredentials};

/// `Ok(None)`: use the workspace Secret itself. `Ok(Some(name))`: use the minted token Secret.
pub async fn resolve_token_secret(
    ctx: &Context,
    task: &Task,
    ns: &str,
    workspace: &WorkspaceSpec,
    secret_name: &str,
) -> Result<Option<String>, String> {
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    let secret = match api.get_opt(secret_name).await {
        Ok(Some(s)) => s,
        Ok(None) => return Err(format!("secrets \"{secret_name}\" not found")),
        Err(e) => return Err(e.to_string()),
    };
    if !github_app::is_github_app_secret(&secret) {
        return Ok(None);
    }
    let data = secret.data.unwrap_or_default();
    let creds = AppCredentials::from_secret_data(&data).map_err(|e| e.to_string())?;
    let base = github_app::api_base_url(&workspace.repo, ctx.config.github_api_base_url.as_deref());
    let client = ctx.token_client().map_err(|e| e.to_string())?;
    let token = client
        .installation_token(&base, &creds)
        .await
        .map_err(|e| e.to_string())?;
    let desired = github_app::desired_token_secret(task, &token);
    let name = desired.name_any();
    match api.create(&PostParams::default(), &desired).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 409 => {
            api.patch(&name, &PatchParams::default(), &Patch::Merge(&desired))
                .await
                .map_err(|e| format!("updating Secret {name}: {e}"))?;
        }
        Err(e) => return Err(format!("creating Secret {name}: {e}")),
    }
    Ok(Some(name))
}
