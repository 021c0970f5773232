//! The TaskSpawner reconciler (reference §6): one spawner Deployment per polling TaskSpawner,
//! a CronJob running the spawner `--one-shot` for cron, the per-namespace spawner
//! ServiceAccount and RoleBinding, the GitHub App token-refresher sidecar, drift correction,
//! status, events and the finalizer.
//!
//! Decisions are pure ([`builder`], [`drift`], [`status`]); [`run`] is the kube-runtime shell.
//!
//! ```no_run
//! # async fn example(client: kube::Client) {
//! use kelos_controller::taskspawner::{self, TaskSpawnerConfig};
//! let shutdown = async { let _ = tokio::signal::ctrl_c().await; };
//! taskspawner::run(client, TaskSpawnerConfig::default(), shutdown, |_error| {
//!     // e.g. kelos_reconcile_errors_total{controller="taskspawner"}.inc()
//! })
//! .await;
//! # }
//! ```

pub mod builder;
pub mod config;
pub mod drift;
mod quantity;
mod reconcile;
pub mod status;

use std::future::Future;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::Secret;
use kelos_api::constants::CONTROLLER_FIELD_MANAGER;
use kelos_api::{TaskSpawner, Workspace};
use kube::core::PartialObjectMeta;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{Controller, WatchStreamExt, watcher};
use kube::{Api, Resource, ResourceExt};

pub use builder::{
    GitHubAuth, PodParts, SPAWNER_CLUSTER_ROLE, SPAWNER_ROLE_BINDING, SPAWNER_SERVICE_ACCOUNT,
    desired_cronjob, desired_deployment, pod_parts,
};
pub use config::{
    DEFAULT_SPAWNER_IMAGE, DEFAULT_TOKEN_REFRESHER_IMAGE, ResourceListError, TaskSpawnerConfig,
    parse_resource_list, resource_requirements,
};
pub use reconcile::Error;

/// The name the reconciler's events are reported under.
pub const CONTROLLER_NAME: &str = CONTROLLER_FIELD_MANAGER;

