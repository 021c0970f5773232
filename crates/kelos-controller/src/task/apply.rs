//! Apply a [`Transition`]: Job create/delete, pod deletes, the conditioned status write,
//! events, the completion marker and metrics, TTL expiry.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kelos_api::constants::{
    ANNOTATION_COMPLETION_RECORDED, LABEL_TASKSPAWNER, REASON_GITHUB_TOKEN_FAILED,
    REASON_JOB_BUILD_FAILED, REASON_MCP_SECRET_FAILED, REASON_TASK_CREATED,
};
use kelos_api::{AgentConfig, Task, TaskPhase, Workspace};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::{Api, Resource, ResourceExt};
use serde_json::{Value, json};

use super::context::Context;
use super::decide::{
    Completion, EventSpec, JobAction, LockAction, StatusUpdate, Transition, failed_update,
};
use crate::error::{Error, Result};
use crate::job::{self, JobInputs};

/// After a refused (stale) write: look again soon; the watch event usually comes first.
const STALE_RETRY: Duration = Duration::from_secs(1);
/// Workspace or AgentConfig not found yet (reference: 2 s).
const REF_RETRY: Duration = Duration::from_secs(2);

/// A write refused because what we read is out of date: a failed JSON-patch `test`, a
/// resourceVersion conflict, or the CRD's terminal-phase rule.
pub fn is_stale(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409 || s.code == 422)
}

fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// The JSON patch for `up`: a `test` of the phase that was read (or of the resourceVersion
/// when there was no phase), then one `add` per field.
pub fn status_patch(task: &Task, up: &StatusUpdate) -> Result<json_patch::Patch> {
    let rv = task.resource_version().unwrap_or_default();
    let mut ops = Vec::new();
    match (&task.status, up.expect_phase) {
        (None, _) => {
            ops.push(json!({"op": "test", "path": "/metadata/resourceVersion", "value": rv}));
            ops.push(json!({"op": "add", "path": "/status", "value": up.set}));
        }
        (Some(_), expect) => {
            match expect {
                Some(p) => {
                    ops.push(json!({"op": "test", "path": "/status/phase", "value": p.as_str()}))
                }
                None => ops
                    .push(json!({"op": "test", "path": "/metadata/resourceVersion", "value": rv})),
            }
            for (k, v) in &up.set {
                ops.push(json!({"op": "add", "path": format!("/status/{k}"), "value": v}));
            }
        }
    }
    Ok(serde_json::from_value(Value::Array(ops))?)
}

