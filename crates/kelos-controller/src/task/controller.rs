//! Wiring: one watch per kind (Tasks, Jobs with the controller's label, pods with a
//! `kelos.dev/task` label), each feeding a cache the reconciler reads, and kube-runtime's
//! `Controller` running [`reconcile`] with bounded concurrency.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kelos_api::constants::{
    LABEL_APP_MANAGED_BY, LABEL_TASK, MANAGED_BY_CONTROLLER, TASK_FINALIZER,
};
use kelos_api::{Task, TaskPhase};
use kube::api::DeleteParams;
use kube::runtime::controller::{Action, Config as ControllerConfig};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{Controller, WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use tokio::sync::mpsc;
use tracing::Instrument;

use super::apply::{self, is_stale};
use super::branch::lock_key;
use super::context::{Context, TaskConfig};
use super::decide::decide;
use super::observe::observe;
use crate::error::{Error, Result};
use crate::metrics::Metrics;

/// Name the controller reports events under (the original's recorder name).
pub const REPORTER: &str = "kelos-controller";
/// Requeue after a failed reconcile: 5 s, doubling per consecutive failure, at most 5 min.
const ERROR_RETRY: Duration = Duration::from_secs(5);
const ERROR_RETRY_MAX: Duration = Duration::from_secs(300);

/// The retry delay after `failures` consecutive failures (1 = the first).
pub fn error_backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    ERROR_RETRY
        .saturating_mul(1 << doublings)
        .min(ERROR_RETRY_MAX)
}

/// Where and how the Task controller runs.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// Watch only this namespace (tests; a namespaced install). `None`: all namespaces.
    pub namespace: Option<String>,
    /// Reconciles in flight at once.
    pub concurrency: u16,
    pub task: TaskConfig,
}

