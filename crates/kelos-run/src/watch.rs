//! Watches the demo namespace's Tasks and their pods, narrates every change, and keeps a
//! [`Snapshot`] the demo's steps wait on.

use std::collections::{BTreeMap, HashMap};

use futures::{StreamExt, stream};
use k8s_openapi::api::core::v1::Pod;
use kelos_api::constants::{
    ANNOTATION_SOURCE_KIND, ANNOTATION_SOURCE_NUMBER, LABEL_TASK, LABEL_TASKSPAWNER,
    SOURCE_KIND_PULL_REQUEST,
};
use kelos_api::{Task, TaskPhase};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, ResourceExt};
use tokio::sync::watch;

use crate::narrate::{self, Narrator};

/// KWOK's pod annotation: how long the simulated containers run (see kelos-testenv's kwok).
pub const KWOK_COMPLETE_DELAY: &str = "pod-complete.stage.kwok.x-k8s.io/delay";

/// What the demo knows about one Task.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TaskInfo {
    pub name: String,
    pub spawner: Option<String>,
    /// `issue` or `pull-request`.
    pub source_kind: Option<String>,
    pub source_number: Option<u64>,
    pub phase: Option<TaskPhase>,
    pub cancelled_by: Option<String>,
    pub message: Option<String>,
    pub start_time: Option<chrono::DateTime<chrono::Utc>>,
    pub completion_time: Option<chrono::DateTime<chrono::Utc>>,
    /// A pod of this Task is Running.
    pub pod_running: bool,
}

