//! The I/O shell of the TaskSpawner reconciler: observe, call the pure builders, apply.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kelos_api::constants::{
    APP_NAME, LABEL_APP_MANAGED_BY, LABEL_APP_NAME, MANAGED_BY_CONTROLLER, REASON_CRONJOB_CREATED,
    REASON_CRONJOB_UPDATED, REASON_DEPLOYMENT_CREATED, REASON_DEPLOYMENT_UPDATED,
    REASON_WORKSPACE_NOT_FOUND, TASKSPAWNER_FINALIZER,
};
use kelos_api::{TaskSpawner, Workspace};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams, PropagationPolicy};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::finalizer::{self, finalizer};
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Resource, ResourceExt};

use super::builder::{
    GitHubAuth, PodParts, SPAWNER_CLUSTER_ROLE, SPAWNER_ROLE_BINDING, SPAWNER_SERVICE_ACCOUNT,
    desired_cronjob, desired_deployment, is_controlled_by, pod_parts,
};
use super::config::TaskSpawnerConfig;
use super::drift;
use super::status::{Workload, status_patch};

/// How soon to look again when the Workspace is missing (the original's 2 s).
pub const WORKSPACE_NOT_FOUND_REQUEUE: Duration = Duration::from_secs(2);
/// Periodic re-check of a reconciled TaskSpawner (drift that caused no watch event).
pub const RESYNC: Duration = Duration::from_secs(10 * 60);

/// Why a reconcile failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("{kind} {namespace}/{name} exists and is not controlled by this TaskSpawner")]
    NotOwned {
        kind: &'static str,
        namespace: String,
        name: String,
    },
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<finalizer::Error<Error>>),
}

impl Error {
    /// Low-cardinality label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube(_) => "kube",
            Error::NotOwned { .. } => "not_owned",
            Error::Finalizer(_) => "finalizer",
        }
    }

    fn is_conflict(&self) -> bool {
        match self {
            Error::Kube(kube::Error::Api(s)) => s.is_conflict(),
            Error::Finalizer(f) => matches!(
                &**f,
                finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e) if e.is_conflict()
            ),
            _ => false,
        }
    }
}

pub(crate) struct Context {
    pub client: kube::Client,
    pub recorder: Recorder,
    pub config: TaskSpawnerConfig,
    pub on_error: Box<dyn Fn(&Error) + Send + Sync>,
    /// Consecutive failures per TaskSpawner, for the error backoff.
    failures: Mutex<HashMap<ObjectRef<TaskSpawner>, u32>>,
}

impl Context {
    pub fn new(
        client: kube::Client,
        recorder: Recorder,
        config: TaskSpawnerConfig,
        on_error: Box<dyn Fn(&Error) + Send + Sync>,
    ) -> Self {
        Context {
            client,
            recorder,
            config,
            on_error,
            failures: Mutex::new(HashMap::new()),
        }
    }

    fn reset_failures(&self, ts: &TaskSpawner) {
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&ObjectRef::from_obj(ts));
    }

    async fn event(&self, ts: &TaskSpawner, type_: EventType, reason: &str, note: String) {
        let event = Event {
            type_,
            reason: reason.into(),
            note: Some(note),
            action: "Reconcile".into(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&event, &ts.object_ref(&())).await {
            tracing::warn!(taskspawner = %ts.name_any(), reason, error = %e, "publishing an event failed");
        }
    }
}

/// Backoff after a failed reconcile: 1 s doubling to 5 min per TaskSpawner. A conflict
/// (someone wrote first; the view was stale) is retried soon and not reported as an error.
pub(crate) fn error_policy(ts: Arc<TaskSpawner>, error: &Error, ctx: Arc<Context>) -> Action {
    if error.is_conflict() {
        tracing::debug!(taskspawner = %ts.name_any(), "conflict; retrying");
        return Action::requeue(Duration::from_millis(500));
    }
    (ctx.on_error)(error);
    let failures = {
        let mut map = ctx.failures.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(ObjectRef::from_obj(&*ts)).or_insert(0);
        *n = n.saturating_add(1);
        *n
    };
    let delay = Duration::from_secs(1u64 << failures.min(9).saturating_sub(1))
        .min(Duration::from_secs(300));
    tracing::warn!(
        taskspawner = %ts.name_any(),
        namespace = %ts.namespace().unwrap_or_default(),
        error = %error,
        retry_in = ?delay,
        "reconcile failed"
    );
    Action::requeue(delay)
}

