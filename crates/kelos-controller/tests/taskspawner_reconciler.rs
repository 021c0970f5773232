//! The TaskSpawner reconciler against a real kube-apiserver (reference §6): each test runs the
//! reconciler in-process, scoped to its own namespace, and asserts on what lands in the API.
//! There is no kube-controller-manager in this tier: ownership is asserted through
//! ownerReferences, never through garbage collection.

#[path = "support/poll.rs"]
mod poll;

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{Container, PodSpec, Secret, ServiceAccount};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::rbac::v1::RoleBinding;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kelos_api::{Task, TaskSpawner, TaskSpawnerPhase, Workspace};
use kelos_controller::taskspawner::{self, TaskSpawnerConfig, resource_requirements};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use poll::wait_for;

// A 2048-bit RSA key is not needed: the controller only looks at the Secret's key names.
const FAKE_PEM: &str =
    "-----BEGIN RSA PRIVATE KEY-----\nnot-a-key\n-----END RSA PRIVATE KEY-----\n";

/// A namespaced API kind with a static type (all of k8s-openapi's and kelos-api's).
trait Object:
    kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
    + Clone
    + serde::Serialize
    + serde::de::DeserializeOwned
    + std::fmt::Debug
{
}

impl<K> Object for K where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::Serialize
        + serde::de::DeserializeOwned
        + std::fmt::Debug
{
}

struct Env {
    client: Client,
    ns: String,
    _stop: oneshot::Sender<()>,
}

async fn env(prefix: &str) -> Env {
    env_with(prefix, TaskSpawnerConfig::default()).await
}

async fn env_with(prefix: &str, mut config: TaskSpawnerConfig) -> Env {
    let cluster = kelos_testenv::shared().await;
    let client = cluster.client().await;
    let ns = cluster.namespace(prefix).await;
    config.watch_namespace = Some(ns.clone());
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(taskspawner::run(
        client.clone(),
        config,
        async move {
            let _ = stopped.await;
        },
        |_| {},
    ));
    Env {
        client,
        ns,
        _stop: stop,
    }
}

impl Env {
    fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    async fn create<K: Object>(&self, value: Value) -> K {
        let obj: K = serde_json::from_value(value).expect("fixture decodes");
        self.api::<K>()
            .create(&PostParams::default(), &obj)
            .await
            .unwrap_or_else(|e| panic!("creating {}: {e}", obj.name_any()))
    }

    async fn workspace(&self, name: &str, repo: &str, secret: Option<&str>) {
        let mut spec = json!({ "repo": repo });
        if let Some(secret) = secret {
            spec["secretRef"] = json!({ "name": secret });
        }
        self.create::<Workspace>(json!({
            "apiVersion": "kelos.dev/v1alpha1", "kind": "Workspace",
            "metadata": { "name": name }, "spec": spec
        }))
        .await;
    }

    async fn secret(&self, name: &str, data: &[(&str, &str)]) {
        let string_data: serde_json::Map<String, Value> = data
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        self.create::<Secret>(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": { "name": name }, "stringData": string_data
        }))
        .await;
    }

    async fn spawner(&self, name: &str, when: Value, workspace: Option<&str>) -> TaskSpawner {
        let mut template = json!({
            "type": "claude-code",
            "credentials": { "type": "api-key", "secretRef": { "name": "agent-creds" } },
            "promptTemplate": "Fix {{.Title}}"
        });
        if let Some(ws) = workspace {
            template["workspaceRef"] = json!({ "name": ws });
        }
        self.create::<TaskSpawner>(json!({
            "apiVersion": "kelos.dev/v1alpha1", "kind": "TaskSpawner",
            "metadata": { "name": name },
            "spec": { "when": when, "taskTemplate": template }
        }))
        .await
    }

    /// No `K` named `name` exists.
    async fn absent<K: Object>(&self, name: &str) -> bool {
        self.api::<K>().get_opt(name).await.unwrap().is_none()
    }

    /// Waits until the `K` named `name` no longer exists.
    async fn wait_gone<K: Object>(&self, name: &str) {
        let what = format!("{} {name} deleted", K::kind(&()));
        wait_for(&what, || async {
            self.absent::<K>(name).await.then_some(())
        })
        .await;
    }

    /// A githubIssues spawner on a public github.com Workspace `ws`, once its Deployment
    /// exists.
    async fn deployed_issues_spawner(&self, name: &str) -> Deployment {
        self.workspace("ws", "https://github.com/acme/widgets", None)
            .await;
        self.spawner(name, issues(), Some("ws")).await;
        self.deployment(name).await
    }

    async fn patch_spawner(&self, name: &str, patch: Value) {
        self.api::<TaskSpawner>()
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap();
    }

    async fn deployment(&self, name: &str) -> Deployment {
        wait_for(&format!("Deployment {name}"), || async {
            self.api::<Deployment>().get_opt(name).await.unwrap()
        })
        .await
    }

    async fn cronjob(&self, name: &str) -> CronJob {
        wait_for(&format!("CronJob {name}"), || async {
            self.api::<CronJob>().get_opt(name).await.unwrap()
        })
        .await
    }

    /// Waits until the TaskSpawner satisfies `check`, returning it.
    async fn spawner_where(
        &self,
        name: &str,
        what: &str,
        check: impl Fn(&TaskSpawner) -> bool,
    ) -> TaskSpawner {
        wait_for(what, || async {
            let ts = self.api::<TaskSpawner>().get(name).await.unwrap();
            check(&ts).then_some(ts)
        })
        .await
    }

    async fn events(&self, reason: &str) -> Vec<Event> {
        self.api::<Event>()
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|e| e.reason.as_deref() == Some(reason))
            .collect()
    }

    async fn event(&self, reason: &str, regarding: &str) -> Event {
        wait_for(&format!("event {reason}"), || async {
            self.events(reason)
                .await
                .into_iter()
                .find(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(regarding))
        })
        .await
    }
}

