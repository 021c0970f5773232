//! Job construction for a Task: pure, no I/O (reference §3).
//!
//! The reconciler fetches what a Task refers to (Workspace, AgentConfig, the Secrets of MCP
//! servers), exchanges a GitHub App key for a token when the Workspace Secret holds one
//! ([`crate::github_app`]), renders the prompt, then calls [`build_job`] and adds the Task as
//! controller owner before creating the Job.
//!
//! ```text
//! resolve_mcp_secrets(agent_config, secrets)   // headersFrom / envFrom → headers / env
//! build_job(&JobInputs { task, workspace, agent_config, prompt, github_token_secret, images })
//! ```

mod agent_config;
mod env;
mod error;
mod images;
mod init_containers;
mod mcp;
mod repo_url;
mod text;

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{
    Job, JobSpec, PodFailurePolicy, PodFailurePolicyOnExitCodesRequirement,
    PodFailurePolicyOnPodConditionsPattern, PodFailurePolicyRule,
};
use k8s_openapi::api::core::v1::{
    Container, EmptyDirVolumeSource, PodSecurityContext, PodSpec, PodTemplateSpec, Volume,
    VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kelos_api::constants::{
    APP_NAME, COMPONENT_TASK, LABEL_APP_COMPONENT, LABEL_APP_MANAGED_BY, LABEL_APP_NAME,
    LABEL_TASK, MANAGED_BY_CONTROLLER,
};
use kelos_api::{AgentConfigSpec, Task, WorkspaceSpec};
use kube::ResourceExt;

pub use agent_config::{plugin_setup_script, sanitize_component_name, skills_install_script};
pub use env::{GITHUB_TOKEN_KEY, upstream_repo_from_remotes};
pub use error::JobBuildError;
pub use images::{
    AgentImage, DEFAULT_CLAUDE_CODE_IMAGE, DEFAULT_CODEX_IMAGE, DEFAULT_CURSOR_IMAGE,
    DEFAULT_GEMINI_IMAGE, DEFAULT_OPENCODE_IMAGE, GIT_CLONE_IMAGE, JobImages, NODE_IMAGE,
    api_key_env_var, credential_env_var, oauth_env_var,
};
pub use init_containers::{
    CREDENTIAL_HELPER, authenticated_clone_script, branch_setup_script, clone_args,
    remote_setup_script, sanitize_workspace_file_path, workspace_files_script,
};
pub use mcp::{build_mcp_servers_json, mcp_secret_names, resolve_mcp_secrets};
pub use repo_url::{github_api_base_url, is_enterprise_host, parse_github_repo};
pub use text::shell_quote;

use init_containers::plain_env;

/// Name of the workspace emptyDir volume.
pub const WORKSPACE_VOLUME_NAME: &str = "workspace";
/// Where the workspace volume is mounted.
pub const WORKSPACE_MOUNT_PATH: &str = "/workspace";
/// Where the repository is cloned; the agent's working directory.
pub const REPO_PATH: &str = "/workspace/repo";
/// Name of the plugin emptyDir volume.
pub const PLUGIN_VOLUME_NAME: &str = "kelos-plugin";
/// Where the plugin volume is mounted (`KELOS_PLUGIN_DIR`).
pub const PLUGIN_MOUNT_PATH: &str = "/kelos/plugin";
/// `GH_CONFIG_DIR` of an authenticated workspace: a clean gh config on the workspace volume.
pub const GH_CONFIG_DIR: &str = "/workspace/.gh-config";
/// UID agent images run as; fsGroup of the pod and runAsUser of the git init containers.
pub const AGENT_UID: i64 = 61100;
/// The agent container's command; the prompt is its only argument.
pub const AGENT_ENTRYPOINT: &str = "/kelos_entrypoint.sh";
/// Job `spec.backoffLimit`.
pub const BACKOFF_LIMIT: i32 = 1;

/// Name of the Task-owned Secret holding a GitHub App installation token:
/// `<task>-github-token`, key `GITHUB_TOKEN`.
pub fn github_token_secret_name(task_name: &str) -> String {
    format!("{task_name}-github-token")
}

/// Everything [`build_job`] needs, already fetched and resolved by the caller.
#[derive(Clone, Copy, Debug)]
pub struct JobInputs<'a> {
    /// The Task. Its name and namespace become the Job's; its `kelos.dev/taskspawner` label
    /// becomes `KELOS_TASKSPAWNER`.
    pub task: &'a Task,
    /// The Task's Workspace, if it has a `workspaceRef`.
    pub workspace: Option<&'a WorkspaceSpec>,
    /// The Task's AgentConfig, with MCP `headersFrom`/`envFrom` already resolved
    /// ([`resolve_mcp_secrets`]).
    pub agent_config: Option<&'a AgentConfigSpec>,
    /// The prompt, after dependency templating; the agent's only argument.
    pub prompt: &'a str,
    /// After a GitHub App exchange: the Secret holding the installation token
    /// (`<task>-github-token`), used instead of `workspace.secretRef.name`. Only meaningful
    /// with a workspace; a workspace is then treated as authenticated.
    pub github_token_secret: Option<&'a str>,
    /// Images and pull policies per agent type.
    pub images: &'a JobImages,
}

