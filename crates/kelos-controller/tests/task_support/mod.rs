//! Support for the Task controller's tests on the real apiserver (kelos-testenv): one
//! namespace per test, the controller started in-process and scoped to it, helpers to drive
//! Job status through the status subresource and to create the pods a kubelet-less control
//! plane never makes.
#![allow(dead_code)]

#[path = "../support/github_app.rs"]
mod app_fixture;
#[path = "../support/http.rs"]
pub mod http;
#[path = "../support/poll.rs"]
mod poll;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec};
use k8s_openapi::api::events::v1::Event;
use kelos_api::constants::ANNOTATION_COMPLETION_RECORDED;
use kelos_api::{AgentConfig, Task, TaskPhase, Workspace};
use kelos_controller::job::{JobImages, job_labels};
use kelos_controller::runner::{self, Options, Running};
use kelos_controller::task::{RunConfig, TaskConfig};
use kelos_fake_github::FakeGitHub;
use kelos_testenv::TestCluster;
use kube::api::{ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};

pub use app_fixture::*;
pub use http::sample;
pub use poll::{WAIT, wait_for};

pub struct Env {
    pub client: Client,
    pub ns: String,
}

impl Env {
    pub async fn new(prefix: &str) -> Env {
        Self::in_cluster(kelos_testenv::shared(), prefix).await
    }

    /// In the simulated cluster (kube-controller-manager, kube-scheduler, KWOK).
    pub async fn new_full(prefix: &str) -> Env {
        Self::in_cluster(kelos_testenv::shared_full(), prefix).await
    }

    /// Test logs on (`RUST_LOG`), then a fresh namespace in the shared `cluster`.
    async fn in_cluster(cluster: impl Future<Output = &'static TestCluster>, prefix: &str) -> Env {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let cluster = cluster.await;
        let client = cluster.client().await;
        let ns = cluster.namespace(prefix).await;
        Env { client, ns }
    }

    /// A Task controller watching only this test's namespace, metrics and health on
    /// ephemeral loopback ports.
    pub async fn start(&self) -> Running {
        self.start_with(TaskConfig {
            images: JobImages::default(),
            github_api_base_url: None,
        })
        .await
    }

    /// As [`Env::start`], exchanging GitHub App tokens with `gh`.
    pub async fn start_with_github(&self, gh: &FakeGitHub) -> Running {
        self.start_with(TaskConfig {
            images: JobImages::default(),
            github_api_base_url: Some(gh.url()),
        })
        .await
    }

    pub async fn start_with(&self, task: TaskConfig) -> Running {
        let options = Options {
            metrics_addr: Some("127.0.0.1:0".parse().unwrap()),
            health_addr: Some("127.0.0.1:0".parse().unwrap()),
            task: RunConfig {
                namespace: Some(self.ns.clone()),
                concurrency: 8,
                task,
            },
            taskspawner: None,
        };
        runner::start(self.client.clone(), options)
            .await
            .expect("starting the controller")
    }

