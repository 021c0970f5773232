//! The spawner workload of a TaskSpawner, built without I/O (reference §6.1-6.3): the pod
//! parts (args, env, volumes, the token-refresher sidecar), the Deployment for polling sources
//! and the CronJob for cron.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, JobSpec, JobTemplateSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, EmptyDirVolumeSource, EnvVar, EnvVarSource, PodSecurityContext,
    PodSpec, PodTemplateSpec, SeccompProfile, Secret, SecretKeySelector, SecretVolumeSource,
    SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use kelos_api::constants::{
    APP_NAME, COMPONENT_SPAWNER, LABEL_APP_COMPONENT, LABEL_APP_MANAGED_BY, LABEL_APP_NAME,
    LABEL_TASKSPAWNER, MANAGED_BY_CONTROLLER,
};
use kelos_api::{TaskSpawner, WorkspaceSpec};
use kube::{Resource, ResourceExt};

use super::config::TaskSpawnerConfig;
use crate::github_app::{APP_ID_KEY, INSTALLATION_ID_KEY, is_github_app_secret};
use crate::job::{GITHUB_TOKEN_KEY, github_api_base_url, is_enterprise_host, parse_github_repo};

/// Per-namespace ServiceAccount every spawner pod runs as.
pub const SPAWNER_SERVICE_ACCOUNT: &str = "kelos-spawner";
/// Per-namespace RoleBinding of [`SPAWNER_SERVICE_ACCOUNT`] to [`SPAWNER_CLUSTER_ROLE`].
pub const SPAWNER_ROLE_BINDING: &str = "kelos-spawner";
/// The ClusterRole the Helm chart installs for spawners.
pub const SPAWNER_CLUSTER_ROLE: &str = "kelos-spawner-role";

pub const SPAWNER_CONTAINER: &str = "spawner";
pub const TOKEN_REFRESHER_CONTAINER: &str = "token-refresher";
/// emptyDir shared by the sidecar (writes) and the spawner (reads).
pub const TOKEN_VOLUME: &str = "github-token";
/// The Workspace's GitHub App Secret, mounted into the sidecar only.
pub const APP_SECRET_VOLUME: &str = "github-app-secret";
pub const TOKEN_DIR: &str = "/shared/token";
pub const TOKEN_FILE: &str = "/shared/token/GITHUB_TOKEN";
pub const APP_SECRET_DIR: &str = "/etc/github-app";

pub const JIRA_USER_KEY: &str = "JIRA_USER";
pub const JIRA_TOKEN_KEY: &str = "JIRA_TOKEN";

/// How the spawner authenticates to GitHub, decided from the Workspace's Secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GitHubAuth {
    /// No Workspace Secret (public repositories, or no Workspace at all).
    None,
    /// A personal access token: env `GITHUB_TOKEN` from the Secret's `GITHUB_TOKEN` key. Also
    /// used when the Secret does not exist (yet), as in the original.
    Pat { secret: String },
    /// A GitHub App: the token-refresher sidecar writes the token file.
    App { secret: String },
}

impl GitHubAuth {
    /// From the Workspace's `secretRef` and that Secret (`None`: not found). An App Secret
    /// has all of `appID`, `installationID` and `privateKey` in its data (reference §3.5).
    pub fn from_secret(secret_name: Option<&str>, secret: Option<&Secret>) -> GitHubAuth {
        let Some(name) = secret_name else {
            return GitHubAuth::None;
        };
        let secret_name = name.to_string();
        if secret.is_some_and(is_github_app_secret) {
            GitHubAuth::App {
                secret: secret_name,
            }
        } else {
            GitHubAuth::Pat {
                secret: secret_name,
            }
        }
    }
}

