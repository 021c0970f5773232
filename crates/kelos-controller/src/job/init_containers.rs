//! Workspace init containers, in the order the pod runs them (reference §3.4): `git-clone`,
//! `remote-setup`, `branch-setup`, `workspace-files`. All use the git image, run as UID
//! 61100 and mount the workspace volume at `/workspace`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use k8s_openapi::api::core::v1::{
    Container, EnvVar, EnvVarSource, SecretKeySelector, SecurityContext, VolumeMount,
};
use kelos_api::{GitRemote, WorkspaceFile, WorkspaceSpec};

use super::error::JobBuildError;
use super::images::GIT_CLONE_IMAGE;
use super::text::{clean_path, shell_quote};
use super::{AGENT_UID, REPO_PATH, WORKSPACE_MOUNT_PATH, workspace_mount};

/// The git credential helper that answers with `x-access-token` / `$GITHUB_TOKEN`. It reads
/// the token from the environment at use time, so the token itself never appears in the pod
/// spec or the repository config.
pub const CREDENTIAL_HELPER: &str =
    r#"!f() { echo "username=x-access-token"; echo "password=$GITHUB_TOKEN"; }; f"#;

/// A plain `name=value` variable.
pub(crate) fn plain_env(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value: Some(value.to_string()),
        value_from: None,
    }
}

/// A variable read from `key` of Secret `secret` (not optional).
pub(crate) fn secret_env(name: &str, secret: &str, key: &str) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value: None,
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.to_string(),
                key: key.to_string(),
                optional: None,
            }),
            ..Default::default()
        }),
    }
}

/// `securityContext: {runAsUser: 61100}`.
pub(crate) fn run_as_agent() -> SecurityContext {
    SecurityContext {
        run_as_user: Some(AGENT_UID),
        ..Default::default()
    }
}

/// A container running `sh -c <script>`.
pub(crate) fn shell_container(
    name: &str,
    image: &str,
    script: String,
    mounts: Vec<VolumeMount>,
) -> Container {
    Container {
        name: name.to_string(),
        image: Some(image.to_string()),
        command: Some(vec!["sh".to_string(), "-c".to_string(), script]),
        volume_mounts: Some(mounts),
        ..Default::default()
    }
}

fn some_env(env: Vec<EnvVar>) -> Option<Vec<EnvVar>> {
    (!env.is_empty()).then_some(env)
}

/// `git clone [--branch <ref>] --no-single-branch --depth 1 -- <repo> /workspace/repo`,
/// without the leading `git`.
pub fn clone_args(workspace: &WorkspaceSpec) -> Vec<String> {
    let mut args = vec!["clone".to_string()];
    if let Some(r) = workspace.r#ref.as_deref().filter(|r| !r.is_empty()) {
        args.push("--branch".to_string());
        args.push(r.to_string());
    }
    for a in ["--no-single-branch", "--depth", "1", "--"] {
        args.push(a.to_string());
    }
    args.push(workspace.repo.clone());
    args.push(REPO_PATH.to_string());
    args
}

/// The `sh -c` script of an authenticated clone: runs git with only the token helper, then
/// persists that helper into the clone's config for the agent's later fetches and pushes.
pub fn authenticated_clone_script() -> String {
    format!(
        "git -c credential.helper= -c credential.helper='{h}' \"$@\" && {{ \
         git -C {REPO_PATH} config --unset-all credential.helper 2>/dev/null || true; \
         git -C {REPO_PATH} config --add credential.helper '{h}'; }}",
        h = CREDENTIAL_HELPER
    )
}

/// `git-clone`. Without a token Secret the image's entrypoint (git) gets the clone arguments;
/// with one, `sh -c <authenticated_clone_script>` gets `--` and the clone arguments.
pub(crate) fn git_clone_container(
    workspace: &WorkspaceSpec,
    authenticated: bool,
    workspace_env: &[EnvVar],
) -> Container {
    let args = clone_args(workspace);
    let (command, args) = if authenticated {
        let mut with_sep = vec!["--".to_string()];
        with_sep.extend(args);
        (
            Some(vec![
                "sh".to_string(),
                "-c".to_string(),
                authenticated_clone_script(),
            ]),
            with_sep,
        )
    } else {
        (None, args)
    };
    Container {
        name: "git-clone".to_string(),
        image: Some(GIT_CLONE_IMAGE.to_string()),
        command,
        args: Some(args),
        env: some_env(workspace_env.to_vec()),
        volume_mounts: Some(vec![workspace_mount()]),
        security_context: Some(run_as_agent()),
        ..Default::default()
    }
}