pub(crate) async fn reconcile(ts: Arc<TaskSpawner>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = ts.namespace().unwrap_or_default();
    let api: Api<TaskSpawner> = Api::namespaced(ctx.client.clone(), &namespace);
    let action = finalizer(&api, TASKSPAWNER_FINALIZER, ts, |event| async {
        match event {
            // The workload goes with the TaskSpawner through its ownerReference; spawned Tasks
            // have none and stay (reference §6).
            finalizer::Event::Cleanup(_) => Ok(Action::await_change()),
            finalizer::Event::Apply(ts) => apply(&ts, &ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))?;
    Ok(action)
}

async fn apply(ts: &TaskSpawner, ctx: &Context) -> Result<Action, Error> {
    let namespace = ts.namespace().unwrap_or_default();
    let name = ts.name_any();
    ensure_spawner_rbac(&ctx.client, &namespace).await?;

    let cron = ts.spec.is_cron();
    delete_stale(ctx, ts, &namespace, &name, cron).await?;

    let mut workspace = None;
    let mut auth = GitHubAuth::None;
    if let Some(wref) = &ts.spec.task_template.workspace_ref {
        let api: Api<Workspace> = Api::namespaced(ctx.client.clone(), &namespace);
        let Some(ws) = api.get_opt(&wref.name).await? else {
            ctx.event(
                ts,
                EventType::Normal,
                REASON_WORKSPACE_NOT_FOUND,
                format!("Workspace {} not found, requeuing", wref.name),
            )
            .await;
            return Ok(Action::requeue(WORKSPACE_NOT_FOUND_REQUEUE));
        };
        if let Some(sref) = &ws.spec.secret_ref {
            let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
            // Only the key names are looked at; the values never leave this scope.
            let secret = secrets.get_opt(&sref.name).await?;
            auth = GitHubAuth::from_secret(Some(&sref.name), secret.as_ref());
        }
        workspace = Some(ws.spec);
    }

    let parts = pod_parts(ts, workspace.as_ref(), &auth, &ctx.config);
    let action = if cron {
        reconcile_cronjob(ctx, ts, &parts).await?
    } else {
        reconcile_deployment(ctx, ts, &parts).await?
    };
    ctx.reset_failures(ts);
    Ok(action)
}

/// ServiceAccount `kelos-spawner` and RoleBinding `kelos-spawner` → ClusterRole
/// `kelos-spawner-role` in the namespace, created when missing, never updated or deleted (they
/// are shared by every TaskSpawner of the namespace).
async fn ensure_spawner_rbac(client: &kube::Client, namespace: &str) -> Result<(), Error> {
    let labels = Some(
        [
            (LABEL_APP_NAME.to_string(), APP_NAME.to_string()),
            (
                LABEL_APP_MANAGED_BY.to_string(),
                MANAGED_BY_CONTROLLER.to_string(),
            ),
        ]
        .into(),
    );
    let meta = |name: &str| ObjectMeta {
        name: Some(name.into()),
        namespace: Some(namespace.into()),
        labels: labels.clone(),
        ..Default::default()
    };
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
    if sas.get_opt(SPAWNER_SERVICE_ACCOUNT).await?.is_none() {
        let sa = ServiceAccount {
            metadata: meta(SPAWNER_SERVICE_ACCOUNT),
            ..Default::default()
        };
        create_if_absent(&sas, &sa).await?;
        tracing::info!(
            namespace,
            "created ServiceAccount {SPAWNER_SERVICE_ACCOUNT}"
        );
    }
    let rbs: Api<RoleBinding> = Api::namespaced(client.clone(), namespace);
    if rbs.get_opt(SPAWNER_ROLE_BINDING).await?.is_none() {
        let rb = RoleBinding {
            metadata: meta(SPAWNER_ROLE_BINDING),
            role_ref: RoleRef {
                api_group: Some("rbac.authorization.k8s.io".into()),
                kind: "ClusterRole".into(),
                name: SPAWNER_CLUSTER_ROLE.into(),
            },
            subjects: Some(vec![Subject {
                kind: "ServiceAccount".into(),
                name: SPAWNER_SERVICE_ACCOUNT.into(),
                namespace: Some(namespace.into()),
                ..Default::default()
            }]),
        };
        create_if_absent(&rbs, &rb).await?;
        tracing::info!(namespace, "created RoleBinding {SPAWNER_ROLE_BINDING}");
    }
    Ok(())
}

async fn create_if_absent<K>(api: &Api<K>, obj: &K) -> Result<(), Error>
where
    K: Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.create(&PostParams::default(), obj).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.is_already_exists() => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Deletes the workload of the other mode (a TaskSpawner switched between cron and polling),
/// if this TaskSpawner controls it. Background propagation, so its Jobs or ReplicaSets go too.
async fn delete_stale(
    ctx: &Context,
    ts: &TaskSpawner,
    namespace: &str,
    name: &str,
    cron: bool,
) -> Result<(), Error> {
    let uid = ts.uid().unwrap_or_default();
    let dp = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        ..Default::default()
    };
    if cron {
        let api: Api<Deployment> = Api::namespaced(ctx.client.clone(), namespace);
        if let Some(d) = api.get_opt(name).await?
            && is_controlled_by(d.owner_references(), &uid)
        {
            delete_ignoring_not_found(&api, name, &dp).await?;
            tracing::info!(namespace, name, "deleted the spawner Deployment (now cron)");
        }
    } else {
        let api: Api<CronJob> = Api::namespaced(ctx.client.clone(), namespace);
        if let Some(c) = api.get_opt(name).await?
            && is_controlled_by(c.owner_references(), &uid)
        {
            delete_ignoring_not_found(&api, name, &dp).await?;
            tracing::info!(
                namespace,
                name,
                "deleted the spawner CronJob (no longer cron)"
            );
        }
    }
    Ok(())
}

async fn delete_ignoring_not_found<K>(
    api: &Api<K>,
    name: &str,
    dp: &DeleteParams,
) -> Result<(), Error>
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.delete(name, dp).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.is_not_found() => Ok(()),
        Err(e) => Err(e.into()),
    }
}