/// The repository the spawner talks to: `(host, owner, repo)`.
///
/// From the Workspace URL, unless `githubIssues.repo` (first) or `githubPullRequests.repo` is
/// set (fork workflow): then the override's owner and repo, and its host only when it has one,
/// so `owner/repo` shorthand keeps the Workspace's (GitHub Enterprise) host.
pub fn github_target(ts: &TaskSpawner, workspace: &WorkspaceSpec) -> (String, String, String) {
    let (mut host, mut owner, mut repo) = parse_github_repo(&workspace.repo);
    let when = &ts.spec.when;
    let override_repo = [
        when.github_issues.as_ref().and_then(|g| g.repo.as_deref()),
        when.github_pull_requests
            .as_ref()
            .and_then(|g| g.repo.as_deref()),
    ]
    .into_iter()
    .flatten()
    .find(|r| !r.is_empty());
    if let Some(override_repo) = override_repo {
        let (o_host, o_owner, o_repo) = parse_github_repo(override_repo);
        if !o_host.is_empty() {
            host = o_host;
        }
        owner = o_owner;
        repo = o_repo;
    }
    (host, owner, repo)
}

/// What the spawner pod needs besides the fixed shape: built by [`pod_parts`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PodParts {
    /// Spawner args (without `--one-shot`).
    pub args: Vec<String>,
    pub env: Vec<EnvVar>,
    pub volumes: Vec<Volume>,
    /// Mounts of the spawner container.
    pub volume_mounts: Vec<VolumeMount>,
    /// The token-refresher native sidecar, when GitHub App auth is used.
    pub init_containers: Vec<Container>,
}

/// Args, env, volumes and sidecar of a TaskSpawner's spawner (reference §6.1).
pub fn pod_parts(
    ts: &TaskSpawner,
    workspace: Option<&WorkspaceSpec>,
    auth: &GitHubAuth,
    config: &TaskSpawnerConfig,
) -> PodParts {
    let mut parts = PodParts {
        args: vec![
            format!("--taskspawner-name={}", ts.name_any()),
            format!(
                "--taskspawner-namespace={}",
                ts.namespace().unwrap_or_default()
            ),
        ],
        ..Default::default()
    };

    if let Some(workspace) = workspace {
        let (host, owner, repo) = github_target(ts, workspace);
        parts.args.push(format!("--github-owner={owner}"));
        parts.args.push(format!("--github-repo={repo}"));
        let enterprise = is_enterprise_host(&host);
        if enterprise {
            parts.args.push(format!(
                "--github-api-base-url={}",
                github_api_base_url(&host)
            ));
        }
        match auth {
            GitHubAuth::None => {}
            GitHubAuth::Pat { secret } => {
                parts
                    .env
                    .push(secret_env(GITHUB_TOKEN_KEY, secret, GITHUB_TOKEN_KEY, None));
            }
            GitHubAuth::App { secret } => {
                parts.args.push(format!("--github-token-file={TOKEN_FILE}"));
                parts.volumes.push(Volume {
                    name: TOKEN_VOLUME.into(),
                    empty_dir: Some(EmptyDirVolumeSource::default()),
                    ..Default::default()
                });
                parts.volumes.push(Volume {
                    name: APP_SECRET_VOLUME.into(),
                    secret: Some(SecretVolumeSource {
                        secret_name: Some(secret.clone()),
                        ..Default::default()
                    }),
                    ..Default::default()
                });
                parts
                    .volume_mounts
                    .push(mount(TOKEN_VOLUME, TOKEN_DIR, true));
                parts.init_containers.push(token_refresher(
                    secret,
                    enterprise.then(|| github_api_base_url(&host)),
                    config,
                ));
            }
        }
    }

    if let Some(jira) = &ts.spec.when.jira {
        parts
            .args
            .push(format!("--jira-base-url={}", jira.base_url));
        parts.args.push(format!("--jira-project={}", jira.project));
        if let Some(jql) = jira.jql.as_deref().filter(|j| !j.is_empty()) {
            parts.args.push(format!("--jira-jql={jql}"));
        }
        let secret = &jira.secret_ref.name;
        parts
            .env
            .push(secret_env(JIRA_USER_KEY, secret, JIRA_USER_KEY, Some(true)));
        parts
            .env
            .push(secret_env(JIRA_TOKEN_KEY, secret, JIRA_TOKEN_KEY, None));
    }
    parts
}