    /// Creates a Secret with `data` (plain strings).
    pub async fn secret(&self, name: &str, data: &[(&str, &str)]) {
        let secret = k8s_openapi::api::core::v1::Secret {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            string_data: Some(
                data.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..Default::default()
        };
        Api::<k8s_openapi::api::core::v1::Secret>::namespaced(self.client.clone(), &self.ns)
            .create(&PostParams::default(), &secret)
            .await
            .expect("creating Secret");
    }

    /// A GitHub App Secret for the test App and `installation_id`.
    pub async fn app_secret(&self, name: &str, installation_id: &str) {
        self.secret(name, &app_secret_data(installation_id)).await;
    }

    pub fn tasks(&self) -> Api<Task> {
        Api::namespaced(self.client.clone(), &self.ns)
    }
    pub fn jobs(&self) -> Api<Job> {
        Api::namespaced(self.client.clone(), &self.ns)
    }
    pub fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    pub async fn create(&self, task: Task) -> Task {
        self.tasks()
            .create(&PostParams::default(), &task)
            .await
            .expect("creating Task")
    }

    pub async fn workspace(&self, name: &str) {
        self.workspace_spec(
            name,
            json!({"repo": "https://github.com/kelos-dev/example.git"}),
        )
        .await;
    }

    pub async fn workspace_spec(&self, name: &str, spec: Value) {
        let ws: Workspace = serde_json::from_value(json!({
            "apiVersion": "kelos.dev/v1alpha1", "kind": "Workspace",
            "metadata": {"name": name},
            "spec": spec
        }))
        .unwrap();
        Api::<Workspace>::namespaced(self.client.clone(), &self.ns)
            .create(&PostParams::default(), &ws)
            .await
            .expect("creating Workspace");
    }

    /// A Workspace on github.com/acme/widgets authenticated by the Secret `secret`.
    pub async fn secret_workspace(&self, name: &str, secret: &str) {
        self.workspace_spec(
            name,
            json!({"repo": "https://github.com/acme/widgets.git", "secretRef": {"name": secret}}),
        )
        .await;
    }

    /// An AgentConfig with one HTTP MCP server whose headers come from the Secret `secret`.
    pub async fn mcp_agent_config(&self, name: &str, secret: &str) {
        let ac: AgentConfig = serde_json::from_value(json!({
            "apiVersion": "kelos.dev/v1alpha1", "kind": "AgentConfig",
            "metadata": {"name": name},
            "spec": {"mcpServers": [{"name": "tools", "type": "http", "url": "https://mcp.example",
                                      "headersFrom": {"secretRef": {"name": secret}}}]}
        }))
        .unwrap();
        Api::<AgentConfig>::namespaced(self.client.clone(), &self.ns)
            .create(&Default::default(), &ac)
            .await
            .unwrap();
    }

    /// A metadata-only change, so the controller reconciles the Task again.
    pub async fn poke(&self, name: &str) {
        self.tasks()
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {"poke": "1"}}})),
            )
            .await
            .unwrap();
    }

    /// Polls the Task until `pred` holds.
    pub async fn wait_task(&self, name: &str, what: &str, pred: impl Fn(&Task) -> bool) -> Task {
        let api = self.tasks();
        let start = Instant::now();
        loop {
            let t = api.get_opt(name).await.expect("reading Task");
            if let Some(t) = t.as_ref().filter(|t| pred(t)) {
                return t.clone();
            }
            if start.elapsed() > WAIT {
                panic!("Task {name}: timed out waiting for {what}; last seen: {t:#?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn wait_phase(&self, name: &str, phase: TaskPhase) -> Task {
        self.wait_task(name, phase.as_str(), |t| t.phase() == Some(phase))
            .await
    }

    pub async fn wait_gone(&self, name: &str) {
        let api = self.tasks();
        eventually(&format!("Task {name} deleted"), || async {
            api.get_opt(name).await.unwrap().is_none()
        })
        .await;
    }

    pub async fn wait_job(&self, name: &str) -> Job {
        wait_for(&format!("Job {name}"), || async {
            self.jobs().get_opt(name).await.unwrap()
        })
        .await
    }

    pub async fn job_gone(&self, name: &str) -> bool {
        !self.job_exists(name).await
    }

    /// Polls the pod until `pred` holds.
    pub async fn wait_pod(&self, name: &str, pred: impl Fn(&Pod) -> bool) -> Pod {
        wait_for(&format!("pod {name} to match"), || async {
            self.pods().get_opt(name).await.unwrap().filter(|p| pred(p))
        })
        .await
    }

    pub async fn job_exists(&self, name: &str) -> bool {
        self.jobs().get_opt(name).await.unwrap().is_some()
    }

    /// What the Job controller would write: `{"active": 1}`, `{"succeeded": 1}`, ...
    pub async fn job_status(&self, name: &str, status: Value) {
        self.try_job_status(name, status)
            .await
            .unwrap_or_else(|e| panic!("patching Job {name} status: {e}"));
    }

    pub async fn try_job_status(&self, name: &str, status: Value) -> Result<(), kube::Error> {
        let now = now_str();
        let mut status = status;
        let obj = status.as_object_mut().unwrap();
        // The apiserver keeps startTime immutable once set, and completionTime after it.
        let current = self.jobs().get(name).await?;
        if current.status.and_then(|s| s.start_time).is_none() {
            obj.insert("startTime".into(), Value::from(now));
        }
        self.jobs()
            .patch_status(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"status": status})),
            )
            .await
            .map(|_| ())
    }

    /// Success as the Job controller reports it; an error if the Job is gone.
    pub fn succeeded_status() -> Value {
        let now = now_str();
        json!({"active": 0, "succeeded": 1, "completionTime": now, "conditions": [
            {"type": "SuccessCriteriaMet", "status": "True", "lastProbeTime": now, "lastTransitionTime": now},
            {"type": "Complete", "status": "True", "lastProbeTime": now, "lastTransitionTime": now}
        ]})
    }

    pub async fn job_running(&self, name: &str) {
        self.job_status(name, json!({"active": 1})).await;
    }

    pub async fn job_succeeded(&self, name: &str) {
        self.job_status(name, Self::succeeded_status()).await;
    }

    pub async fn job_failed(&self, name: &str) {
        let now = now_str();
        self.job_status(
            name,
            json!({"active": 0, "failed": 1, "conditions": [
                {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded", "lastProbeTime": now, "lastTransitionTime": now},
                {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "lastProbeTime": now, "lastTransitionTime": now}
            ]}),
        )
        .await;
    }

    /// A pod as the Job controller would make it (the Job's labels), already bound to a node
    /// so the apiserver deletes it gracefully.
    pub async fn pod(&self, task: &str, pod: &str) -> Pod {
        let p = Pod {
            metadata: ObjectMeta {
                name: Some(pod.into()),
                labels: Some(job_labels(task)),
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: Some("node-1".into()),
                containers: vec![Container {
                    name: "claude-code".into(),
                    image: Some("example/agent".into()),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        };
        self.pods()
            .create(&PostParams::default(), &p)
            .await
            .expect("creating pod")
    }

    /// Cancels like a person or the spawner: a status patch to Cancelled.
    pub async fn cancel(&self, name: &str, status: Value) -> Result<Task, kube::Error> {
        let mut status = status;
        status["phase"] = Value::from("Cancelled");
        self.tasks()
            .patch_status(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"status": status})),
            )
            .await
    }

    pub async fn events(&self, task: &str) -> Vec<Event> {
        let api: Api<Event> = Api::namespaced(self.client.clone(), &self.ns);
        api.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(task))
            .collect()
    }

    pub async fn wait_event(&self, task: &str, reason: &str) -> Event {
        wait_for(&format!("a {reason} event for {task}"), || async {
            self.events(task)
                .await
                .into_iter()
                .find(|e| e.reason.as_deref() == Some(reason))
        })
        .await
    }
}