pub(crate) fn workspace_mount() -> VolumeMount {
    VolumeMount {
        name: WORKSPACE_VOLUME_NAME.to_string(),
        mount_path: WORKSPACE_MOUNT_PATH.to_string(),
        ..Default::default()
    }
}

pub(crate) fn plugin_mount() -> VolumeMount {
    VolumeMount {
        name: PLUGIN_VOLUME_NAME.to_string(),
        mount_path: PLUGIN_MOUNT_PATH.to_string(),
        ..Default::default()
    }
}

fn empty_dir(name: &str) -> Volume {
    Volume {
        name: name.to_string(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Default::default()
    }
}

/// Labels of the Job and its pods: `app.kubernetes.io/{name,component,managed-by}` and
/// `kelos.dev/task: <task>`.
pub fn job_labels(task_name: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LABEL_APP_NAME.to_string(), APP_NAME.to_string()),
        (LABEL_APP_COMPONENT.to_string(), COMPONENT_TASK.to_string()),
        (
            LABEL_APP_MANAGED_BY.to_string(),
            MANAGED_BY_CONTROLLER.to_string(),
        ),
        (LABEL_TASK.to_string(), task_name.to_string()),
    ])
}

/// Disruptions (`DisruptionTarget`) count against the backoff limit; any non-zero exit fails
/// the Job at once.
pub fn pod_failure_policy() -> PodFailurePolicy {
    PodFailurePolicy {
        rules: vec![
            PodFailurePolicyRule {
                action: "Count".to_string(),
                on_pod_conditions: Some(vec![PodFailurePolicyOnPodConditionsPattern {
                    type_: "DisruptionTarget".to_string(),
                    status: Some("True".to_string()),
                }]),
                on_exit_codes: None,
            },
            PodFailurePolicyRule {
                action: "FailJob".to_string(),
                on_pod_conditions: None,
                on_exit_codes: Some(PodFailurePolicyOnExitCodesRequirement {
                    operator: "NotIn".to_string(),
                    values: vec![0],
                    container_name: None,
                }),
            },
        ],
    }
}

fn non_empty_slice<T>(v: &Option<Vec<T>>) -> &[T] {
    v.as_deref().unwrap_or(&[])
}

