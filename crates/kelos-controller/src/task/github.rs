//! The Workspace's GitHub credentials for a Task (reference §3.5): a personal access token is
//! used as is; a GitHub App key is exchanged for an installation token stored in the
//! Task-owned Secret `<task>-github-token`. Error messages never include Secret values.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use kelos_api::{Task, WorkspaceSpec};
use kube::api::{ObjectMeta, Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};

use super::context::Context;
use crate::job;

/// The keys that make a Secret a GitHub App secret (all three).
const APP_KEYS: [&str; 3] = ["appID", "installationID", "privateKey"];

pub fn is_github_app(data: &BTreeMap<String, String>) -> bool {
    APP_KEYS.iter().all(|k| data.contains_key(*k))
}

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
    let data: BTreeMap<String, String> = secret
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), String::from_utf8_lossy(&v.0).into_owned()))
        .collect();
    if !is_github_app(&data) {
        return Ok(None);
    }
    let token = mint_installation_token(ctx, workspace, &data).await?;
    let name = job::github_token_secret_name(&task.name_any());
    let mut owner = task
        .controller_owner_ref(&())
        .ok_or_else(|| "Task has no uid".to_owned())?;
    owner.block_owner_deletion = Some(true);
    let desired = Secret {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(ns.to_owned()),
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        // `data`, not `stringData`: server-side apply tracks `data` cleanly on updates.
        data: Some(BTreeMap::from([(
            job::GITHUB_TOKEN_KEY.to_owned(),
            k8s_openapi::ByteString(token.into_bytes()),
        )])),
        ..Default::default()
    };
    let params = PatchParams::apply(kelos_api::constants::CONTROLLER_FIELD_MANAGER).force();
    api.patch(&name, &params, &Patch::Apply(&desired))
        .await
        .map_err(|e| format!("writing Secret {name}: {e}"))?;
    Ok(Some(name))
}

async fn mint_installation_token(
    _ctx: &Context,
    _workspace: &WorkspaceSpec,
    _data: &BTreeMap<String, String>,
) -> Result<String, String> {
    Err("GitHub App token exchange is not available in this build".to_owned())
}