/// The native sidecar (an init container with `restartPolicy: Always`) that keeps
/// [`TOKEN_FILE`] fresh.
fn token_refresher(
    secret: &str,
    api_base_url: Option<String>,
    config: &TaskSpawnerConfig,
) -> Container {
    let mut env = vec![
        secret_env("APP_ID", secret, APP_ID_KEY, None),
        secret_env("INSTALLATION_ID", secret, INSTALLATION_ID_KEY, None),
    ];
    if let Some(url) = api_base_url {
        env.push(EnvVar {
            name: "GITHUB_API_BASE_URL".into(),
            value: Some(url),
            ..Default::default()
        });
    }
    Container {
        name: TOKEN_REFRESHER_CONTAINER.into(),
        image: Some(config.token_refresher_image.clone()),
        image_pull_policy: config.token_refresher_image_pull_policy.clone(),
        restart_policy: Some("Always".into()),
        env: Some(env),
        volume_mounts: Some(vec![
            mount(TOKEN_VOLUME, TOKEN_DIR, false),
            mount(APP_SECRET_VOLUME, APP_SECRET_DIR, true),
        ]),
        resources: config.token_refresher_resources.clone(),
        security_context: Some(container_security_context()),
        ..Default::default()
    }
}

fn secret_env(name: &str, secret: &str, key: &str, optional: Option<bool>) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.into(),
                key: key.into(),
                optional,
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn mount(name: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        read_only: read_only.then_some(true),
        ..Default::default()
    }
}

