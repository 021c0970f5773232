//! Support for the Task controller's tests on the real apiserver (kelos-testenv): one
//! namespace per test, the controller started in-process and scoped to it, helpers to drive
//! Job status through the status subresource and to create the pods a kubelet-less control
//! plane never makes.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec};
use k8s_openapi::api::events::v1::Event;
use kelos_api::{Task, TaskPhase, Workspace};
use kelos_controller::job::{JobImages, job_labels};
use kelos_controller::runner::{self, Options, Running};
use kelos_controller::task::{RunConfig, TaskConfig};
use kube::api::{ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const WAIT: Duration = Duration::from_secs(30);

pub struct Env {
    pub client: Client,
    pub ns: String,
}

impl Env {
    pub async fn new(prefix: &str) -> Env {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let cluster = kelos_testenv::shared().await;
        let client = cluster.client().await;
        let ns = cluster.namespace(prefix).await;
        Env { client, ns }
    }

    /// In the simulated cluster (kube-controller-manager, kube-scheduler, KWOK).
    pub async fn new_full(prefix: &str) -> Env {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let cluster = kelos_testenv::shared_full().await;
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
        let api = self.jobs();
        let start = Instant::now();
        loop {
            if let Some(j) = api.get_opt(name).await.unwrap() {
                return j;
            }
            assert!(start.elapsed() < WAIT, "Job {name} never created");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn job_gone(&self, name: &str) -> bool {
        !self.job_exists(name).await
    }

    /// Polls the pod until `pred` holds.
    pub async fn wait_pod(&self, name: &str, pred: impl Fn(&Pod) -> bool) -> Pod {
        let start = Instant::now();
        loop {
            if let Some(p) = self.pods().get_opt(name).await.unwrap().filter(|p| pred(p)) {
                return p;
            }
            assert!(start.elapsed() < WAIT, "pod {name}: condition never held");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
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
        let start = Instant::now();
        loop {
            if let Some(e) = self
                .events(task)
                .await
                .into_iter()
                .find(|e| e.reason.as_deref() == Some(reason))
            {
                return e;
            }
            assert!(start.elapsed() < WAIT, "no {reason} event for {task}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Polls `check` until it returns true.
pub async fn eventually<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < WAIT, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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

pub fn on_branch(mut t: Task, workspace: &str, branch: &str) -> Task {
    t.spec.workspace_ref = Some(kelos_api::WorkspaceReference {
        name: workspace.into(),
    });
    t.spec.branch = Some(branch.into());
    t
}

pub fn with_ttl(mut t: Task, ttl: i32) -> Task {
    t.spec.ttl_seconds_after_finished = Some(ttl);
    t
}

/// `GET /metrics` over plain HTTP.
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connecting");
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    stream.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (code, body)
}

/// Value of `kelos_task_completed_total` for `ns` and `phase` (0 when absent).
pub fn completed(metrics: &str, ns: &str, phase: &str) -> f64 {
    sample(
        metrics,
        "kelos_task_completed_total",
        &[("namespace", ns), ("phase", phase)],
    )
}

/// Sum of the samples of `name` whose labels include all of `labels`.
pub fn sample(metrics: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (n, rest) = series.split_once('{').unwrap_or((series, ""));
            if n != name {
                return None;
            }
            let all = labels
                .iter()
                .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
            all.then(|| value.parse::<f64>().ok()).flatten()
        })
        .sum()
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

/// Now, at the second precision the apiserver stores.
pub fn now_str() -> String {
    let now = jiff::Timestamp::now();
    jiff::Timestamp::from_second(now.as_second())
        .unwrap()
        .to_string()
}