impl TaskInfo {
    /// `issue #1` / `pull request #4` / `no source item`.
    pub fn item(&self) -> String {
        match (self.source_kind.as_deref(), self.source_number) {
            (Some(SOURCE_KIND_PULL_REQUEST), Some(n)) => format!("pull request #{n}"),
            (Some(kind), Some(n)) => format!("{kind} #{n}"),
            _ => "no source item".into(),
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub tasks: BTreeMap<String, TaskInfo>,
}

impl Snapshot {
    /// The newest Task for a source item.
    pub fn for_item(&self, kind: &str, number: u64) -> Option<&TaskInfo> {
        self.tasks
            .values()
            .filter(|t| t.source_kind.as_deref() == Some(kind) && t.source_number == Some(number))
            .max_by_key(|t| t.start_time)
    }

    /// `demo-issues-1 Succeeded, demo-reviews-4 Running`, for error messages.
    pub fn summary(&self) -> String {
        if self.tasks.is_empty() {
            return "no Tasks yet".into();
        }
        self.tasks
            .values()
            .map(|t| {
                format!(
                    "{} ({}) {}",
                    t.name,
                    t.item(),
                    t.phase.map(|p| p.as_str()).unwrap_or("(no phase yet)")
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Titles of the source items, for friendlier narration (empty against real GitHub).
pub type Titles = HashMap<u64, String>;

#[derive(Default, Clone, PartialEq)]
struct PodSeen {
    node: Option<String>,
    phase: Option<String>,
    terminating: bool,
    grace: Option<i64>,
}

enum Change {
    Task(Box<Event<Task>>),
    Pod(Box<Event<Pod>>),
}

/// Starts the watchers on the current runtime; the receiver sees every update.
pub fn spawn(
    client: Client,
    namespace: &str,
    narrator: Narrator,
    titles: Titles,
) -> (watch::Receiver<Snapshot>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = watch::channel(Snapshot::default());
    let tasks: Api<Task> = Api::namespaced(client.clone(), namespace);
    let pods: Api<Pod> = Api::namespaced(client, namespace);
    // With a backoff: without one, an apiserver that is gone (teardown) makes the watcher retry
    // in a hot loop that never yields.
    let task_events = watcher::watcher(tasks, watcher::Config::default())
        .default_backoff()
        .map(|e| e.map(|t| Change::Task(Box::new(t))));
    let pod_events = watcher::watcher(pods, watcher::Config::default().labels(LABEL_TASK))
        .default_backoff()
        .map(|e| e.map(|p| Change::Pod(Box::new(p))));
    let handle = tokio::spawn(async move {
        let mut changes = stream::select(task_events.boxed(), pod_events.boxed());
        let mut state = Watching {
            narrator,
            titles,
            pods: HashMap::new(),
            tx,
        };
        while let Some(change) = changes.next().await {
            match change {
                Ok(Change::Task(event)) => match *event {
                    Event::Apply(t) | Event::InitApply(t) => state.task(&t),
                    Event::Delete(t) => state.tx.send_modify(|s| {
                        s.tasks.remove(&t.name_any());
                    }),
                    _ => {}
                },
                Ok(Change::Pod(event)) => match *event {
                    Event::Apply(p) | Event::InitApply(p) => state.pod(&p),
                    Event::Delete(p) => state.pod_deleted(&p),
                    _ => {}
                },
                // The watcher retries (with a backoff); a hiccup is not worth narrating.
                Err(_) => {}
            }
        }
    });
    (rx, handle)
}

struct Watching {
    narrator: Narrator,
    titles: Titles,
    pods: HashMap<String, PodSeen>,
    tx: watch::Sender<Snapshot>,
}

fn time(
    t: &Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
) -> Option<chrono::DateTime<chrono::Utc>> {
    t.as_ref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t.0.to_string()).ok())
        .map(|t| t.with_timezone(&chrono::Utc))
}

impl Watching {
    fn task(&mut self, task: &Task) {
        let name = task.name_any();
        let status = task.status.as_ref();
        let annotations = task.annotations();
        let mut info = TaskInfo {
            name: name.clone(),
            spawner: task.labels().get(LABEL_TASKSPAWNER).cloned(),
            source_kind: annotations.get(ANNOTATION_SOURCE_KIND).cloned(),
            source_number: annotations
                .get(ANNOTATION_SOURCE_NUMBER)
                .and_then(|n| n.parse().ok()),
            phase: task.phase(),
            cancelled_by: status.and_then(|s| s.cancelled_by.clone()),
            message: status
                .and_then(|s| s.message.clone())
                .filter(|m| !m.is_empty()),
            start_time: time(&status.and_then(|s| s.start_time.clone())),
            completion_time: time(&status.and_then(|s| s.completion_time.clone())),
            pod_running: false,
        };
        let previous = self.tx.borrow().tasks.get(&name).cloned();
        info.pod_running = previous.as_ref().is_some_and(|p| p.pod_running);
        let n = &self.narrator;
        if previous.is_none() {
            let title = info
                .source_number
                .and_then(|num| self.titles.get(&num))
                .map(|t| format!(" \"{t}\""))
                .unwrap_or_default();
            let by = info
                .spawner
                .as_deref()
                .map(|s| format!(", by TaskSpawner {s}"))
                .unwrap_or_default();
            n.event(
                narrate::CREATED,
                &format!("Task {name} for {}{title}{by}", info.item()),
            );
        }
        let old_phase = previous.as_ref().and_then(|p| p.phase);
        if info.phase != old_phase
            && let Some(phase) = info.phase
        {
            match phase {
                TaskPhase::Pending => n.event(
                    narrate::PENDING,
                    &format!("Task {name}: kelos-controller created Job {name}"),
                ),
                TaskPhase::Waiting => n.event(
                    "WAITING",
                    &format!(
                        "Task {name}: {}",
                        info.message.as_deref().unwrap_or("waiting")
                    ),
                ),
                TaskPhase::Running => n.event(
                    narrate::RUNNING,
                    &format!("Task {name}: its Job's pod is running the agent"),
                ),
                TaskPhase::Succeeded => {
                    let took = match (info.start_time, info.completion_time) {
                        (Some(s), Some(c)) => {
                            format!(" after {}s", (c - s).num_seconds().max(0))
                        }
                        _ => String::new(),
                    };
                    n.event(
                        narrate::SUCCEEDED,
                        &format!("Task {name}: the agent finished{took}"),
                    )
                }
                TaskPhase::Failed => n.event(
                    narrate::FAILED,
                    &format!(
                        "Task {name}: {}",
                        info.message.as_deref().unwrap_or("failed")
                    ),
                ),
                TaskPhase::Cancelled => n.event(
                    narrate::CANCELLED,
                    &format!(
                        "Task {name}: cancelledBy {}, message \"{}\"",
                        info.cancelled_by.as_deref().unwrap_or("(not set yet)"),
                        info.message.as_deref().unwrap_or("")
                    ),
                ),
            }
        }
        self.tx.send_modify(|s| {
            s.tasks.insert(name, info);
        });
    }

    fn pod(&mut self, pod: &Pod) {
        let name = pod.name_any();
        let task = pod.labels().get(LABEL_TASK).cloned().unwrap_or_default();
        let seen = PodSeen {
            node: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
            phase: pod.status.as_ref().and_then(|s| s.phase.clone()),
            terminating: pod.metadata.deletion_timestamp.is_some(),
            grace: pod.metadata.deletion_grace_period_seconds,
        };
        let before = self
            .pods
            .insert(name.clone(), seen.clone())
            .unwrap_or_default();
        let n = &self.narrator;
        if before.node.is_none()
            && let Some(node) = &seen.node
        {
            n.pod(&format!(
                "{name} (Task {task}) scheduled onto node {node} by kube-scheduler"
            ));
        }
        if seen.phase != before.phase {
            match seen.phase.as_deref() {
                Some("Running") => {
                    let runtime = match pod.annotations().get(KWOK_COMPLETE_DELAY) {
                        Some(d) if d == "1h" || d.ends_with('h') => {
                            " (simulated agent: keeps working until it is stopped)".to_owned()
                        }
                        Some(d) => format!(" (simulated agent: works for {d})"),
                        None => String::new(),
                    };
                    n.pod(&format!(
                        "{name} running on {}{runtime}",
                        seen.node.as_deref().unwrap_or("?")
                    ));
                    if !task.is_empty() {
                        self.tx.send_modify(|s| {
                            if let Some(t) = s.tasks.get_mut(&task) {
                                t.pod_running = true;
                            }
                        });
                    }
                }
                Some("Succeeded") => n.pod(&format!("{name} completed: the agent exited 0")),
                Some("Failed") => n.pod(&format!("{name} failed")),
                _ => {}
            }
        }
        if seen.terminating && !before.terminating {
            let grace = seen
                .grace
                .map(|g| format!("{g}s"))
                .unwrap_or_else(|| "?".into());
            n.pod(&format!(
                "{name} terminating: the agent got SIGTERM and has a {grace} grace period before SIGKILL"
            ));
        } else if seen.terminating
            && seen.grace != before.grace
            && let Some(grace) = seen.grace
        {
            if grace == 0 {
                // KWOK, like a kubelet, finishes the deletion once the grace period is over.
                n.pod(&format!("{name}: grace period over, the agent is killed"));
            } else {
                // A second deletion may shorten the grace period (never lengthen it).
                n.pod(&format!("{name}: grace period shortened to {grace}s"));
            }
        }
    }

    fn pod_deleted(&mut self, pod: &Pod) {
        let name = pod.name_any();
        if self.pods.remove(&name).is_some() {
            self.narrator.pod(&format!("{name} is gone"));
        }
        let task = pod.labels().get(LABEL_TASK).cloned().unwrap_or_default();
        self.tx.send_modify(|s| {
            if let Some(t) = s.tasks.get_mut(&task) {
                t.pod_running = false;
            }
        });
    }
}