fn pod(d: &Deployment) -> &PodSpec {
    d.spec.as_ref().unwrap().template.spec.as_ref().unwrap()
}

fn cron_pod(c: &CronJob) -> &PodSpec {
    c.spec
        .job_template
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap()
}

fn spawner_container(p: &PodSpec) -> &Container {
    assert_eq!(p.containers.len(), 1);
    assert_eq!(p.containers[0].name, "spawner");
    &p.containers[0]
}

fn args(c: &Container) -> Vec<&str> {
    c.args.iter().flatten().map(String::as_str).collect()
}

fn replicas(d: &Deployment) -> i32 {
    d.spec.as_ref().unwrap().replicas.unwrap()
}

fn issues() -> Value {
    json!({ "githubIssues": {} })
}

fn status_of(
    ts: &TaskSpawner,
) -> (
    Option<TaskSpawnerPhase>,
    Option<&str>,
    Option<&str>,
    Option<&str>,
) {
    let s = ts.status.as_ref();
    (
        s.and_then(|s| s.phase),
        s.and_then(|s| s.deployment_name.as_deref()),
        s.and_then(|s| s.cron_job_name.as_deref()),
        s.and_then(|s| s.message.as_deref()),
    )
}

#[tokio::test]
async fn polling_spawner_gets_a_deployment_rbac_status_event_and_finalizer() {
    let env = env("ts-deploy").await;
    env.secret("gh-pat", &[("GITHUB_TOKEN", "ghp_x")]).await;
    env.workspace("ws", "https://github.com/acme/widgets.git", Some("gh-pat"))
        .await;
    let ts = env.spawner("fixer", issues(), Some("ws")).await;

    let d = env.deployment("fixer").await;
    let labels = d.labels();
    assert_eq!(labels["app.kubernetes.io/name"], "kelos");
    assert_eq!(labels["app.kubernetes.io/component"], "spawner");
    assert_eq!(labels["app.kubernetes.io/managed-by"], "kelos-controller");
    assert_eq!(labels["kelos.dev/taskspawner"], "fixer");
    let owner = &d.owner_references()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str(), owner.controller),
        ("TaskSpawner", "fixer", Some(true))
    );
    assert_eq!(owner.uid, ts.uid().unwrap());
    assert_eq!(owner.api_version, "kelos.dev/v1alpha1");
    let spec = d.spec.as_ref().unwrap();
    assert_eq!(spec.replicas, Some(1));
    assert_eq!(spec.selector.match_labels.as_ref(), Some(labels));
    assert_eq!(
        spec.template.metadata.as_ref().unwrap().labels.as_ref(),
        Some(labels)
    );
    assert_eq!(
        spec.strategy.as_ref().unwrap().type_.as_deref(),
        Some("Recreate")
    );
    let pod = pod(&d);
    assert_eq!(pod.service_account_name.as_deref(), Some("kelos-spawner"));
    assert_eq!(pod.restart_policy.as_deref(), Some("Always"));
    assert!(pod.init_containers.is_none() && pod.volumes.is_none());
    let c = spawner_container(pod);
    assert_eq!(c.image.as_deref(), Some(taskspawner::DEFAULT_SPAWNER_IMAGE));
    assert_eq!(
        args(c),
        [
            "--taskspawner-name=fixer",
            format!("--taskspawner-namespace={}", env.ns).as_str(),
            "--github-owner=acme",
            "--github-repo=widgets",
        ]
    );
    let env_vars = c.env.as_ref().unwrap();
    assert_eq!(env_vars.len(), 1);
    assert_eq!(env_vars[0].name, "GITHUB_TOKEN");
    let sel = env_vars[0]
        .value_from
        .as_ref()
        .unwrap()
        .secret_key_ref
        .as_ref()
        .unwrap();
    assert_eq!(
        (sel.name.as_str(), sel.key.as_str()),
        ("gh-pat", "GITHUB_TOKEN")
    );
    let sc = c.security_context.as_ref().unwrap();
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    assert_eq!(
        pod.security_context.as_ref().unwrap().run_as_non_root,
        Some(true)
    );

    let ts = env
        .spawner_where("fixer", "status Pending with deploymentName", |ts| {
            status_of(ts).1 == Some("fixer")
        })
        .await;
    assert_eq!(
        status_of(&ts),
        (Some(TaskSpawnerPhase::Pending), Some("fixer"), None, None)
    );
    assert!(
        ts.finalizers()
            .contains(&"kelos.dev/taskspawner-finalizer".to_string())
    );
    let event = env.event("DeploymentCreated", "fixer").await;
    assert_eq!(
        event.note.as_deref(),
        Some("Created spawner Deployment fixer")
    );
    assert_eq!(event.type_.as_deref(), Some("Normal"));

    let sa = env
        .api::<ServiceAccount>()
        .get("kelos-spawner")
        .await
        .unwrap();
    assert_eq!(
        sa.labels()["app.kubernetes.io/managed-by"],
        "kelos-controller"
    );
    let rb = env.api::<RoleBinding>().get("kelos-spawner").await.unwrap();
    assert_eq!(
        (rb.role_ref.kind.as_str(), rb.role_ref.name.as_str()),
        ("ClusterRole", "kelos-spawner-role")
    );
    let subject = &rb.subjects.as_ref().unwrap()[0];
    assert_eq!(
        (
            subject.kind.as_str(),
            subject.name.as_str(),
            subject.namespace.as_deref()
        ),
        ("ServiceAccount", "kelos-spawner", Some(env.ns.as_str()))
    );
}