/// Polls `check` until it returns true.
pub async fn eventually<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    wait_for(what, || async { check().await.then_some(()) }).await
}

/// A minimal Task.
pub fn task(name: &str) -> Task {
    serde_json::from_value(json!({
        "apiVersion": "kelos.dev/v1alpha1", "kind": "Task",
        "metadata": {"name": name},
        "spec": {"type": "claude-code", "prompt": "Fix the bug",
                 "credentials": {"type": "api-key", "secretRef": {"name": "anthropic"}}}
    }))
    .unwrap()
}

pub fn with_deps(mut t: Task, deps: &[&str]) -> Task {
    t.spec.depends_on = Some(deps.iter().map(|s| s.to_string()).collect());
    t
}

pub fn with_workspace(mut t: Task, workspace: &str) -> Task {
    t.spec.workspace_ref = Some(kelos_api::WorkspaceReference {
        name: workspace.into(),
    });
    t
}

pub fn with_agent_config(mut t: Task, agent_config: &str) -> Task {
    t.spec.agent_config_ref = Some(kelos_api::AgentConfigReference {
        name: agent_config.into(),
    });
    t
}

pub fn on_branch(t: Task, workspace: &str, branch: &str) -> Task {
    let mut t = with_workspace(t, workspace);
    t.spec.branch = Some(branch.into());
    t
}

pub fn with_ttl(mut t: Task, ttl: i32) -> Task {
    t.spec.ttl_seconds_after_finished = Some(ttl);
    t
}

/// A plain HTTP/1.1 GET that must be answered.
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    http::http_get(addr, path)
        .await
        .unwrap_or_else(|| panic!("GET http://{addr}{path}: no answer"))
}

/// Value of `kelos_task_completed_total` for `ns` and `phase` (0 when absent).
pub fn completed(metrics: &str, ns: &str, phase: &str) -> f64 {
    sample(
        metrics,
        "kelos_task_completed_total",
        &[("namespace", ns), ("phase", phase)],
    )
}

pub async fn metrics(running: &Running) -> String {
    let (code, body) = http_get(running.metrics_addr.unwrap(), "/metrics").await;
    assert_eq!(code, 200);
    body
}

pub fn status_of(t: &Task) -> kelos_api::TaskStatus {
    t.status.clone().unwrap_or_default()
}

pub fn annotations(t: &Task) -> BTreeMap<String, String> {
    t.metadata.annotations.clone().unwrap_or_default()
}

/// The controller has recorded the Task's completion (its metrics are counted).
pub fn recorded(t: &Task) -> bool {
    annotations(t).contains_key(ANNOTATION_COMPLETION_RECORDED)
}

/// Now, at the second precision the apiserver stores.
pub fn now_str() -> String {
    let now = jiff::Timestamp::now();
    jiff::Timestamp::from_second(now.as_second())
        .unwrap()
        .to_string()
}
