//! Observe: reduce the caches (Tasks, Jobs, pods) and, when a Job just finished, the agent's
//! log to an [`Observed`]. Reads only; the one API call is the log read.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kelos_api::constants::LABEL_TASK;
use kelos_api::{Task, TaskPhase, TaskStatus};
use kube::api::LogParams;
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Resource, ResourceExt};

use super::branch::lock_key;
use super::context::Context;
use super::deps::detect_cycle;
use super::model::{BranchView, DepState, DepView, JobView, Observed, Peer, PodView};
use super::outputs::{self, RETRY_WINDOW_SECS, TAIL_LINES};

/// The Task's Job as the phase mapping sees it. A Job of the same name that this Task does
/// not control (left over from an earlier Task of that name) counts as one being deleted:
/// it is neither mapped nor replaced until the garbage collector removes it.
pub fn job_view(task: &Task, job: &Job) -> JobView {
    let owned = job
        .owner_references()
        .iter()
        .any(|o| o.controller == Some(true) && Some(&o.uid) == task.meta().uid.as_ref());
    let status = job.status.clone().unwrap_or_default();
    JobView {
        active: status.active.unwrap_or(0),
        succeeded: status.succeeded.unwrap_or(0),
        failed: status
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == "Failed" && c.status == "True"),
        deleting: job.meta().deletion_timestamp.is_some() || !owned,
    }
}

pub fn pod_view(pod: &Pod) -> PodView {
    PodView {
        name: pod.name_any(),
        uid: pod.meta().uid.clone(),
        created: pod.meta().creation_timestamp.as_ref().map(|t| t.0),
        deletion: pod.meta().deletion_timestamp.as_ref().map(|t| t.0),
    }
}

/// Pods of the namespace, by the Task they run (label `kelos.dev/task`).
fn pods_by_task(ctx: &Context, ns: &str) -> BTreeMap<String, Vec<PodView>> {
    let mut map: BTreeMap<String, Vec<PodView>> = BTreeMap::new();
    for pod in ctx.pods.state() {
        if pod.namespace().as_deref() != Some(ns) {
            continue;
        }
        if let Some(task) = pod.labels().get(LABEL_TASK) {
            map.entry(task.clone()).or_default().push(pod_view(&pod));
        }
    }
    map
}

fn phase(t: &Task) -> Option<TaskPhase> {
    t.status.as_ref().and_then(|s| s.phase)
}

fn has_live_job(ctx: &Context, task: &Task, ns: &str) -> bool {
    ctx.jobs
        .get(&ObjectRef::new(&task.name_any()).within(ns))
        .is_some_and(|j| !job_view(task, &j).deleting)
}

/// Whether to read the agent's log now: the Job finished and nothing was captured yet, at the
/// terminal transition or within the retry window after it.
fn wants_logs(status: &TaskStatus, job: &JobView, now: Timestamp) -> bool {
    let finished = job.succeeded > 0 || job.failed;
    let empty = status.outputs.as_ref().is_none_or(Vec::is_empty)
        && status.results.as_ref().is_none_or(BTreeMap::is_empty);
    let in_window = match status.phase {
        Some(TaskPhase::Succeeded | TaskPhase::Failed) => status
            .completion_time
            .as_ref()
            .is_some_and(|c| now.duration_since(c.0).as_secs() < RETRY_WINDOW_SECS),
        Some(TaskPhase::Cancelled) => false,
        _ => true,
    };
    finished && empty && in_window && !job.deleting
}

/// The last lines of the agent container's log, parsed for the output markers. Failures are
/// logged at debug and mean "nothing captured" (the retry covers a pod not ready yet).
async fn read_outputs(ctx: &Context, task: &Task, ns: &str, pod: &str) -> Option<Vec<String>> {
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
    let params = LogParams {
        container: Some(task.spec.type_.as_str().to_owned()),
        tail_lines: Some(TAIL_LINES),
        ..Default::default()
    };
    match api.logs(pod, &params).await {
        Ok(log) => outputs::parse_outputs(&log),
        Err(error) => {
            tracing::debug!(%error, pod, "reading agent log");
            None
        }
    }
}