#[tokio::test]
async fn suspend_scales_to_zero_and_resume_says_resumed() {
    let env = env("ts-suspend").await;
    env.workspace("ws", "https://github.com/acme/widgets", None)
        .await;
    env.spawner("fixer", issues(), Some("ws")).await;
    env.spawner_where("fixer", "Pending", |ts| {
        status_of(ts).0 == Some(TaskSpawnerPhase::Pending)
    })
    .await;
    // No Secret on the Workspace: no token env at all.
    assert!(
        spawner_container(pod(&env.deployment("fixer").await))
            .env
            .is_none()
    );

    env.patch_spawner("fixer", json!({ "spec": { "suspend": true } }))
        .await;
    let ts = env
        .spawner_where("fixer", "Suspended", |ts| {
            status_of(ts).0 == Some(TaskSpawnerPhase::Suspended)
        })
        .await;
    assert_eq!(status_of(&ts).3, Some("Suspended by user"));
    assert_eq!(replicas(&env.deployment("fixer").await), 0);
    env.event("DeploymentUpdated", "fixer").await;

    env.patch_spawner("fixer", json!({ "spec": { "suspend": false } }))
        .await;
    let ts = env
        .spawner_where("fixer", "Running after resume", |ts| {
            status_of(ts).0 == Some(TaskSpawnerPhase::Running)
        })
        .await;
    assert_eq!(
        status_of(&ts),
        (
            Some(TaskSpawnerPhase::Running),
            Some("fixer"),
            None,
            Some("Resumed")
        )
    );
    assert_eq!(replicas(&env.deployment("fixer").await), 1);
}