/// The `remote-setup` script: adds or re-points each extra remote, names and URLs
/// single-quoted.
pub fn remote_setup_script(remotes: &[GitRemote]) -> String {
    let mut parts = vec![format!("cd {REPO_PATH}")];
    for r in remotes {
        let (n, u) = (shell_quote(&r.name), shell_quote(&r.url));
        parts.push(format!(
            "if git remote get-url {n} >/dev/null 2>&1; then git remote set-url {n} {u}; else git remote add {n} {u}; fi"
        ));
    }
    parts.join(" && ")
}

/// `remote-setup` (no env).
pub(crate) fn remote_setup_container(remotes: &[GitRemote]) -> Container {
    let mut c = shell_container(
        "remote-setup",
        GIT_CLONE_IMAGE,
        remote_setup_script(remotes),
        vec![workspace_mount()],
    );
    c.security_context = Some(run_as_agent());
    c
}

/// The `branch-setup` script: fetch `$KELOS_BRANCH` if the remote has it (a failure is
/// ignored), then check it out, creating it when it does not exist.
pub fn branch_setup_script(authenticated: bool) -> String {
    let fetch = if authenticated {
        format!(
            "git -c credential.helper= -c credential.helper='{CREDENTIAL_HELPER}' fetch origin \"$KELOS_BRANCH\":\"$KELOS_BRANCH\" 2>/dev/null"
        )
    } else {
        "git fetch origin \"$KELOS_BRANCH\":\"$KELOS_BRANCH\" 2>/dev/null".to_string()
    };
    format!(
        "cd {REPO_PATH} && {fetch}; \
         if git rev-parse --verify refs/heads/\"$KELOS_BRANCH\" >/dev/null 2>&1; then \
         git checkout \"$KELOS_BRANCH\"; \
         else git checkout -b \"$KELOS_BRANCH\"; fi"
    )
}

/// `branch-setup`: env = the workspace env set plus `KELOS_BRANCH`.
pub(crate) fn branch_setup_container(
    branch: &str,
    authenticated: bool,
    workspace_env: &[EnvVar],
) -> Container {
    let mut env = workspace_env.to_vec();
    env.push(plain_env("KELOS_BRANCH", branch));
    let mut c = shell_container(
        "branch-setup",
        GIT_CLONE_IMAGE,
        branch_setup_script(authenticated),
        vec![workspace_mount()],
    );
    c.env = Some(env);
    c.security_context = Some(run_as_agent());
    c
}

/// A workspace file's path, cleaned, or why it is refused: blank, a backslash, `.`, absolute,
/// or escaping the repository.
pub fn sanitize_workspace_file_path(path: &str) -> Result<String, &'static str> {
    if path.trim().is_empty() {
        return Err("path is empty");
    }
    if path.contains('\\') {
        return Err("path must use forward slashes");
    }
    let clean = clean_path(path);
    if clean == "." {
        return Err("path resolves to current directory");
    }
    if clean.starts_with('/') {
        return Err("absolute paths are not allowed");
    }
    if clean == ".." || clean.starts_with("../") {
        return Err("path escapes repository root");
    }
    Ok(clean)
}

/// The `workspace-files` script: `set -eu`, then per file `target=…`, `mkdir -p` of its
/// directory and a base64 write.
pub fn workspace_files_script(files: &[WorkspaceFile]) -> Result<String, JobBuildError> {
    let mut lines = vec!["set -eu".to_string()];
    for file in files {
        let relative = sanitize_workspace_file_path(&file.path).map_err(|reason| {
            JobBuildError::InvalidWorkspaceFilePath {
                path: file.path.clone(),
                reason,
            }
        })?;
        let target = format!("{WORKSPACE_MOUNT_PATH}/repo/{relative}");
        lines.push(format!("target={}", shell_quote(&target)));
        lines.push(r#"mkdir -p "$(dirname "$target")""#.to_string());
        lines.push(format!(
            "printf '%s' {} | base64 -d > \"$target\"",
            shell_quote(&STANDARD.encode(&file.content))
        ));
    }
    Ok(lines.join("\n"))
}

/// `workspace-files` (no env).
pub(crate) fn workspace_files_container(
    files: &[WorkspaceFile],
) -> Result<Container, JobBuildError> {
    let mut c = shell_container(
        "workspace-files",
        GIT_CLONE_IMAGE,
        workspace_files_script(files)?,
        vec![workspace_mount()],
    );
    c.security_context = Some(run_as_agent());
    Ok(c)
}