async fn reconcile_deployment(
    ctx: &Context,
    ts: &TaskSpawner,
    parts: &PodParts,
) -> Result<Action, Error> {
    let name = ts.name_any();
    let desired = desired_deployment(ts, parts, &ctx.config);
    let created = apply_workload(
        ctx,
        ts,
        desired,
        WorkloadKind {
            kind: "Deployment",
            created_reason: REASON_DEPLOYMENT_CREATED,
            created_note: format!("Created spawner Deployment {name}"),
            updated_reason: REASON_DEPLOYMENT_UPDATED,
            drifted: drift::deployment_drifted,
            updated: drift::updated_deployment,
        },
    )
    .await?;
    let workload = Workload::Deployment {
        name: &name,
        created,
    };
    write_status(ctx, ts, workload).await?;
    Ok(Action::requeue(RESYNC))
}

async fn reconcile_cronjob(
    ctx: &Context,
    ts: &TaskSpawner,
    parts: &PodParts,
) -> Result<Action, Error> {
    let name = ts.name_any();
    let desired = desired_cronjob(ts, parts, &ctx.config);
    let schedule = desired.spec.schedule.clone();
    let created = apply_workload(
        ctx,
        ts,
        desired,
        WorkloadKind {
            kind: "CronJob",
            created_reason: REASON_CRONJOB_CREATED,
            created_note: format!("Created spawner CronJob {name} with schedule {schedule}"),
            updated_reason: REASON_CRONJOB_UPDATED,
            drifted: drift::cronjob_drifted,
            updated: drift::updated_cronjob,
        },
    )
    .await?;
    let workload = Workload::CronJob {
        name: &name,
        created,
    };
    write_status(ctx, ts, workload).await?;
    Ok(Action::requeue(RESYNC))
}

/// What differs between the spawner's two workload kinds when applying them.
struct WorkloadKind<K> {
    kind: &'static str,
    created_reason: &'static str,
    created_note: String,
    updated_reason: &'static str,
    drifted: fn(&K, &K) -> bool,
    updated: fn(&K, &K) -> K,
}

/// Creates the spawner workload named after the TaskSpawner, or corrects its drift. Returns
/// whether it was created. A same-named workload the TaskSpawner does not control is an error,
/// never overwritten.
async fn apply_workload<K>(
    ctx: &Context,
    ts: &TaskSpawner,
    desired: K,
    how: WorkloadKind<K>,
) -> Result<bool, Error>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::Serialize
        + serde::de::DeserializeOwned,
{
    let namespace = ts.namespace().unwrap_or_default();
    let name = ts.name_any();
    let api: Api<K> = Api::namespaced(ctx.client.clone(), &namespace);
    let kind = how.kind;
    match api.get_opt(&name).await? {
        None => {
            api.create(&PostParams::default(), &desired).await?;
            ctx.event(ts, EventType::Normal, how.created_reason, how.created_note)
                .await;
            tracing::info!(namespace, name, kind, "created the spawner workload");
            Ok(true)
        }
        Some(actual) => {
            if !is_controlled_by(actual.owner_references(), &ts.uid().unwrap_or_default()) {
                return Err(Error::NotOwned {
                    kind,
                    namespace,
                    name,
                });
            }
            if (how.drifted)(&actual, &desired) {
                let updated = (how.updated)(&actual, &desired);
                api.replace(&name, &PostParams::default(), &updated).await?;
                ctx.event(
                    ts,
                    EventType::Normal,
                    how.updated_reason,
                    format!("Updated spawner {kind} {name}"),
                )
                .await;
                tracing::info!(namespace, name, kind, "updated the spawner workload");
            }
            Ok(false)
        }
    }
}

/// Merge-patches the controller's status fields, conditioned on the resourceVersion the
/// decision was made from (a stale view fails with a conflict and is retried).
async fn write_status(
    ctx: &Context,
    ts: &TaskSpawner,
    workload: Workload<'_>,
) -> Result<(), Error> {
    let Some(status) = status_patch(ts.status.as_ref(), workload, ts.spec.is_suspended()) else {
        return Ok(());
    };
    let api: Api<TaskSpawner> =
        Api::namespaced(ctx.client.clone(), &ts.namespace().unwrap_or_default());
    let body = serde_json::json!({
        "metadata": { "resourceVersion": ts.resource_version() },
        "status": status,
    });
    api.patch_status(
        &ts.name_any(),
        &PatchParams {
            field_manager: Some(kelos_api::constants::CONTROLLER_FIELD_MANAGER.into()),
            ..Default::default()
        },
        &Patch::Merge(&body),
    )
    .await?;
    Ok(())
}