#[tokio::test]
async fn cron_spawner_gets_a_one_shot_cronjob_and_suspends_it() {
    let env = env("ts-cron").await;
    env.workspace("ws", "git@github.com:acme/widgets.git", None)
        .await;
    let ts = env
        .spawner(
            "nightly",
            json!({ "cron": { "schedule": "0 3 * * *" } }),
            Some("ws"),
        )
        .await;

    let cj = env.cronjob("nightly").await;
    assert_eq!(cj.owner_references()[0].uid, ts.uid().unwrap());
    assert_eq!(cj.owner_references()[0].controller, Some(true));
    assert_eq!(cj.labels()["kelos.dev/taskspawner"], "nightly");
    let spec = &cj.spec;
    assert_eq!(spec.schedule, "0 3 * * *");
    assert_eq!(spec.concurrency_policy.as_deref(), Some("Forbid"));
    assert_eq!(spec.successful_jobs_history_limit, Some(3));
    assert_eq!(spec.failed_jobs_history_limit, Some(1));
    assert_eq!(spec.suspend, Some(false));
    let job = spec.job_template.spec.as_ref().unwrap();
    assert_eq!(job.backoff_limit, Some(0));
    assert_eq!(
        spec.job_template
            .metadata
            .as_ref()
            .unwrap()
            .labels
            .as_ref()
            .unwrap()["app.kubernetes.io/component"],
        "spawner"
    );
    let pod = cron_pod(&cj);
    assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
    assert_eq!(pod.service_account_name.as_deref(), Some("kelos-spawner"));
    assert_eq!(
        args(spawner_container(pod)),
        [
            "--taskspawner-name=nightly",
            format!("--taskspawner-namespace={}", env.ns).as_str(),
            "--github-owner=acme",
            "--github-repo=widgets",
            "--one-shot",
        ]
    );
    let ts = env
        .spawner_where("nightly", "Running with cronJobName", |ts| {
            status_of(ts).2 == Some("nightly")
        })
        .await;
    assert_eq!(
        status_of(&ts),
        (Some(TaskSpawnerPhase::Running), None, Some("nightly"), None)
    );
    let event = env.event("CronJobCreated", "nightly").await;
    assert_eq!(
        event.note.as_deref(),
        Some("Created spawner CronJob nightly with schedule 0 3 * * *")
    );
    assert!(
        env.absent::<Deployment>("nightly").await,
        "cron spawners get no Deployment"
    );

    env.patch_spawner("nightly", json!({ "spec": { "suspend": true } }))
        .await;
    let ts = env
        .spawner_where("nightly", "Suspended", |ts| {
            status_of(ts).0 == Some(TaskSpawnerPhase::Suspended)
        })
        .await;
    assert_eq!(status_of(&ts).3, Some("Suspended by user"));
    wait_for("CronJob suspended", || async {
        let cj = env.api::<CronJob>().get("nightly").await.unwrap();
        (cj.spec.suspend == Some(true)).then_some(())
    })
    .await;
    env.event("CronJobUpdated", "nightly").await;

    // A schedule change is applied in place.
    env.patch_spawner(
        "nightly",
        json!({ "spec": { "suspend": false, "when": { "cron": { "schedule": "*/5 * * * *" } } } }),
    )
    .await;
    wait_for("schedule updated", || async {
        let cj = env.api::<CronJob>().get("nightly").await.unwrap();
        (cj.spec.schedule == "*/5 * * * *" && cj.spec.suspend == Some(false)).then_some(())
    })
    .await;
    let ts = env
        .spawner_where("nightly", "Running again", |ts| {
            status_of(ts).0 == Some(TaskSpawnerPhase::Running)
        })
        .await;
    assert_eq!(
        status_of(&ts).3,
        None,
        "the message is cleared when running"
    );
}

#[tokio::test]
async fn switching_modes_deletes_the_stale_workload() {
    let env = env("ts-switch").await;
    env.deployed_issues_spawner("flip").await;
    env.spawner_where("flip", "deploymentName", |ts| {
        status_of(ts).1 == Some("flip")
    })
    .await;

    // githubIssues → cron: a JSON merge patch replaces `when` key by key, so null the old one.
    env.patch_spawner(
        "flip",
        json!({ "spec": { "when": { "githubIssues": null, "cron": { "schedule": "0 * * * *" } } } }),
    )
    .await;
    env.cronjob("flip").await;
    env.wait_gone::<Deployment>("flip").await;
    let ts = env
        .spawner_where("flip", "cronJobName set, deploymentName cleared", |ts| {
            status_of(ts).2 == Some("flip") && status_of(ts).1.is_none()
        })
        .await;
    assert_eq!(status_of(&ts).0, Some(TaskSpawnerPhase::Running));

    env.patch_spawner(
        "flip",
        json!({ "spec": { "when": { "cron": null, "githubPullRequests": {} } } }),
    )
    .await;
    env.deployment("flip").await;
    env.wait_gone::<CronJob>("flip").await;
    env.spawner_where("flip", "deploymentName set, cronJobName cleared", |ts| {
        status_of(ts).1 == Some("flip") && status_of(ts).2.is_none()
    })
    .await;
}

