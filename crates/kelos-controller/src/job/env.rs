//! The agent container's environment, in the original's exact order (reference §3.3, steps 1
//! to 7; AgentConfig and podOverrides variables are appended by `build_job`).

use k8s_openapi::api::core::v1::EnvVar;
use kelos_api::constants::LABEL_TASKSPAWNER;
use kelos_api::{GitRemote, Task, WorkspaceSpec};

use super::GH_CONFIG_DIR;
use super::images::credential_env_var;
use super::init_containers::{plain_env, secret_env};
use super::repo_url::{is_enterprise_host, parse_github_repo};

/// Key of the workspace token in its Secret, and the variable it is exposed as.
pub const GITHUB_TOKEN_KEY: &str = "GITHUB_TOKEN";

/// The agent's variables and the workspace subset the git init containers get.
pub(crate) struct BaseEnv {
    /// `KELOS_MODEL` … `GH_CONFIG_DIR`.
    pub agent: Vec<EnvVar>,
    /// `GH_HOST`, `GITHUB_TOKEN`, `GH_TOKEN`/`GH_ENTERPRISE_TOKEN`, each when applicable.
    pub workspace: Vec<EnvVar>,
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.is_empty())
}

/// `owner/repo` of the first remote named exactly `upstream` that parses to both.
pub fn upstream_repo_from_remotes(remotes: &[GitRemote]) -> Option<String> {
    remotes
        .iter()
        .filter(|r| r.name == "upstream")
        .find_map(|r| {
            let (_, owner, repo) = parse_github_repo(&r.url);
            (!owner.is_empty() && !repo.is_empty()).then(|| format!("{owner}/{repo}"))
        })
}

/// Steps 1–7 of the agent env. `token_secret` is the effective workspace token Secret
/// (`workspace.secretRef.name`, or `<task>-github-token` after a GitHub App exchange).
pub(crate) fn base_env(
    task: &Task,
    workspace: Option<&WorkspaceSpec>,
    token_secret: Option<&str>,
) -> BaseEnv {
    let spec = &task.spec;
    let mut agent = Vec::new();
    let mut ws_env = Vec::new();

    if let Some(model) = non_empty(&spec.model) {
        agent.push(plain_env("KELOS_MODEL", model));
    }
    if let Some(branch) = non_empty(&spec.branch) {
        agent.push(plain_env("KELOS_BRANCH", branch));
    }
    agent.push(plain_env("KELOS_AGENT_TYPE", spec.type_.as_str()));
    if let Some(spawner) = task
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(LABEL_TASKSPAWNER))
        .filter(|v| !v.is_empty())
    {
        agent.push(plain_env("KELOS_TASKSPAWNER", spawner));
    }
    let cred = credential_env_var(spec.type_, spec.credentials.type_);
    agent.push(secret_env(cred, &spec.credentials.secret_ref.name, cred));

    if let Some(ws) = workspace {
        let (host, _, _) = parse_github_repo(&ws.repo);
        let enterprise = is_enterprise_host(&host);
        if enterprise {
            let gh_host = plain_env("GH_HOST", &host);
            agent.push(gh_host.clone());
            ws_env.push(gh_host);
        }
        if let Some(r) = non_empty(&ws.r#ref) {
            agent.push(plain_env("KELOS_BASE_BRANCH", r));
        }
        let upstream = non_empty(&spec.upstream_repo)
            .map(str::to_string)
            .or_else(|| upstream_repo_from_remotes(ws.remotes.as_deref().unwrap_or(&[])));
        if let Some(upstream) = upstream {
            agent.push(plain_env("KELOS_UPSTREAM_REPO", &upstream));
        }

        if let Some(secret) = token_secret {
            let token = secret_env(GITHUB_TOKEN_KEY, secret, GITHUB_TOKEN_KEY);
            let gh_name = if enterprise {
                "GH_ENTERPRISE_TOKEN"
            } else {
                "GH_TOKEN"
            };
            let gh_token = secret_env(gh_name, secret, GITHUB_TOKEN_KEY);
            agent.push(token.clone());
            agent.push(gh_token.clone());
            ws_env.push(token);
            ws_env.push(gh_token);
            agent.push(plain_env("GH_CONFIG_DIR", GH_CONFIG_DIR));
        }
    }

    BaseEnv {
        agent,
        workspace: ws_env,
    }
}
