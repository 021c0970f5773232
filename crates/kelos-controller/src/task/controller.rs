//! Wiring: one watch per kind (Tasks, Jobs with the controller's label, pods with a
//! `kelos.dev/task` label), each feeding a cache the reconciler reads, and kube-runtime's
//! `Controller` running [`reconcile`] with bounded concurrency.

use std::future::Future;
use std::sync::Arc;
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
/// Requeue after a failed reconcile.
const ERROR_RETRY: Duration = Duration::from_secs(5);

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

/// Tasks to wake when `changed` changed: its dependents, and the Tasks waiting on its branch.
fn related(tasks: &Store<Task>, changed: &Task) -> Vec<ObjectRef<Task>> {
    let Some(ns) = changed.namespace() else {
        return vec![];
    };
    let name = changed.name_any();
    let branch_key = |t: &Task| {
        t.spec.branch.as_deref().filter(|b| !b.is_empty()).map(|b| {
            lock_key(
                &ns,
                t.spec.workspace_ref.as_ref().map(|w| w.name.as_str()),
                b,
            )
        })
    };
    let my_key = branch_key(changed);
    let open = |t: &Task| !t.is_terminal();
    tasks
        .state()
        .iter()
        .filter(|t| {
            t.namespace().as_deref() == Some(ns.as_str()) && t.name_any() != name && open(t)
        })
        .filter(|t| {
            t.spec.depends_on.iter().flatten().any(|d| d == &name)
                || (my_key.is_some() && branch_key(t) == my_key)
        })
        .map(|t| ObjectRef::from_obj(t.as_ref()))
        .collect()
}

pub async fn reconcile(task: Arc<Task>, ctx: Arc<Context>) -> Result<Action> {
    let ns = task
        .namespace()
        .ok_or_else(|| Error::MissingNamespace(task.name_any()))?;
    let span = tracing::info_span!("reconcile", namespace = %ns, name = %task.name_any());
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
    Action::requeue(ERROR_RETRY)
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
    let tasks = watcher(api::<Task>(&client, ns), watcher::Config::default())
        .default_backoff()
        .modify(strip)
        .reflect(task_writer)
        .inspect(move |event| {
            let touched = match event {
                Ok(watcher::Event::Delete(t)) => t,
                // Only these changes can unblock another Task: a new Task (a dependency that
                // was missing), a finished one (dependents, branch waiters), and any change
                // of a branch Task (the lock). Skipping the rest keeps the scan off the hot path.
                Ok(watcher::Event::Apply(t))
                    if t.status.is_none()
                        || t.is_terminal()
                        || t.meta().deletion_timestamp.is_some()
                        || t.spec.branch.as_deref().is_some_and(|b| !b.is_empty()) =>
                {
                    t
                }
                _ => return,
            };
            for r in related(&tap_store, touched) {
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
    .modify(strip)
    .reflect(job_writer)
    .touched_objects();

    let pod_tasks = task_store.clone();
    let pods = watcher(
        api::<Pod>(&client, ns),
        watcher::Config::default().labels(LABEL_TASK),
    )
    .default_backoff()
    .modify(strip)
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
                refs.extend(related(&pod_tasks, &t));
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