fn api<K>(client: &Client, ns: &Option<String>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match ns {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

fn strip<K: Resource>(obj: &mut K) {
    // Nobody here reads managedFields; dropping them roughly halves the caches.
    obj.meta_mut().managed_fields = None;
}

fn branch_key(ns: &str, t: &Task) -> Option<String> {
    let branch = t.spec.branch.as_deref().filter(|b| !b.is_empty())?;
    Some(lock_key(
        ns,
        t.spec.workspace_ref.as_ref().map(|w| w.name.as_str()),
        branch,
    ))
}

/// Who waits on whom, kept up to date from the Task watch so that finding the Tasks to wake
/// costs the size of the answer, not a scan of every Task. Specs are immutable, so an entry
/// never changes while its Task exists.
#[derive(Default)]
struct Relations {
    /// `(namespace, dependency)` → Tasks naming it in `dependsOn`.
    dependents: HashMap<(String, String), BTreeSet<String>>,
    /// Branch-lock key → Tasks on it (the key includes the namespace).
    branches: HashMap<String, BTreeSet<String>>,
    /// Built during a re-list, swapped in when it is complete.
    relisting: Option<Box<Relations>>,
}

impl Relations {
    fn insert(&mut self, t: &Task) {
        let (Some(ns), Some(name)) = (t.metadata.namespace.as_deref(), t.metadata.name.as_deref())
        else {
            return;
        };
        for dep in t.spec.depends_on.iter().flatten() {
            self.dependents
                .entry((ns.to_owned(), dep.clone()))
                .or_default()
                .insert(name.to_owned());
        }
        if let Some(key) = branch_key(ns, t) {
            self.branches
                .entry(key)
                .or_default()
                .insert(name.to_owned());
        }
    }

    fn remove(&mut self, t: &Task) {
        let (Some(ns), Some(name)) = (t.metadata.namespace.as_deref(), t.metadata.name.as_deref())
        else {
            return;
        };
        for dep in t.spec.depends_on.iter().flatten() {
            let key = (ns.to_owned(), dep.clone());
            if let Some(set) = self.dependents.get_mut(&key) {
                set.remove(name);
                if set.is_empty() {
                    self.dependents.remove(&key);
                }
            }
        }
        if let Some(key) = branch_key(ns, t)
            && let Some(set) = self.branches.get_mut(&key)
        {
            set.remove(name);
            if set.is_empty() {
                self.branches.remove(&key);
            }
        }
    }

    fn observe(&mut self, event: &watcher::Event<Task>) {
        match event {
            watcher::Event::Apply(t) => self.insert(t),
            watcher::Event::Delete(t) => self.remove(t),
            watcher::Event::Init => self.relisting = Some(Box::default()),
            watcher::Event::InitApply(t) => {
                self.relisting.get_or_insert_with(Box::default).insert(t);
            }
            watcher::Event::InitDone => {
                if let Some(fresh) = self.relisting.take() {
                    self.dependents = fresh.dependents;
                    self.branches = fresh.branches;
                }
            }
        }
    }

    /// Tasks to wake when `changed` changed: its dependents, and the other Tasks on its
    /// branch, if they are not finished.
    fn related(&self, tasks: &Store<Task>, changed: &Task) -> Vec<ObjectRef<Task>> {
        let (Some(ns), Some(name)) = (
            changed.metadata.namespace.as_deref(),
            changed.metadata.name.as_deref(),
        ) else {
            return vec![];
        };
        let dependents = self.dependents.get(&(ns.to_owned(), name.to_owned()));
        let peers = branch_key(ns, changed).and_then(|k| self.branches.get(&k));
        dependents
            .into_iter()
            .chain(peers)
            .flatten()
            .filter(|n| n.as_str() != name)
            .map(|n| ObjectRef::<Task>::new(n).within(ns))
            .filter(|r| tasks.get(r).is_some_and(|t| !t.is_terminal()))
            .collect()
    }
}

type SharedRelations = Arc<Mutex<Relations>>;

fn relations(shared: &SharedRelations) -> std::sync::MutexGuard<'_, Relations> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

pub async fn reconcile(task: Arc<Task>, ctx: Arc<Context>) -> Result<Action> {
    let ns = task
        .namespace()
        .ok_or_else(|| Error::MissingNamespace(task.name_any()))?;
    let span = tracing::info_span!("reconcile", namespace = %ns, name = %task.name_any());
    let uid = task.metadata.uid.clone();
    let ctx_for_success = ctx.clone();
    async move {
        let api: Api<Task> = Api::namespaced(ctx.client.clone(), &ns);
        finalizer(&api, TASK_FINALIZER, task, |event| async {
            match event {
                Finalizer::Apply(task) => {
                    let now = Timestamp::now();
                    let observed = observe(&ctx, &task, &ns, now).await;
                    let transition = decide(&observed, now);
                    apply::apply(&ctx, &task, &ns, transition, now).await
                }
                Finalizer::Cleanup(task) => cleanup(&ctx, &task, &ns).await,
            }
        })
        .await
        .or_else(|e| match e {
            // The finalizer patch raced another write: not an error, just stale.
            kube::runtime::finalizer::Error::AddFinalizer(ref k)
            | kube::runtime::finalizer::Error::RemoveFinalizer(ref k)
                if is_stale(k) =>
            {
                Ok(Action::requeue(Duration::from_secs(1)))
            }
            e => Err(Error::Finalizer(Box::new(e))),
        })
    }
    .instrument(span)
    .await
    .inspect(|_| {
        if let Some(uid) = uid.as_deref() {
            ctx_for_success.clear_failures(uid);
        }
    })
}

/// Task deletion: release its branch lock and delete its Job (Background), as the original's
/// `handleDeletion`. Deleting is not cancelling: no phase change.
async fn cleanup(ctx: &Context, task: &Task, ns: &str) -> Result<Action> {
    let name = task.name_any();
    if let Some(branch) = task.spec.branch.as_deref().filter(|b| !b.is_empty()) {
        let key = lock_key(
            ns,
            task.spec.workspace_ref.as_ref().map(|w| w.name.as_str()),
            branch,
        );
        ctx.release_lock(&key, &name);
    }
    let jobs: Api<Job> = Api::namespaced(ctx.client.clone(), ns);
    match jobs.delete(&name, &DeleteParams::background()).await {
        Ok(_) => tracing::info!("deleted Job of deleted Task"),
        Err(kube::Error::Api(s)) if s.code == 404 => {}
        Err(e) => return Err(e.into()),
    }
    Ok(Action::await_change())
}

fn error_policy(task: Arc<Task>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics
        .reconcile_errors
        .with_label_values(&["task"])
        .inc();
    tracing::warn!(
        namespace = task.namespace().unwrap_or_default(),
        name = task.name_any(),
        kind = error.metric_label(),
        %error,
        "reconcile failed"
    );
    let failures = task
        .metadata
        .uid
        .as_deref()
        .map_or(1, |uid| ctx.record_failure(uid));
    Action::requeue(error_backoff(failures))
}

/// Runs the Task controller until `shutdown` resolves. `ready` is told once the caches have
/// their first full listing.
pub async fn run(
    client: Client,
    config: RunConfig,
    metrics: Arc<Metrics>,
    ready: tokio::sync::watch::Sender<bool>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let ns = &config.namespace;
    let (task_store, task_writer) = reflector::store::<Task>();
    let (job_store, job_writer) = reflector::store::<Job>();
    let (pod_store, pod_writer) = reflector::store::<Pod>();

    // Dependents and branch waiters, woken when a Task they wait on changes.
    let (wake_tx, wake_rx) = mpsc::unbounded_channel::<ObjectRef<Task>>();
    let tap_store = task_store.clone();
    let index: SharedRelations = Arc::default();
    let tap_index = index.clone();
    let tasks = watcher(api::<Task>(&client, ns), watcher::Config::default())
        .default_backoff()
        .modify(strip)
        .reflect(task_writer)
        .inspect(move |event| {
            let Ok(event) = event else { return };
            let mut index = relations(&tap_index);
            index.observe(event);
            let touched = match event {
                watcher::Event::Delete(t) => t,
                // Only these changes can unblock another Task: a new Task (a dependency that
                // was missing), a finished one (dependents, branch waiters), and any change
                // of a branch Task (the lock).
                watcher::Event::Apply(t)
                    if t.status.is_none()
                        || t.is_terminal()
                        || t.meta().deletion_timestamp.is_some()
                        || t.spec.branch.as_deref().is_some_and(|b| !b.is_empty()) =>
                {
                    t
                }
                _ => return,
            };
            for r in index.related(&tap_store, touched) {
                let _ = wake_tx.send(r);
            }
        })
        .applied_objects();

    let job_selector = format!("{LABEL_APP_MANAGED_BY}={MANAGED_BY_CONTROLLER}");
    let jobs = watcher(
        api::<Job>(&client, ns),
        watcher::Config::default().labels(&job_selector),
    )
    .default_backoff()
    // Only status, owner and deletion matter here; the pod template is most of a Job.
    .modify(|job: &mut Job| {
        strip(job);
        job.spec = None;
    })
    .reflect(job_writer)
    .touched_objects();

    let pod_tasks = task_store.clone();
    let pod_index = index.clone();
    let pods = watcher(
        api::<Pod>(&client, ns),
        watcher::Config::default().labels(LABEL_TASK),
    )
    .default_backoff()
    .modify(|pod: &mut Pod| {
        // Names, creation and deletion times are all the reconciler reads of a pod.
        strip(pod);
        pod.spec = None;
        pod.status = None;
    })
    .reflect(pod_writer)
    .touched_objects();
    // A pod change concerns its Task (podName; a cancelled Task's lock) and, once the pod of a
    // cancelled or deleted Task goes, the Tasks waiting for its branch.
    let pod_mapper = move |pod: Pod| {
        let (Some(ns), Some(task)) = (pod.namespace(), pod.labels().get(LABEL_TASK).cloned())
        else {
            return vec![];
        };
        let owner = ObjectRef::<Task>::new(&task).within(&ns);
        let mut refs = vec![owner.clone()];
        if let Some(t) = pod_tasks.get(&owner) {
            let releasing = t.status.as_ref().and_then(|s| s.phase) == Some(TaskPhase::Cancelled)
                || t.meta().deletion_timestamp.is_some();
            if releasing {
                refs.extend(relations(&pod_index).related(&pod_tasks, &t));
            }
        }
        refs
    };

    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: REPORTER.into(),
            instance: std::env::var("POD_NAME").ok(),
        },
    );
    let ctx = Arc::new(Context::new(
        client.clone(),
        recorder,
        metrics,
        (task_store.clone(), job_store.clone(), pod_store.clone()),
        config.task.clone(),
    ));

    let readiness = {
        let (t, j, p) = (task_store.clone(), job_store.clone(), pod_store.clone());
        async move {
            // The Controller itself waits on the Task cache, and a cache's readiness wakes only
            // one waiter: poll it afresh until it reports ready.
            let synced = j.wait_until_ready().await.is_ok() && p.wait_until_ready().await.is_ok();
            let mut tasks_synced = false;
            while synced && !tasks_synced {
                let poll = tokio::time::timeout(Duration::from_millis(100), t.wait_until_ready());
                tasks_synced = matches!(poll.await, Ok(Ok(())));
            }
            let synced = synced && tasks_synced;
            tracing::debug!(synced, "caches");
            if synced {
                let _ = ready.send(true);
            }
        }
    };
    let readiness = tokio::spawn(readiness);

    Controller::for_stream(tasks, task_store)
        .owns_stream(jobs)
        .watches_stream(pods, pod_mapper)
        .reconcile_on(tokio_stream_from(wake_rx))
        .with_config(ControllerConfig::default().concurrency(config.concurrency))
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "controller event");
            }
        })
        .await;
    readiness.abort();
}