async fn write_status(
    ctx: &Context,
    task: &Task,
    ns: &str,
    up: &StatusUpdate,
) -> Result<Option<Task>> {
    let api: Api<Task> = Api::namespaced(ctx.client.clone(), ns);
    let patch = status_patch(task, up)?;
    match api
        .patch_status(
            &task.name_any(),
            &PatchParams::default(),
            &Patch::Json::<()>(patch),
        )
        .await
    {
        Ok(t) => Ok(Some(t)),
        Err(e) if is_stale(&e) => {
            tracing::debug!(error = %e, "status write refused: the Task changed since it was read");
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// Event notes are limited to 1 kB by the API; longer messages (a build error listing many
/// paths) would make the event be rejected.
fn clip_note(note: &str) -> String {
    const MAX: usize = 1000;
    if note.len() <= MAX {
        return note.to_owned();
    }
    let mut end = MAX - 3;
    while !note.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &note[..end])
}

pub async fn publish(ctx: &Context, task: &Task, ev: &EventSpec) {
    let event = Event {
        type_: if ev.warning {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: ev.reason.to_owned(),
        note: Some(clip_note(&ev.note)),
        action: ev.reason.to_owned(),
        secondary: None,
    };
    if let Err(error) = ctx.recorder.publish(&event, &task.object_ref(&())).await {
        tracing::warn!(%error, reason = ev.reason, "publishing event");
    }
}

fn labels_type(task: &Task) -> &'static str {
    task.spec.type_.as_str()
}

/// Writes the completion marker, and only if that write succeeded counts the Task (so a
/// restarted controller never counts it again), observes its duration and publishes the
/// completion event. Returns whether it counted.
async fn record_completion(ctx: &Context, task: &Task, ns: &str, c: &Completion) -> Result<bool> {
    let api: Api<Task> = Api::namespaced(ctx.client.clone(), ns);
    let mut current = task.clone();
    for _ in 0..3 {
        if current
            .annotations()
            .contains_key(ANNOTATION_COMPLETION_RECORDED)
        {
            return Ok(false);
        }
        let phase = current
            .status
            .as_ref()
            .and_then(|s| s.phase)
            .unwrap_or(c.phase);
        if !phase.is_terminal() {
            return Ok(false);
        }
        // The resourceVersion makes this a compare-and-swap: two writers cannot both add it.
        let patch = json!({"metadata": {
            "resourceVersion": current.resource_version(),
            "annotations": {ANNOTATION_COMPLETION_RECORDED: phase.as_str()},
        }});
        match api
            .patch(
                &current.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
        {
            Ok(updated) => {
                let labels = [ns, labels_type(&updated), phase.as_str()];
                ctx.metrics.task_completed.with_label_values(&labels).inc();
                let status = updated.status.clone().unwrap_or_default();
                if let (Some(start), Some(done)) = (status.start_time, status.completion_time) {
                    let secs = done.0.duration_since(start.0).as_secs_f64().max(0.0);
                    ctx.metrics
                        .task_duration
                        .with_label_values(&labels)
                        .observe(secs);
                }
                if let Some(ev) = &c.event {
                    publish(ctx, &updated, ev).await;
                }
                tracing::info!(phase = phase.as_str(), "Task completed");
                return Ok(true);
            }
            Err(e) if is_stale(&e) => match api.get_opt(&current.name_any()).await? {
                Some(fresh) => current = fresh,
                None => return Ok(false),
            },
            Err(e) if is_not_found(&e) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(false)
}

/// Why a Job could not be created.
enum CreateOutcome {
    Created,
    AlreadyExists,
    /// A referenced object is not there yet.
    Retry,
    /// The Task fails: reason and message.
    Fail(&'static str, String),
}

fn secret_data(secret: &Secret) -> BTreeMap<String, String> {
    secret
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), String::from_utf8_lossy(&v.0).into_owned()))
        .collect()
}

async fn create_job(ctx: &Context, task: &Task, ns: &str, prompt: &str) -> Result<CreateOutcome> {
    let name = task.name_any();
    let workspace = match &task.spec.workspace_ref {
        Some(r) => {
            let api: Api<Workspace> = Api::namespaced(ctx.client.clone(), ns);
            match api.get_opt(&r.name).await? {
                Some(ws) => Some(ws.spec),
                None => return Ok(CreateOutcome::Retry),
            }
        }
        None => None,
    };
    let mut github_token_secret = None;
    if let Some(secret_ref) = workspace.as_ref().and_then(|w| w.secret_ref.as_ref()) {
        match super::github::resolve_token_secret(
            ctx,
            task,
            ns,
            workspace.as_ref().unwrap(),
            &secret_ref.name,
        )
        .await
        {
            Ok(secret) => github_token_secret = secret,
            Err(message) => {
                return Ok(CreateOutcome::Fail(
                    REASON_GITHUB_TOKEN_FAILED,
                    format!("Failed to resolve GitHub token: {message}"),
                ));
            }
        }
    }
    let agent_config = match &task.spec.agent_config_ref {
        Some(r) => {
            let api: Api<AgentConfig> = Api::namespaced(ctx.client.clone(), ns);
            let Some(ac) = api.get_opt(&r.name).await? else {
                return Ok(CreateOutcome::Retry);
            };
            let secrets_api: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
            let mut secrets = BTreeMap::new();
            for secret in job::mcp_secret_names(&ac.spec) {
                if let Some(s) = secrets_api.get_opt(&secret).await? {
                    secrets.insert(secret, secret_data(&s));
                }
            }
            match job::resolve_mcp_secrets(&ac.spec, &secrets) {
                Ok(resolved) => Some(resolved),
                Err(e) => {
                    return Ok(CreateOutcome::Fail(
                        REASON_MCP_SECRET_FAILED,
                        format!("Failed to resolve MCP server secret: {e}"),
                    ));
                }
            }
        }
        None => None,
    };
    let inputs = JobInputs {
        task,
        workspace: workspace.as_ref(),
        agent_config: agent_config.as_ref(),
        prompt,
        github_token_secret: github_token_secret.as_deref(),
        images: &ctx.config.images,
    };
    let mut job = match job::build_job(&inputs) {
        Ok(job) => job,
        Err(e) => {
            return Ok(CreateOutcome::Fail(
                REASON_JOB_BUILD_FAILED,
                format!("Failed to build Job: {e}"),
            ));
        }
    };
    let mut owner = task
        .controller_owner_ref(&())
        .ok_or_else(|| Error::MissingNamespace(name.clone()))?;
    // So a Foreground deletion of the Task waits for its Job.
    owner.block_owner_deletion = Some(true);
    job.metadata.owner_references = Some(vec![owner]);
    let api: Api<Job> = Api::namespaced(ctx.client.clone(), ns);
    match api.create(&PostParams::default(), &job).await {
        Ok(_) => Ok(CreateOutcome::Created),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(CreateOutcome::AlreadyExists),
        Err(e) => Err(e.into()),
    }
}

pub async fn apply(
    ctx: &Context,
    task: &Task,
    ns: &str,
    t: Transition,
    now: Timestamp,
) -> Result<Action> {
    let name = task.name_any();
    let mut requeue = t.requeue;
    let mut status = t.status.clone();
    let mut events = t.events.clone();
    let mut completion = t.record_completion.clone();
    let lock_key = match &t.lock {
        LockAction::Acquire(key) => {
            ctx.acquire_lock(key, &name);
            Some(key.clone())
        }
        LockAction::None => None,
    };

    match &t.job {
        JobAction::None => {}
        JobAction::Create {
            prompt,
            template_error,
        } => {
            if let Some(error) = template_error {
                tracing::info!(%error, "prompt template failed; using the raw prompt");
            }
            match create_job(ctx, task, ns, prompt).await {
                Ok(CreateOutcome::Created) => {
                    ctx.metrics
                        .task_created
                        .with_label_values(&[ns, labels_type(task)])
                        .inc();
                    events.push(EventSpec {
                        warning: false,
                        reason: REASON_TASK_CREATED,
                        note: format!("Created Job {name} for task"),
                    });
                    let phase = task.status.as_ref().and_then(|s| s.phase);
                    status = Some(StatusUpdate {
                        expect_phase: phase,
                        set: BTreeMap::from([
                            ("phase", Value::from(TaskPhase::Pending.as_str())),
                            ("jobName", Value::from(name.clone())),
                        ]),
                    });
                }
                // The cache has not caught up with a Job we created: wait for its event.
                Ok(CreateOutcome::AlreadyExists) => requeue = Some(STALE_RETRY),
                Ok(CreateOutcome::Retry) => {
                    release(ctx, &lock_key, &name);
                    requeue = Some(REF_RETRY);
                }
                Ok(CreateOutcome::Fail(reason, message)) => {
                    release(ctx, &lock_key, &name);
                    let phase = task.status.as_ref().and_then(|s| s.phase);
                    events.push(EventSpec {
                        warning: true,
                        reason,
                        note: message.clone(),
                    });
                    status = Some(failed_update(phase, message, now));
                    completion = Some(Completion {
                        phase: TaskPhase::Failed,
                        event: None,
                    });
                }
                Err(e) => {
                    release(ctx, &lock_key, &name);
                    return Err(e);
                }
            }
        }
        JobAction::Delete => {
            let api: Api<Job> = Api::namespaced(ctx.client.clone(), ns);
            match api.delete(&name, &DeleteParams::background()).await {
                Ok(_) => tracing::info!("deleted Job of cancelled Task"),
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    if !t.delete_pods.is_empty() {
        let api: Api<Pod> = Api::namespaced(ctx.client.clone(), ns);
        for pod in &t.delete_pods {
            let params = DeleteParams {
                grace_period_seconds: pod
                    .grace_seconds
                    .map(|g| g.clamp(0, i64::from(u32::MAX)) as u32),
                preconditions: pod.uid.clone().map(|uid| Preconditions {
                    uid: Some(uid),
                    resource_version: None,
                }),
                ..Default::default()
            };
            match api.delete(&pod.name, &params).await {
                Ok(_) => {
                    tracing::info!(pod = pod.name, grace_seconds = ?pod.grace_seconds, "deleted pod of cancelled Task")
                }
                Err(e) if is_not_found(&e) || is_stale(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    let mut current = task.clone();
    if let Some(up) = &status {
        match write_status(ctx, task, ns, up).await? {
            Some(updated) => {
                if let Some(p) = up.phase() {
                    tracing::info!(phase = p.as_str(), "Task phase");
                }
                current = updated;
            }
            None => {
                // Someone changed the Task (maybe cancelled it): decide again on fresh state.
                return Ok(Action::requeue(STALE_RETRY));
            }
        }
    }
    for ev in &events {
        publish(ctx, &current, ev).await;
    }
    if let Some(c) = &completion {
        record_completion(ctx, &current, ns, c).await?;
    }
    if let Some(results) = &t.captured_results {
        let spawner = task
            .labels()
            .get(LABEL_TASKSPAWNER)
            .cloned()
            .unwrap_or_default();
        let model = task.spec.model.clone().unwrap_or_default();
        ctx.metrics
            .record_usage([ns, labels_type(task), &spawner, &model], results);
    }
    if t.expire {
        let api: Api<Task> = Api::namespaced(ctx.client.clone(), ns);
        let params = DeleteParams {
            preconditions: task.meta().uid.clone().map(|uid| Preconditions {
                uid: Some(uid),
                resource_version: None,
            }),
            ..DeleteParams::background()
        };
        match api.delete(&name, &params).await {
            Ok(_) => tracing::info!("deleted Task: TTL expired"),
            Err(e) if is_not_found(&e) || is_stale(&e) => {}
            Err(e) => return Err(e.into()),
        }
        return Ok(Action::await_change());
    }
    Ok(requeue.map_or_else(Action::await_change, Action::requeue))
}

fn release(ctx: &Context, key: &Option<String>, name: &str) {
    if let Some(key) = key {
        ctx.release_lock(key, name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kelos_api::TaskStatus;
    use std::collections::BTreeMap;

    fn task(status: Option<TaskStatus>) -> Task {
        let mut t: Task = serde_json::from_value(json!({
            "apiVersion": "kelos.dev/v1alpha1", "kind": "Task",
            "metadata": {"name": "t", "namespace": "ns", "resourceVersion": "42"},
            "spec": {"type": "codex", "prompt": "p",
                     "credentials": {"type": "api-key", "secretRef": {"name": "s"}}}
        }))
        .unwrap();
        t.status = status;
        t
    }

    fn ops(t: &Task, up: &StatusUpdate) -> Value {
        serde_json::to_value(status_patch(t, up).unwrap()).unwrap()
    }

    #[test]
    fn status_writes_test_what_was_read() {
        let up = StatusUpdate {
            expect_phase: Some(TaskPhase::Running),
            set: BTreeMap::from([("phase", json!("Succeeded")), ("message", json!("done"))]),
        };
        let t = task(Some(TaskStatus {
            phase: Some(TaskPhase::Running),
            ..Default::default()
        }));
        assert_eq!(
            ops(&t, &up),
            json!([
                {"op": "test", "path": "/status/phase", "value": "Running"},
                {"op": "add", "path": "/status/message", "value": "done"},
                {"op": "add", "path": "/status/phase", "value": "Succeeded"},
            ])
        );
        // No status yet: the resourceVersion guards the first write.
        let up = StatusUpdate {
            expect_phase: None,
            set: BTreeMap::from([("phase", json!("Waiting"))]),
        };
        assert_eq!(
            ops(&task(None), &up),
            json!([
                {"op": "test", "path": "/metadata/resourceVersion", "value": "42"},
                {"op": "add", "path": "/status", "value": {"phase": "Waiting"}},
            ])
        );
        // A status without a phase: also the resourceVersion.
        let t = task(Some(TaskStatus::default()));
        assert_eq!(ops(&t, &up)[0]["path"], "/metadata/resourceVersion");
    }

    #[test]
    fn long_notes_are_clipped_on_a_char_boundary() {
        assert_eq!(clip_note("short"), "short");
        let long = "é".repeat(800);
        let clipped = clip_note(&long);
        assert!(clipped.len() <= 1000 && clipped.ends_with("..."));
    }
}