/// Builds the Job that runs a Task's agent, exactly as the original does (reference §3):
/// name and namespace of the Task, the labels of [`job_labels`], `backoffLimit: 1`, the
/// [`pod_failure_policy`], `activeDeadlineSeconds`/`nodeSelector`/`resources`/extra env from
/// `podOverrides` (built-in variables win), `restartPolicy: Never`; with a workspace, the
/// workspace volume, `fsGroup: 61100`, working directory `/workspace/repo` and the init
/// containers `git-clone`, `remote-setup`, `branch-setup`, `workspace-files`; with an
/// AgentConfig, `KELOS_AGENTS_MD`, the plugin volume and `plugin-setup`/`skills-install`, and
/// `KELOS_MCP_SERVERS`.
///
/// The Job has no ownerReference: the caller sets the Task as controller owner.
pub fn build_job(inputs: &JobInputs) -> Result<Job, JobBuildError> {
    let task = inputs.task;
    let spec = &task.spec;
    let agent_type = spec.type_;
    let agent_image = inputs.images.for_agent(agent_type);
    let image = spec
        .image
        .clone()
        .filter(|i| !i.is_empty())
        .unwrap_or_else(|| agent_image.image.clone());

    let token_secret = inputs.workspace.and_then(|ws| {
        inputs
            .github_token_secret
            .or(ws.secret_ref.as_ref().map(|r| r.name.as_str()))
    });
    let authenticated = token_secret.is_some();
    let base = env::base_env(task, inputs.workspace, token_secret);
    let mut env = base.agent;

    let mut init_containers: Vec<Container> = Vec::new();
    let mut volumes: Vec<Volume> = Vec::new();
    let mut mounts: Vec<VolumeMount> = Vec::new();
    let mut security_context = None;
    let mut working_dir = None;

    if let Some(ws) = inputs.workspace {
        security_context = Some(PodSecurityContext {
            fs_group: Some(AGENT_UID),
            ..Default::default()
        });
        volumes.push(empty_dir(WORKSPACE_VOLUME_NAME));
        init_containers.push(init_containers::git_clone_container(
            ws,
            authenticated,
            &base.workspace,
        ));
        let remotes = non_empty_slice(&ws.remotes);
        if !remotes.is_empty() {
            init_containers.push(init_containers::remote_setup_container(remotes));
        }
        if let Some(branch) = spec.branch.as_deref().filter(|b| !b.is_empty()) {
            init_containers.push(init_containers::branch_setup_container(
                branch,
                authenticated,
                &base.workspace,
            ));
        }
        let files = non_empty_slice(&ws.files);
        if !files.is_empty() {
            init_containers.push(init_containers::workspace_files_container(files)?);
        }
        mounts.push(workspace_mount());
        working_dir = Some(REPO_PATH.to_string());
    }

    if let Some(ac) = inputs.agent_config {
        if let Some(md) = ac.agents_md.as_deref().filter(|m| !m.is_empty()) {
            env.push(plain_env("KELOS_AGENTS_MD", md));
        }
        let plugins = non_empty_slice(&ac.plugins);
        let skills = non_empty_slice(&ac.skills);
        if !plugins.is_empty() || !skills.is_empty() {
            volumes.push(empty_dir(PLUGIN_VOLUME_NAME));
            mounts.push(plugin_mount());
            env.push(plain_env("KELOS_PLUGIN_DIR", PLUGIN_MOUNT_PATH));
        }
        if !plugins.is_empty() {
            init_containers.push(
                agent_config::plugin_setup_container(plugins)
                    .map_err(JobBuildError::InvalidPlugin)?,
            );
        }
        if !skills.is_empty() {
            init_containers.push(
                agent_config::skills_install_container(skills, agent_type)
                    .map_err(JobBuildError::InvalidSkills)?,
            );
        }
        let servers = non_empty_slice(&ac.mcp_servers);
        if !servers.is_empty() {
            let json = build_mcp_servers_json(servers).map_err(JobBuildError::InvalidMcpServer)?;
            env.push(plain_env("KELOS_MCP_SERVERS", &json));
        }
    }

    let overrides = spec.pod_overrides.as_ref();
    if let Some(extra) = overrides.and_then(|o| o.env.as_ref()) {
        let builtin: std::collections::BTreeSet<String> =
            env.iter().map(|e| e.name.clone()).collect();
        env.extend(extra.iter().filter(|e| !builtin.contains(&e.name)).cloned());
    }

    let agent = Container {
        name: agent_type.as_str().to_string(),
        image: Some(image),
        image_pull_policy: agent_image.effective_pull_policy(),
        command: Some(vec![AGENT_ENTRYPOINT.to_string()]),
        args: Some(vec![inputs.prompt.to_string()]),
        env: Some(env),
        resources: overrides.and_then(|o| o.resources.clone()),
        volume_mounts: (!mounts.is_empty()).then_some(mounts),
        working_dir,
        ..Default::default()
    };

    let name = task.name_any();
    let labels = job_labels(&name);
    Ok(Job {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: task.namespace(),
            labels: Some(labels.clone()),
            ..Default::default()
        },
        spec: Some(JobSpec {
            backoff_limit: Some(BACKOFF_LIMIT),
            pod_failure_policy: Some(pod_failure_policy()),
            active_deadline_seconds: overrides.and_then(|o| o.active_deadline_seconds),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    restart_policy: Some("Never".to_string()),
                    security_context,
                    init_containers: (!init_containers.is_empty()).then_some(init_containers),
                    volumes: (!volumes.is_empty()).then_some(volumes),
                    containers: vec![agent],
                    node_selector: overrides.and_then(|o| o.node_selector.clone()),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        status: None,
    })
}
