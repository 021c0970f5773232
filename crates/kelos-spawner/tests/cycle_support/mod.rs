//! Shared by the `cycle_*` tests: the real kube-apiserver from `kelos-testenv` (one per test
//! binary, a namespace per test), a fake GitHub with repository `acme/widgets`, and helpers to
//! create TaskSpawners, read Tasks and move them through phases as the controller would.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use kelos_api::constants::{LABEL_SOURCE_ITEM, LABEL_TASKSPAWNER};
use kelos_api::{Task, TaskPhase, TaskSpawner, TaskSpawnerStatus};
use kelos_fake_github::{FakeGitHub, RepoHandle};
use kelos_spawner::cycle::{CycleReport, Spawner};
use kelos_spawner::github::{GitHubClient, GitHubConfig, TokenSource};
use kelos_spawner::item::WorkItem;
use kelos_spawner::metrics::SpawnerMetrics;
use kelos_spawner::planner::{PlanContext, build_task};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

pub const OWNER: &str = "acme";
pub const REPO: &str = "widgets";
pub const NAME: &str = "spawner";
pub const TRIGGER: &str = "/kelos pick-up";

pub struct Env {
    pub client: Client,
    pub ns: String,
    pub gh: FakeGitHub,
    pub repo: RepoHandle,
    /// The spawner's clock; tests move it to make cron ticks due.
    pub clock: Arc<Mutex<DateTime<Utc>>>,
}

pub async fn env(prefix: &str) -> Env {
    let cluster = kelos_testenv::shared().await;
    let client = cluster.client().await;
    let ns = cluster.namespace(prefix).await;
    let gh = FakeGitHub::start().await;
    let repo = gh.repo(OWNER, REPO);
    Env {
        client,
        ns,
        gh,
        repo,
        clock: Arc::new(Mutex::new(Utc::now())),
    }
}

/// A TaskSpawner manifest's spec with `when` and extra top-level spec fields.
pub fn spec(when: Value, extra: Value) -> Value {
    let mut spec = json!({
        "when": when,
        "taskTemplate": {
            "type": "claude-code",
            "credentials": {"type": "oauth", "secretRef": {"name": "creds"}},
            "workspaceRef": {"name": "ws"},
            "promptTemplate": "Work on {{.Kind}} #{{.Number}}: {{.Title}}"
        }
    });
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            s.insert(k.clone(), v.clone());
        }
    }
    spec
}

pub fn policy(on_source_removed: &str, on_retrigger: &str) -> Value {
    json!({"cancellationPolicy": {
        "onSourceRemoved": on_source_removed,
        "onRetrigger": on_retrigger,
        "gracePeriodSeconds": 30
    }})
}

impl Env {
    pub fn tasks_api(&self) -> Api<Task> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    pub fn spawners_api(&self) -> Api<TaskSpawner> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    pub async fn create_spawner(&self, spec: Value) -> TaskSpawner {
        let ts: TaskSpawner = serde_json::from_value(json!({
            "apiVersion": "kelos.dev/v1alpha1",
            "kind": "TaskSpawner",
            "metadata": {"name": NAME, "namespace": self.ns},
            "spec": spec,
        }))
        .expect("valid TaskSpawner");
        self.spawners_api()
            .create(&PostParams::default(), &ts)
            .await
            .expect("creating the TaskSpawner")
    }

    pub async fn patch_spawner_spec(&self, patch: Value) {
        self.spawners_api()
            .patch(
                NAME,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": patch})),
            )
            .await
            .expect("patching the TaskSpawner");
    }

    pub fn github_config(&self) -> GitHubConfig {
        GitHubConfig::new(OWNER, REPO, TokenSource::Static("test-token".into()))
            .base_url(self.gh.url())
            .request_timeout(Duration::from_secs(2))
    }

    /// A fresh spawner process: new GitHub client (empty ETag cache, no rate-limit memory).
    pub fn spawner(&self) -> Spawner {
        self.spawner_with(self.github_config())
    }

    pub fn spawner_with(&self, config: GitHubConfig) -> Spawner {
        let metrics = Arc::new(SpawnerMetrics::new());
        let github = Arc::new(GitHubClient::new(config.metrics(metrics.clone())).unwrap());
        let clock = self.clock.clone();
        Spawner::new(self.client.clone(), &self.ns, NAME, Some(github), metrics)
            .with_clock(Arc::new(move || *clock.lock().unwrap()))
    }

    pub async fn cycle(&self) -> CycleReport {
        self.spawner().run_cycle().await.expect("cycle runs")
    }

    pub async fn tasks(&self) -> Vec<Task> {
        let mut tasks = self
            .tasks_api()
            .list(&Default::default())
            .await
            .expect("listing Tasks")
            .items;
        tasks.sort_by_key(|t| t.name_any());
        tasks
    }

    pub async fn task(&self, name: &str) -> Task {
        self.tasks_api().get(name).await.expect("Task exists")
    }

    /// Names of the non-terminal Tasks for a source item (`issue-3`, `pr-7`).
    pub async fn active_for(&self, identity: &str) -> Vec<String> {
        self.tasks()
            .await
            .into_iter()
            .filter(|t| t.labels().get(LABEL_SOURCE_ITEM).map(String::as_str) == Some(identity))
            .filter(|t| !t.is_terminal())
            .map(|t| t.name_any())
            .collect()
    }

    /// Moves a Task to `phase` through its status, as the controller does.
    pub async fn set_phase(&self, name: &str, phase: TaskPhase) {
        self.tasks_api()
            .patch_status(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {"phase": phase.as_str()}})),
            )
            .await
            .expect("setting the Task phase");
    }

    pub async fn status(&self) -> TaskSpawnerStatus {
        self.spawners_api()
            .get(NAME)
            .await
            .expect("TaskSpawner exists")
            .status
            .unwrap_or_default()
    }

    /// A Task as the spawner would have created it for `item` in an earlier cycle, in `phase`.
    pub async fn seed_task(&self, spec: &Value, item: &WorkItem, phase: TaskPhase) -> Task {
        let spec = serde_json::from_value(spec.clone()).unwrap();
        let ctx = PlanContext {
            spawner_name: NAME,
            spec: &spec,
            total_tasks_created: 0,
            now: Utc::now(),
        };
        let name = format!("{NAME}-{}", item.id);
        let task = build_task(item, &name, &ctx).unwrap();
        self.tasks_api()
            .create(&PostParams::default(), &task)
            .await
            .expect("creating the Task");
        self.set_phase(&name, phase).await;
        self.task(&name).await
    }
}

/// The work item for GitHub issue `n` as discovery reports it (for `seed_task`).
pub fn issue_item(n: u64) -> WorkItem {
    WorkItem {
        id: n.to_string(),
        source: Some(kelos_spawner::item::SourceKind::Issue),
        number: n as i64,
        kind: "Issue".into(),
        title: format!("Issue {n}"),
        ..Default::default()
    }
}

pub fn phase(task: &Task) -> Option<TaskPhase> {
    task.phase()
}

pub fn labels_of(task: &Task) -> BTreeMap<String, String> {
    task.labels().clone()
}

pub fn spawner_label(task: &Task) -> Option<&str> {
    task.labels().get(LABEL_TASKSPAWNER).map(String::as_str)
}

pub fn condition(status: &TaskSpawnerStatus, type_: &str) -> (String, String, String) {
    let c = kelos_spawner::status::condition(status, type_)
        .unwrap_or_else(|| panic!("condition {type_} is set"));
    (c.status.clone(), c.reason.clone(), c.message.clone())
}