/// An mpsc receiver as a stream (without pulling in tokio-stream).
fn tokio_stream_from<T: Send + 'static>(
    mut rx: mpsc::UnboundedReceiver<T>,
) -> impl futures::Stream<Item = T> + Send + 'static {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::reflector::store::Writer;

    fn task(name: &str, deps: &[&str], branch: Option<&str>, phase: Option<TaskPhase>) -> Task {
        let mut t: Task = serde_json::from_value(serde_json::json!({
            "apiVersion": "kelos.dev/v1alpha1", "kind": "Task",
            "metadata": {"name": name, "namespace": "ns"},
            "spec": {"type": "codex", "prompt": "p",
                     "credentials": {"type": "api-key", "secretRef": {"name": "s"}}}
        }))
        .unwrap();
        if !deps.is_empty() {
            t.spec.depends_on = Some(deps.iter().map(|d| d.to_string()).collect());
        }
        t.spec.branch = branch.map(str::to_owned);
        t.status = phase.map(|p| kelos_api::TaskStatus {
            phase: Some(p),
            ..Default::default()
        });
        t
    }

    #[test]
    fn error_backoff_doubles_up_to_five_minutes() {
        assert_eq!(error_backoff(1), Duration::from_secs(5));
        assert_eq!(error_backoff(2), Duration::from_secs(10));
        assert_eq!(error_backoff(4), Duration::from_secs(40));
        assert_eq!(error_backoff(7), Duration::from_secs(300));
        assert_eq!(error_backoff(u32::MAX), Duration::from_secs(300));
    }

    #[test]
    fn relations_find_dependents_and_branch_peers_only() {
        let tasks = vec![
            task("a", &[], Some("main"), Some(TaskPhase::Running)),
            task("b", &["a"], None, None),
            task("c", &[], Some("main"), Some(TaskPhase::Waiting)),
            task("d", &[], Some("main"), Some(TaskPhase::Succeeded)),
            task("e", &[], Some("other"), None),
        ];
        let mut writer: Writer<Task> = Writer::default();
        let mut rel = Relations::default();
        for t in &tasks {
            let ev = watcher::Event::Apply(t.clone());
            writer.apply_watcher_event(&ev);
            rel.observe(&ev);
        }
        let store = writer.as_reader();
        let mut names: Vec<String> = rel
            .related(&store, &tasks[0])
            .into_iter()
            .map(|r| r.name)
            .collect();
        names.sort();
        // d is finished, e is on another branch.
        assert_eq!(names, vec!["b", "c"]);
        rel.observe(&watcher::Event::Delete(tasks[1].clone()));
        assert_eq!(rel.related(&store, &tasks[0]).len(), 1);
        // A re-list replaces everything.
        rel.observe(&watcher::Event::Init);
        rel.observe(&watcher::Event::InitApply(tasks[4].clone()));
        rel.observe(&watcher::Event::InitDone);
        assert!(rel.related(&store, &tasks[0]).is_empty());
    }
}