fn api<K>(client: &kube::Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// Runs the TaskSpawner reconciler until `shutdown` resolves (in-flight reconciles finish
/// first). `on_error` is called once per failed reconcile (not for write conflicts, which are
/// retried at once), e.g. to count `kelos_reconcile_errors_total{controller="taskspawner"}`.
///
/// Needs (cluster-wide, or in `config.watch_namespace`): taskspawners get/list/watch/patch
/// (finalizer) and status patch; workspaces get/list/watch; secrets get/list/watch (only key
/// names are used); deployments and cronjobs create/get/list/watch/update/delete;
/// serviceaccounts and rolebindings create/get; `bind` on ClusterRole `kelos-spawner-role`
/// (or every permission in it); events create/patch (`events.k8s.io`).
pub async fn run<S, E>(client: kube::Client, config: TaskSpawnerConfig, shutdown: S, on_error: E)
where
    S: Future<Output = ()> + Send + Sync + 'static,
    E: Fn(&Error) + Send + Sync + 'static,
{
    let ns = config.watch_namespace.clone();
    let ns = ns.as_deref();
    let controller = Controller::new(
        api::<TaskSpawner>(&client, ns),
        watcher::Config::default().any_semantic(),
    );
    let spawners = controller.store();

    // Workspaces by name, for the Secret → Workspace → TaskSpawner mapping.
    let (workspaces, writer) = reflector::store::<Workspace>();
    let workspace_reflector = reflector::reflector(
        writer,
        watcher(
            api::<Workspace>(&client, ns),
            watcher::Config::default().any_semantic(),
        ),
    )
    .default_backoff()
    .touched_objects()
    .for_each(|_| futures::future::ready(()));

    let workloads = watcher::Config::default()
        .labels(&builder::managed_workload_selector())
        .any_semantic();
    let recorder = Recorder::new(client.clone(), Reporter::from(CONTROLLER_NAME));
    let ctx = Arc::new(reconcile::Context::new(
        client.clone(),
        recorder,
        config.clone(),
        Box::new(on_error),
    ));
    let spawners_for_ws = spawners.clone();
    let controller = controller
        .owns(api::<Deployment>(&client, ns), workloads.clone())
        .owns(api::<CronJob>(&client, ns), workloads)
        .watches(
            api::<Workspace>(&client, ns),
            watcher::Config::default().any_semantic(),
            move |ws| {
                spawners_for_workspace(
                    &spawners_for_ws.state(),
                    &ws.namespace().unwrap_or_default(),
                    &ws.name_any(),
                )
            },
        )
        // Secrets are decoded as metadata only: their data is dropped while decoding and
        // never cached.
        .watches(
            api::<PartialObjectMeta<Secret>>(&client, ns),
            watcher::Config::default().any_semantic(),
            move |secret| {
                spawners_for_secret(
                    &spawners.state(),
                    &workspaces.state(),
                    &secret.namespace().unwrap_or_default(),
                    &secret.name_any(),
                )
            },
        )
        .graceful_shutdown_on(shutdown)
        .run(reconcile::reconcile, reconcile::error_policy, ctx)
        .for_each(|result| {
            if let Err(e) = result {
                tracing::debug!(error = %e, "taskspawner controller");
            }
            futures::future::ready(())
        });
    tracing::info!(
        namespace = ns.unwrap_or("<all>"),
        "TaskSpawner reconciler started"
    );
    futures::pin_mut!(workspace_reflector);
    futures::future::select(Box::pin(controller), workspace_reflector).await;
    tracing::info!("TaskSpawner reconciler stopped");
}

/// TaskSpawners whose `taskTemplate.workspaceRef` names the Workspace.
pub fn spawners_for_workspace(
    spawners: &[Arc<TaskSpawner>],
    namespace: &str,
    workspace: &str,
) -> Vec<ObjectRef<TaskSpawner>> {
    spawners
        .iter()
        .filter(|ts| {
            ts.namespace().as_deref() == Some(namespace)
                && ts
                    .spec
                    .task_template
                    .workspace_ref
                    .as_ref()
                    .is_some_and(|w| w.name == workspace)
        })
        .map(|ts| ObjectRef::from_obj(&**ts))
        .collect()
}

/// TaskSpawners using a Workspace whose `secretRef` names the Secret.
pub fn spawners_for_secret(
    spawners: &[Arc<TaskSpawner>],
    workspaces: &[Arc<Workspace>],
    namespace: &str,
    secret: &str,
) -> Vec<ObjectRef<TaskSpawner>> {
    workspaces
        .iter()
        .filter(|ws| {
            ws.namespace().as_deref() == Some(namespace)
                && ws
                    .spec
                    .secret_ref
                    .as_ref()
                    .is_some_and(|s| s.name == secret)
        })
        .flat_map(|ws| spawners_for_workspace(spawners, namespace, &ws.name_any()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(ns: &str, name: &str, workspace: Option<&str>) -> Arc<TaskSpawner> {
        let mut v = serde_json::json!({
            "apiVersion": "kelos.dev/v1alpha1", "kind": "TaskSpawner",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"when": {"cron": {"schedule": "* * * * *"}}, "taskTemplate": {
                "type": "codex", "credentials": {"type": "api-key", "secretRef": {"name": "c"}}}}
        });
        if let Some(w) = workspace {
            v["spec"]["taskTemplate"]["workspaceRef"] = serde_json::json!({"name": w});
        }
        Arc::new(serde_json::from_value(v).unwrap())
    }

    fn ws(ns: &str, name: &str, secret: Option<&str>) -> Arc<Workspace> {
        let mut v = serde_json::json!({
            "apiVersion": "kelos.dev/v1alpha1", "kind": "Workspace",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"repo": "https://github.com/a/b"}
        });
        if let Some(s) = secret {
            v["spec"]["secretRef"] = serde_json::json!({"name": s});
        }
        Arc::new(serde_json::from_value(v).unwrap())
    }

    fn names(refs: Vec<ObjectRef<TaskSpawner>>) -> Vec<String> {
        let mut v: Vec<_> = refs.into_iter().map(|r| r.name).collect();
        v.sort();
        v
    }

    #[test]
    fn workspace_maps_to_its_spawners_in_its_namespace() {
        let spawners = [
            ts("a", "one", Some("ws")),
            ts("a", "two", Some("other")),
            ts("b", "three", Some("ws")),
            ts("a", "four", None),
        ];
        assert_eq!(names(spawners_for_workspace(&spawners, "a", "ws")), ["one"]);
    }

    #[test]
    fn secret_maps_through_workspaces() {
        let spawners = [
            ts("a", "one", Some("ws1")),
            ts("a", "two", Some("ws2")),
            ts("a", "three", Some("ws3")),
            ts("b", "four", Some("ws1")),
        ];
        let workspaces = [
            ws("a", "ws1", Some("gh")),
            ws("a", "ws2", Some("gh")),
            ws("a", "ws3", Some("other")),
            ws("b", "ws1", Some("gh")),
        ];
        assert_eq!(
            names(spawners_for_secret(&spawners, &workspaces, "a", "gh")),
            ["one", "two"]
        );
        assert!(spawners_for_secret(&spawners, &workspaces, "a", "nope").is_empty());
    }
}