/// Labels of the workload, its selector and its pods.
pub fn spawner_labels(ts: &TaskSpawner) -> BTreeMap<String, String> {
    [
        (LABEL_APP_NAME, APP_NAME),
        (LABEL_APP_COMPONENT, COMPONENT_SPAWNER),
        (LABEL_APP_MANAGED_BY, MANAGED_BY_CONTROLLER),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .chain([(LABEL_TASKSPAWNER.to_string(), ts.name_any())])
    .collect()
}

/// Label selector for every spawner workload this controller manages (for the owned watches).
pub fn managed_workload_selector() -> String {
    format!(
        "{LABEL_APP_COMPONENT}={COMPONENT_SPAWNER},{LABEL_APP_MANAGED_BY}={MANAGED_BY_CONTROLLER}"
    )
}

/// The controller ownerReference to the TaskSpawner (`blockOwnerDeletion` like
/// controller-runtime's `SetControllerReference`).
pub fn owner_reference(ts: &TaskSpawner) -> OwnerReference {
    OwnerReference {
        api_version: TaskSpawner::api_version(&()).into_owned(),
        kind: TaskSpawner::kind(&()).into_owned(),
        name: ts.name_any(),
        uid: ts.uid().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// Whether `owners` holds the controller reference of the TaskSpawner with `uid`.
pub fn is_controlled_by(owners: &[OwnerReference], uid: &str) -> bool {
    owners
        .iter()
        .any(|o| o.controller == Some(true) && o.uid == uid && o.kind == TaskSpawner::kind(&()))
}

fn metadata(ts: &TaskSpawner) -> ObjectMeta {
    ObjectMeta {
        name: Some(ts.name_any()),
        namespace: ts.namespace(),
        labels: Some(spawner_labels(ts)),
        owner_references: Some(vec![owner_reference(ts)]),
        ..Default::default()
    }
}

/// Hardening the original does not have: the spawner images run as non-root (65532) and write
/// nothing but the token file on the shared emptyDir, so the pods pass the `restricted` Pod
/// Security Standard.
fn container_security_context() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        read_only_root_filesystem: Some(true),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn pod_spec(
    parts: &PodParts,
    extra_args: &[&str],
    restart_policy: &str,
    config: &TaskSpawnerConfig,
) -> PodSpec {
    let mut args = parts.args.clone();
    args.extend(extra_args.iter().map(|a| a.to_string()));
    PodSpec {
        service_account_name: Some(SPAWNER_SERVICE_ACCOUNT.into()),
        restart_policy: Some(restart_policy.into()),
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        init_containers: (!parts.init_containers.is_empty()).then(|| parts.init_containers.clone()),
        containers: vec![Container {
            name: SPAWNER_CONTAINER.into(),
            image: Some(config.spawner_image.clone()),
            image_pull_policy: config.spawner_image_pull_policy.clone(),
            args: Some(args),
            env: (!parts.env.is_empty()).then(|| parts.env.clone()),
            volume_mounts: (!parts.volume_mounts.is_empty()).then(|| parts.volume_mounts.clone()),
            resources: config.spawner_resources.clone(),
            security_context: Some(container_security_context()),
            ..Default::default()
        }],
        volumes: (!parts.volumes.is_empty()).then(|| parts.volumes.clone()),
        ..Default::default()
    }
}

/// The spawner Deployment of a polling TaskSpawner (reference §6.2): named after it, one
/// replica (none while suspended). `Recreate`, unlike the original's default rolling update,
/// so two spawners of one TaskSpawner never run at once.
pub fn desired_deployment(
    ts: &TaskSpawner,
    parts: &PodParts,
    config: &TaskSpawnerConfig,
) -> Deployment {
    let labels = spawner_labels(ts);
    Deployment {
        metadata: metadata(ts),
        spec: Some(DeploymentSpec {
            replicas: Some(if ts.spec.is_suspended() { 0 } else { 1 }),
            selector: LabelSelector {
                match_labels: Some(labels.clone()),
                ..Default::default()
            },
            strategy: Some(DeploymentStrategy {
                type_: Some("Recreate".into()),
                ..Default::default()
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..Default::default()
                }),
                spec: Some(pod_spec(parts, &[], "Always", config)),
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The spawner CronJob of a cron TaskSpawner (reference §6.3): the spawner with `--one-shot`
/// on the schedule, never overlapping, keeping 3 successful and 1 failed Job, no retries,
/// suspended with the TaskSpawner.
pub fn desired_cronjob(ts: &TaskSpawner, parts: &PodParts, config: &TaskSpawnerConfig) -> CronJob {
    let labels = spawner_labels(ts);
    let schedule = ts
        .spec
        .when
        .cron
        .as_ref()
        .map(|c| c.schedule.clone())
        .unwrap_or_default();
    CronJob {
        metadata: metadata(ts),
        spec: CronJobSpec {
            schedule,
            concurrency_policy: Some("Forbid".into()),
            successful_jobs_history_limit: Some(3),
            failed_jobs_history_limit: Some(1),
            suspend: Some(ts.spec.is_suspended()),
            job_template: JobTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels.clone()),
                    ..Default::default()
                }),
                spec: Some(JobSpec {
                    backoff_limit: Some(0),
                    template: PodTemplateSpec {
                        metadata: Some(ObjectMeta {
                            labels: Some(labels),
                            ..Default::default()
                        }),
                        spec: Some(pod_spec(parts, &["--one-shot"], "Never", config)),
                    },
                    ..Default::default()
                }),
            },
            ..Default::default()
        },
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kelos_api::{Cron, GitHubIssues, GitHubPullRequests, Jira, SecretReference};

    fn spawner(when: serde_json::Value) -> TaskSpawner {
        let mut ts: TaskSpawner = serde_json::from_value(serde_json::json!({
            "apiVersion": "kelos.dev/v1alpha1",
            "kind": "TaskSpawner",
            "metadata": {"name": "fixer", "namespace": "team", "uid": "uid-1"},
            "spec": {
                "when": when,
                "taskTemplate": {
                    "type": "claude-code",
                    "credentials": {"type": "api-key", "secretRef": {"name": "creds"}},
                    "workspaceRef": {"name": "ws"}
                }
            }
        }))
        .unwrap();
        ts.metadata.uid = Some("uid-1".into());
        ts
    }

    fn issues() -> TaskSpawner {
        spawner(serde_json::json!({"githubIssues": {}}))
    }

    fn ws(repo: &str) -> WorkspaceSpec {
        WorkspaceSpec {
            repo: repo.into(),
            r#ref: None,
            secret_ref: None,
            remotes: None,
            files: None,
        }
    }

    fn args(ts: &TaskSpawner, repo: &str) -> Vec<String> {
        pod_parts(
            ts,
            Some(&ws(repo)),
            &GitHubAuth::None,
            &TaskSpawnerConfig::default(),
        )
        .args
    }

    #[test]
    fn github_args_from_https_and_ssh_urls() {
        let ts = issues();
        assert_eq!(
            args(&ts, "https://github.com/acme/widgets.git"),
            [
                "--taskspawner-name=fixer",
                "--taskspawner-namespace=team",
                "--github-owner=acme",
                "--github-repo=widgets"
            ]
        );
        assert_eq!(
            args(&ts, "git@github.com:acme/widgets.git")[2..],
            ["--github-owner=acme", "--github-repo=widgets"]
        );
    }

    #[test]
    fn enterprise_hosts_get_an_api_base_url() {
        let ts = issues();
        assert_eq!(
            args(&ts, "https://ghe.corp.example/acme/widgets")[2..],
            [
                "--github-owner=acme",
                "--github-repo=widgets",
                "--github-api-base-url=https://ghe.corp.example/api/v3"
            ]
        );
        assert_eq!(
            args(&ts, "git@ghe.corp.example:acme/widgets.git")[4],
            "--github-api-base-url=https://ghe.corp.example/api/v3"
        );
    }

    #[test]
    fn fork_override_keeps_the_workspace_host_for_shorthand() {
        let mut ts = issues();
        ts.spec.when.github_issues.as_mut().unwrap().repo = Some("upstream-org/widgets".into());
        assert_eq!(
            args(&ts, "https://ghe.corp.example/me/widgets")[2..],
            [
                "--github-owner=upstream-org",
                "--github-repo=widgets",
                "--github-api-base-url=https://ghe.corp.example/api/v3"
            ]
        );
        // A full URL override brings its own host.
        ts.spec.when.github_issues.as_mut().unwrap().repo =
            Some("https://github.com/upstream-org/widgets".into());
        assert_eq!(
            args(&ts, "https://ghe.corp.example/me/widgets")[2..],
            ["--github-owner=upstream-org", "--github-repo=widgets"]
        );
    }

    #[test]
    fn issues_override_wins_over_pull_requests_override() {
        let mut ts = spawner(serde_json::json!({}));
        ts.spec.when.github_issues = Some(GitHubIssues {
            repo: Some(String::new()),
            ..serde_json::from_value(serde_json::json!({})).unwrap()
        });
        ts.spec.when.github_pull_requests = Some(GitHubPullRequests {
            repo: Some("pr-org/pr-repo".into()),
            ..Default::default()
        });
        // An empty issues override does not count.
        assert_eq!(
            args(&ts, "https://github.com/me/r")[2..],
            ["--github-owner=pr-org", "--github-repo=pr-repo"]
        );
        ts.spec.when.github_issues.as_mut().unwrap().repo = Some("issue-org/issue-repo".into());
        assert_eq!(
            args(&ts, "https://github.com/me/r")[2..],
            ["--github-owner=issue-org", "--github-repo=issue-repo"]
        );
    }

    #[test]
    fn pat_gets_env_and_app_gets_the_sidecar() {
        let ts = issues();
        let config = TaskSpawnerConfig::default();
        let pat = pod_parts(
            &ts,
            Some(&ws("https://github.com/a/b")),
            &GitHubAuth::Pat {
                secret: "gh".into(),
            },
            &config,
        );
        assert_eq!(pat.env.len(), 1);
        assert_eq!(pat.env[0].name, "GITHUB_TOKEN");
        let sel = pat.env[0]
            .value_from
            .as_ref()
            .unwrap()
            .secret_key_ref
            .as_ref()
            .unwrap();
        assert_eq!(
            (sel.name.as_str(), sel.key.as_str()),
            ("gh", "GITHUB_TOKEN")
        );
        assert!(pat.init_containers.is_empty() && pat.volumes.is_empty());

        let app = pod_parts(
            &ts,
            Some(&ws("https://github.com/a/b")),
            &GitHubAuth::App {
                secret: "gh".into(),
            },
            &config,
        );
        assert!(app.env.is_empty());
        assert_eq!(
            app.args.last().unwrap(),
            "--github-token-file=/shared/token/GITHUB_TOKEN"
        );
        let sidecar = &app.init_containers[0];
        assert_eq!(sidecar.name, "token-refresher");
        assert_eq!(sidecar.restart_policy.as_deref(), Some("Always"));
        let env: Vec<_> = sidecar
            .env
            .as_ref()
            .unwrap()
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        assert_eq!(env, ["APP_ID", "INSTALLATION_ID"]);
        assert_eq!(app.volume_mounts[0].read_only, Some(true));
    }

    #[test]
    fn auth_from_secret_keys() {
        let secret = |keys: &[&str]| Secret {
            data: Some(
                keys.iter()
                    .map(|k| (k.to_string(), k8s_openapi::ByteString(b"x".to_vec())))
                    .collect(),
            ),
            ..Default::default()
        };
        let app = secret(&["appID", "installationID", "privateKey"]);
        assert_eq!(
            GitHubAuth::from_secret(Some("s"), Some(&app)),
            GitHubAuth::App { secret: "s".into() }
        );
        assert_eq!(
            GitHubAuth::from_secret(Some("s"), Some(&secret(&["appID", "privateKey"]))),
            GitHubAuth::Pat { secret: "s".into() }
        );
        assert_eq!(
            GitHubAuth::from_secret(Some("s"), None),
            GitHubAuth::Pat { secret: "s".into() }
        );
        assert_eq!(GitHubAuth::from_secret(None, Some(&app)), GitHubAuth::None);
    }

    #[test]
    fn jira_args_and_env() {
        let mut ts = spawner(serde_json::json!({}));
        ts.spec.task_template.workspace_ref = None;
        ts.spec.when.jira = Some(Jira {
            base_url: "https://jira.example".into(),
            project: "OPS".into(),
            jql: Some("status = Open".into()),
            secret_ref: SecretReference {
                name: "jira".into(),
            },
            poll_interval: None,
        });
        let parts = pod_parts(&ts, None, &GitHubAuth::None, &TaskSpawnerConfig::default());
        assert_eq!(
            parts.args[2..],
            [
                "--jira-base-url=https://jira.example",
                "--jira-project=OPS",
                "--jira-jql=status = Open"
            ]
        );
        let user = parts.env[0]
            .value_from
            .as_ref()
            .unwrap()
            .secret_key_ref
            .as_ref()
            .unwrap();
        assert_eq!(
            (parts.env[0].name.as_str(), user.optional),
            ("JIRA_USER", Some(true))
        );
        let token = parts.env[1]
            .value_from
            .as_ref()
            .unwrap()
            .secret_key_ref
            .as_ref()
            .unwrap();
        assert_eq!(
            (
                parts.env[1].name.as_str(),
                token.key.as_str(),
                token.optional
            ),
            ("JIRA_TOKEN", "JIRA_TOKEN", None)
        );
    }

    #[test]
    fn deployment_and_cronjob_shapes() {
        let mut ts = issues();
        let config = TaskSpawnerConfig::default();
        let parts = pod_parts(&ts, None, &GitHubAuth::None, &config);
        let d = desired_deployment(&ts, &parts, &config);
        assert_eq!(d.spec.as_ref().unwrap().replicas, Some(1));
        ts.spec.suspend = true;
        let d = desired_deployment(&ts, &parts, &config);
        let spec = d.spec.unwrap();
        assert_eq!(spec.replicas, Some(0));
        let pod = spec.template.spec.unwrap();
        assert_eq!(pod.service_account_name.as_deref(), Some("kelos-spawner"));
        assert_eq!(pod.restart_policy.as_deref(), Some("Always"));
        assert_eq!(d.metadata.owner_references.unwrap()[0].uid, "uid-1");

        ts.spec.when = kelos_api::When {
            cron: Some(Cron {
                schedule: "0 * * * *".into(),
            }),
            ..Default::default()
        };
        let c = desired_cronjob(&ts, &parts, &config).spec;
        assert_eq!(c.schedule, "0 * * * *");
        assert_eq!(c.suspend, Some(true));
        assert_eq!(c.concurrency_policy.as_deref(), Some("Forbid"));
        let job = c.job_template.spec.unwrap();
        assert_eq!(job.backoff_limit, Some(0));
        let pod = job.template.spec.unwrap();
        assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
        assert_eq!(
            pod.containers[0].args.as_ref().unwrap().last().unwrap(),
            "--one-shot"
        );
    }
}