pub async fn observe<'a>(ctx: &Context, task: &'a Task, ns: &str, now: Timestamp) -> Observed<'a> {
    let name = task.name_any();
    let status = task.status.clone().unwrap_or_default();
    let terminal = status.phase.is_some_and(TaskPhase::is_terminal);
    let job = ctx
        .jobs
        .get(&ObjectRef::new(&name).within(ns))
        .map(|j| job_view(task, &j));
    let mut pods_index = pods_by_task(ctx, ns);
    let pods = pods_index.remove(&name).unwrap_or_default();

    let lookup = |dep: &str| ctx.tasks.get(&ObjectRef::new(dep).within(ns));
    let depends_on = task.spec.depends_on.clone().unwrap_or_default();
    let deps: Vec<DepView> = depends_on
        .iter()
        .map(|dep| DepView {
            name: dep.clone(),
            state: lookup(dep).map(|t| {
                let s = t.status.clone().unwrap_or_default();
                DepState {
                    phase: s.phase,
                    outputs: s.outputs.unwrap_or_default(),
                    results: s.results.unwrap_or_default(),
                }
            }),
        })
        .collect();

    let needs_start_checks = !terminal && job.is_none();
    let cycle = (needs_start_checks && !deps.is_empty())
        .then(|| {
            let graph: BTreeMap<String, Vec<String>> = ctx
                .tasks
                .state()
                .iter()
                .filter(|t| t.namespace().as_deref() == Some(ns))
                .map(|t| (t.name_any(), t.spec.depends_on.clone().unwrap_or_default()))
                .collect();
            detect_cycle(&name, &graph)
        })
        .flatten();

    let branch = task
        .spec
        .branch
        .as_deref()
        .filter(|b| !b.is_empty() && needs_start_checks)
        .map(|branch| {
            let workspace = task.spec.workspace_ref.as_ref().map(|w| w.name.as_str());
            let key = lock_key(ns, workspace, branch);
            let peers: Vec<Peer> = ctx
                .tasks
                .state()
                .iter()
                .filter(|t| t.namespace().as_deref() == Some(ns) && t.name_any() != name)
                .filter(|t| {
                    let b = t.spec.branch.as_deref().unwrap_or("");
                    let w = t.spec.workspace_ref.as_ref().map(|w| w.name.as_str());
                    !b.is_empty() && lock_key(ns, w, b) == key
                })
                .map(|t| Peer {
                    name: t.name_any(),
                    created: t.meta().creation_timestamp.as_ref().map(|c| c.0),
                    phase: phase(t),
                    deleting: t.meta().deletion_timestamp.is_some(),
                    has_job: has_live_job(ctx, t, ns),
                    pods: pods_index.get(&t.name_any()).cloned().unwrap_or_default(),
                    deps_ready: t.spec.depends_on.iter().flatten().all(|d| {
                        lookup(d).is_some_and(|d| phase(&d) == Some(TaskPhase::Succeeded))
                    }),
                })
                .collect();
            let memory_holder = ctx.lock_holder(&key, &name, &peers);
            BranchView {
                key,
                branch: branch.to_owned(),
                without_workspace: workspace.is_none(),
                peers,
                memory_holder,
            }
        });

    let log_outputs = match &job {
        Some(j) if wants_logs(&status, j, now) => {
            let newest = pods
                .iter()
                .max_by(|a, b| (a.created, &a.name).cmp(&(b.created, &b.name)))
                .map(|p| p.name.clone())
                .or(status.pod_name.clone().filter(|p| !p.is_empty()));
            match newest {
                Some(pod) => read_outputs(ctx, task, ns, &pod).await,
                None => None,
            }
        }
        _ => None,
    };

    Observed {
        task,
        job,
        pods,
        deps,
        cycle,
        branch,
        log_outputs,
    }
}