#[tokio::test]
async fn github_app_on_enterprise_gets_the_token_refresher_sidecar() {
    let config = TaskSpawnerConfig {
        spawner_image: "registry.example/kelos-spawner:v1".into(),
        spawner_image_pull_policy: Some("IfNotPresent".into()),
        spawner_resources: resource_requirements("cpu=10m,memory=32Mi", "memory=64Mi").unwrap(),
        token_refresher_image: "registry.example/kelos-token-refresher:v1".into(),
        token_refresher_image_pull_policy: Some("Always".into()),
        token_refresher_resources: resource_requirements("cpu=5m", "").unwrap(),
        ..Default::default()
    };
    let env = env_with("ts-app", config).await;
    env.secret(
        "gh-app",
        &[
            ("appID", "12345"),
            ("installationID", "678"),
            ("privateKey", FAKE_PEM),
        ],
    )
    .await;
    env.workspace(
        "ws",
        "https://ghe.corp.example/acme/widgets.git",
        Some("gh-app"),
    )
    .await;
    env.spawner("app", issues(), Some("ws")).await;

    let d = env.deployment("app").await;
    let pod = pod(&d);
    let c = spawner_container(pod);
    assert_eq!(
        c.image.as_deref(),
        Some("registry.example/kelos-spawner:v1")
    );
    assert_eq!(c.image_pull_policy.as_deref(), Some("IfNotPresent"));
    let res = c.resources.as_ref().unwrap();
    assert_eq!(
        res.requests.as_ref().unwrap()["memory"],
        Quantity("32Mi".into())
    );
    assert_eq!(
        res.limits.as_ref().unwrap()["memory"],
        Quantity("64Mi".into())
    );
    assert_eq!(
        args(c)[2..],
        [
            "--github-owner=acme",
            "--github-repo=widgets",
            "--github-api-base-url=https://ghe.corp.example/api/v3",
            "--github-token-file=/shared/token/GITHUB_TOKEN",
        ]
    );
    assert!(c.env.is_none(), "no PAT env in App mode");
    let mounts = c.volume_mounts.as_ref().unwrap();
    assert_eq!(mounts.len(), 1);
    assert_eq!(
        (
            mounts[0].name.as_str(),
            mounts[0].mount_path.as_str(),
            mounts[0].read_only
        ),
        ("github-token", "/shared/token", Some(true))
    );

    let init = pod.init_containers.as_ref().unwrap();
    assert_eq!(init.len(), 1);
    let sidecar = &init[0];
    assert_eq!(sidecar.name, "token-refresher");
    assert_eq!(sidecar.restart_policy.as_deref(), Some("Always"));
    assert_eq!(
        sidecar.image.as_deref(),
        Some("registry.example/kelos-token-refresher:v1")
    );
    assert_eq!(sidecar.image_pull_policy.as_deref(), Some("Always"));
    assert_eq!(
        sidecar
            .resources
            .as_ref()
            .unwrap()
            .requests
            .as_ref()
            .unwrap()["cpu"],
        Quantity("5m".into())
    );
    type EnvShape<'a> = (&'a str, Option<&'a str>, Option<(&'a str, &'a str)>);
    let env_vars: Vec<EnvShape> = sidecar
        .env
        .as_ref()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e.name.as_str(),
                e.value.as_deref(),
                e.value_from
                    .as_ref()
                    .and_then(|v| v.secret_key_ref.as_ref())
                    .map(|s| (s.name.as_str(), s.key.as_str())),
            )
        })
        .collect();
    assert_eq!(
        env_vars,
        [
            ("APP_ID", None, Some(("gh-app", "appID"))),
            ("INSTALLATION_ID", None, Some(("gh-app", "installationID"))),
            (
                "GITHUB_API_BASE_URL",
                Some("https://ghe.corp.example/api/v3"),
                None
            ),
        ]
    );
    let sidecar_mounts: Vec<_> = sidecar
        .volume_mounts
        .as_ref()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m.name.as_str(),
                m.mount_path.as_str(),
                m.read_only.unwrap_or(false),
            )
        })
        .collect();
    assert_eq!(
        sidecar_mounts,
        [
            ("github-token", "/shared/token", false),
            ("github-app-secret", "/etc/github-app", true)
        ]
    );
    let volumes = pod.volumes.as_ref().unwrap();
    assert_eq!(volumes.len(), 2);
    assert_eq!(volumes[0].name, "github-token");
    assert!(volumes[0].empty_dir.is_some());
    assert_eq!(volumes[1].name, "github-app-secret");
    assert_eq!(
        volumes[1].secret.as_ref().unwrap().secret_name.as_deref(),
        Some("gh-app")
    );

    // The API server defaulted the sidecar and the Secret volume (defaultMode, probes,
    // terminationMessagePath...): that must not read as drift. Poke the reconciler a few
    // times and check the Deployment is never rewritten.
    let generation = d.metadata.generation;
    for i in 0..3 {
        env.patch_spawner(
            "app",
            json!({ "metadata": { "annotations": { "test/poke": i.to_string() } } }),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    let again = env.api::<Deployment>().get("app").await.unwrap();
    assert_eq!(again.metadata.generation, generation, "no perpetual drift");
    assert!(env.events("DeploymentUpdated").await.is_empty());
}

#[tokio::test]
async fn secret_changes_switch_between_pat_and_app() {
    let env = env("ts-secret").await;
    env.secret("gh", &[("GITHUB_TOKEN", "ghp_x")]).await;
    env.workspace("ws", "https://github.com/acme/widgets", Some("gh"))
        .await;
    env.spawner("s", issues(), Some("ws")).await;
    let d = env.deployment("s").await;
    assert!(pod(&d).init_containers.is_none());
    assert_eq!(
        spawner_container(pod(&d)).env.as_ref().unwrap()[0].name,
        "GITHUB_TOKEN"
    );

    // The Secret becomes an App Secret: the Secret watch (Secret → Workspace → TaskSpawner)
    // brings the sidecar in, well before any periodic resync.
    let patch =
        json!({ "stringData": { "appID": "1", "installationID": "2", "privateKey": FAKE_PEM } });
    env.api::<Secret>()
        .patch("gh", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let d = wait_for("sidecar added", || async {
        let d = env.api::<Deployment>().get("s").await.unwrap();
        pod(&d).init_containers.is_some().then_some(d)
    })
    .await;
    let c = spawner_container(pod(&d));
    assert!(c.env.is_none());
    assert!(args(c).contains(&"--github-token-file=/shared/token/GITHUB_TOKEN"));
    // github.com: no API base URL anywhere.
    assert!(
        !args(c)
            .iter()
            .any(|a| a.starts_with("--github-api-base-url"))
    );
    let sidecar = &pod(&d).init_containers.as_ref().unwrap()[0];
    assert!(
        !sidecar
            .env
            .as_ref()
            .unwrap()
            .iter()
            .any(|e| e.name == "GITHUB_API_BASE_URL")
    );

    // Deleting the Secret falls back to PAT mode, as the original does.
    env.api::<Secret>()
        .delete("gh", &DeleteParams::default())
        .await
        .unwrap();
    wait_for("sidecar removed", || async {
        let d = env.api::<Deployment>().get("s").await.unwrap();
        (pod(&d).init_containers.is_none() && pod(&d).volumes.is_none()).then_some(())
    })
    .await;
}

#[tokio::test]
async fn workspace_changes_are_picked_up() {
    let env = env("ts-ws").await;
    env.deployed_issues_spawner("s").await;
    let patch = json!({ "spec": { "repo": "https://github.com/other/gadgets" } });
    env.api::<Workspace>()
        .patch("ws", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    wait_for("args follow the Workspace", || async {
        let d = env.api::<Deployment>().get("s").await.unwrap();
        args(spawner_container(pod(&d)))
            .contains(&"--github-owner=other")
            .then_some(())
    })
    .await;
    env.event("DeploymentUpdated", "s").await;
}

#[tokio::test]
async fn fork_override_uses_its_owner_and_keeps_the_enterprise_host() {
    let env = env("ts-fork").await;
    env.workspace("ws", "git@ghe.corp.example:me/widgets.git", None)
        .await;
    env.spawner(
        "reviewer",
        json!({ "githubPullRequests": { "repo": "upstream-org/widgets" } }),
        Some("ws"),
    )
    .await;
    let d = env.deployment("reviewer").await;
    assert_eq!(
        args(spawner_container(pod(&d)))[2..],
        [
            "--github-owner=upstream-org",
            "--github-repo=widgets",
            "--github-api-base-url=https://ghe.corp.example/api/v3",
        ]
    );

    // A URL override brings its own host: github.com, so no API base URL.
    env.spawner(
        "issues",
        json!({ "githubIssues": { "repo": "https://github.com/upstream-org/widgets" } }),
        Some("ws"),
    )
    .await;
    let d = env.deployment("issues").await;
    assert_eq!(
        args(spawner_container(pod(&d)))[2..],
        ["--github-owner=upstream-org", "--github-repo=widgets"]
    );
}

#[tokio::test]
async fn drift_is_corrected() {
    let env = env("ts-drift").await;
    env.deployed_issues_spawner("s").await;
    env.spawner_where("s", "Pending", |ts| status_of(ts).1 == Some("s"))
        .await;

    // Someone edits the spawner container and scales the Deployment.
    let patch = json!({ "spec": { "replicas": 3, "template": { "spec": { "containers": [{
        "name": "spawner", "image": "evil:latest", "args": ["--one-shot"],
        "env": [{ "name": "EXTRA", "value": "1" }]
    }] } } } });
    env.api::<Deployment>()
        .patch("s", &PatchParams::default(), &Patch::Strategic(&patch))
        .await
        .unwrap();
    let d = wait_for("drift corrected", || async {
        let d = env.api::<Deployment>().get("s").await.unwrap();
        let c = spawner_container(pod(&d));
        (replicas(&d) == 1
            && c.image.as_deref() == Some(taskspawner::DEFAULT_SPAWNER_IMAGE)
            && c.env.is_none())
        .then_some(d)
    })
    .await;
    assert_eq!(args(spawner_container(pod(&d)))[0], "--taskspawner-name=s");
    let event = env.event("DeploymentUpdated", "s").await;
    assert_eq!(event.note.as_deref(), Some("Updated spawner Deployment s"));

    // The same for the CronJob of a cron spawner.
    env.spawner(
        "c",
        json!({ "cron": { "schedule": "0 * * * *" } }),
        Some("ws"),
    )
    .await;
    env.cronjob("c").await;
    let patch = json!({ "spec": { "schedule": "1 1 1 1 1", "suspend": true } });
    env.api::<CronJob>()
        .patch("c", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    wait_for("CronJob drift corrected", || async {
        let cj = env.api::<CronJob>().get("c").await.unwrap();
        (cj.spec.schedule == "0 * * * *" && cj.spec.suspend == Some(false)).then_some(())
    })
    .await;
    env.event("CronJobUpdated", "c").await;
}

#[tokio::test]
async fn missing_workspace_requeues_with_an_event_until_it_exists() {
    let env = env("ts-nows").await;
    env.spawner("s", issues(), Some("later")).await;
    let event = env.event("WorkspaceNotFound", "s").await;
    assert_eq!(
        event.note.as_deref(),
        Some("Workspace later not found, requeuing")
    );
    assert_eq!(event.type_.as_deref(), Some("Normal"));
    assert!(env.absent::<Deployment>("s").await);
    env.workspace("later", "https://github.com/acme/widgets", None)
        .await;
    let d = env.deployment("s").await;
    assert!(args(spawner_container(pod(&d))).contains(&"--github-repo=widgets"));
}

#[tokio::test]
async fn jira_spawner_gets_jira_args_and_env() {
    let env = env("ts-jira").await;
    env.spawner(
        "jira",
        json!({ "jira": {
            "baseUrl": "https://acme.atlassian.net", "project": "OPS",
            "jql": "labels = agent", "secretRef": { "name": "jira-creds" }
        } }),
        None,
    )
    .await;
    let d = env.deployment("jira").await;
    let c = spawner_container(pod(&d));
    assert_eq!(
        args(c)[2..],
        [
            "--jira-base-url=https://acme.atlassian.net",
            "--jira-project=OPS",
            "--jira-jql=labels = agent",
        ]
    );
    let env_vars: Vec<_> = c
        .env
        .as_ref()
        .unwrap()
        .iter()
        .map(|e| {
            let s = e
                .value_from
                .as_ref()
                .unwrap()
                .secret_key_ref
                .as_ref()
                .unwrap();
            (e.name.as_str(), s.name.as_str(), s.key.as_str(), s.optional)
        })
        .collect();
    assert_eq!(
        env_vars,
        [
            ("JIRA_USER", "jira-creds", "JIRA_USER", Some(true)),
            ("JIRA_TOKEN", "jira-creds", "JIRA_TOKEN", None),
        ]
    );
}

#[tokio::test]
async fn deletion_removes_the_finalizer_and_leaves_spawned_tasks() {
    let env = env("ts-delete").await;
    env.deployed_issues_spawner("gone").await;
    env.spawner_where("gone", "finalizer", |ts| !ts.finalizers().is_empty())
        .await;
    env.create::<Task>(json!({
        "apiVersion": "kelos.dev/v1alpha1", "kind": "Task",
        "metadata": { "name": "gone-1", "labels": { "kelos.dev/taskspawner": "gone" } },
        "spec": { "type": "claude-code", "prompt": "hi",
                  "credentials": { "type": "api-key", "secretRef": { "name": "c" } } }
    }))
    .await;

    env.api::<TaskSpawner>()
        .delete("gone", &DeleteParams::default())
        .await
        .unwrap();
    env.wait_gone::<TaskSpawner>("gone").await;
    // Spawned Tasks have no ownerReference to the TaskSpawner and stay.
    let task = env.api::<Task>().get("gone-1").await.unwrap();
    assert!(task.owner_references().is_empty());
    // The Deployment would be collected by the garbage collector (not running in this tier)
    // through its controller ownerReference.
    let d = env.api::<Deployment>().get("gone").await.unwrap();
    assert_eq!(d.owner_references()[0].kind, "TaskSpawner");
    assert_eq!(d.owner_references()[0].block_owner_deletion, Some(true));
}

#[tokio::test]
async fn a_foreign_workload_with_the_same_name_is_left_alone() {
    let env = env("ts-foreign").await;
    let foreign = env
        .create::<Deployment>(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": { "name": "clash" },
            "spec": {
                "replicas": 2,
                "selector": { "matchLabels": { "app": "mine" } },
                "template": {
                    "metadata": { "labels": { "app": "mine" } },
                    "spec": { "containers": [{ "name": "web", "image": "nginx" }] }
                }
            }
        }))
        .await;
    env.workspace("ws", "https://github.com/acme/widgets", None)
        .await;
    env.spawner(
        "clash",
        json!({ "cron": { "schedule": "0 * * * *" } }),
        Some("ws"),
    )
    .await;
    // Cron mode would delete a stale Deployment of its own, never someone else's.
    env.cronjob("clash").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let d = env.api::<Deployment>().get("clash").await.unwrap();
    assert_eq!(d.metadata.generation, foreign.metadata.generation);
    assert_eq!(replicas(&d), 2);

    // Polling mode does not take it over either.
    env.patch_spawner(
        "clash",
        json!({ "spec": { "when": { "cron": null, "githubIssues": {} } } }),
    )
    .await;
    env.wait_gone::<CronJob>("clash").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let d = env.api::<Deployment>().get("clash").await.unwrap();
    assert_eq!(d.metadata.generation, foreign.metadata.generation);
    assert!(d.owner_references().is_empty());
}

#[tokio::test]
async fn existing_spawner_rbac_objects_are_not_touched() {
    let env = env("ts-rbac").await;
    let sa = env
        .create::<ServiceAccount>(json!({
            "apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": { "name": "kelos-spawner", "labels": { "owner": "me" } }
        }))
        .await;
    env.workspace("ws", "https://github.com/acme/widgets", None)
        .await;
    env.spawner("a", issues(), Some("ws")).await;
    env.spawner("b", issues(), Some("ws")).await;
    env.deployment("a").await;
    env.deployment("b").await;
    let again = env
        .api::<ServiceAccount>()
        .get("kelos-spawner")
        .await
        .unwrap();
    assert_eq!(again.resource_version(), sa.resource_version());
    let bindings = env
        .api::<RoleBinding>()
        .list(&ListParams::default())
        .await
        .unwrap();
    assert_eq!(bindings.items.len(), 1, "one RoleBinding per namespace");
}
