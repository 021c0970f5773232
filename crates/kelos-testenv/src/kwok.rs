//! KWOK, the simulated kubelet of the full tier, and the knobs tests turn on it.
//!
//! One fake Node, [`NODE_NAME`], takes every pod the scheduler binds. The stages in
//! `src/kwok-stages.yaml` ([`STAGES`]) drive its pods the way a kubelet would:
//!
//! * a scheduled pod becomes Running and Ready at once (or after [`POD_READY_DELAY`]);
//! * a Job's pod then exits 0 and is `Succeeded` at once (or after [`POD_COMPLETE_DELAY`], e.g.
//!   `"1h"` to keep a Job active until the test deletes it); other pods stay Running;
//! * a pod annotated with [`EXIT_CODE`] (non-zero) fails with that exit code instead, phase
//!   `Failed` (any pod, after the same [`POD_COMPLETE_DELAY`]); [`TERMINATION_MESSAGE`] sets the
//!   containers' `terminated.message`;
//! * a deleted pod stays visible, Terminating, with `deletionGracePeriodSeconds`, for its grace
//!   period (as for a container that ignores SIGTERM; at most 1 s more, since
//!   `deletionTimestamp` has whole-second precision), then it is removed; [`POD_DELETE_DELAY`]
//!   replaces that wait. Pods in a terminal phase, and pods never scheduled, are deleted at
//!   once by the apiserver (grace 0), as in a real cluster. A Job's pods carry the Job
//!   controller's finalizer, so they vanish only once it has counted them.
//!
//! Deleting a running pod, or a Job or namespace holding one, without an explicit grace period
//! uses the pod's `terminationGracePeriodSeconds`, 30 s by default: tests that delete running
//! Jobs (cancellation) should set it low in the pod template, or use [`POD_DELETE_DELAY`].
//!
//! Pod IPs (10.244.0.0/24) are fiction and the node has no addresses: never dial them, and
//! don't use `kubectl logs/exec/port-forward` on these pods.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node, ServiceAccount};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::Api;
use kube::api::PostParams;

use crate::error::{Error, Result};
use crate::process::{Process, Spec, TAIL_LINES, log_tail};

/// The stage definitions passed to `kwok --config`.
pub const STAGES: &str = include_str!("kwok-stages.yaml");

/// The fake node every pod is scheduled onto.
pub const NODE_NAME: &str = "kwok-node-0";
/// Pod annotation: how long a scheduled pod stays Pending before it runs (Go duration).
pub const POD_READY_DELAY: &str = "pod-ready.stage.kwok.x-k8s.io/delay";
/// Pod annotation: how long the containers "run" before exiting (Go duration, e.g. `"1h"`).
pub const POD_COMPLETE_DELAY: &str = "pod-complete.stage.kwok.x-k8s.io/delay";
/// Pod annotation: kwok's jitter on top of [`POD_COMPLETE_DELAY`] (see kwok's stage docs).
pub const POD_COMPLETE_JITTER_DELAY: &str = "pod-complete.stage.kwok.x-k8s.io/jitter-delay";
/// Pod annotation: the containers' exit code (decimal). Non-zero: the pod ends `Failed`.
pub const EXIT_CODE: &str = "kelos.dev/test-exit-code";
/// Pod annotation: `state.terminated.message` of every container when the pod finishes.
pub const TERMINATION_MESSAGE: &str = "kelos.dev/test-termination-message";
/// Pod annotation: how long a deleted pod stays visible, instead of its grace period.
pub const POD_DELETE_DELAY: &str = "pod-delete.stage.kwok.x-k8s.io/delay";

/// kwok's pod IP range; disjoint from the service range 10.96.0.0/16.
const POD_CIDR: &str = "10.244.0.0/24";
pub(crate) const READY_TIMEOUT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(100);

pub(crate) fn spec(bin_dir: &Path, dir: &Path, kubeconfig: &Path, stages: &Path) -> Spec {
    let workdir = dir.join("kwok-workdir");
    Spec {
        name: "kwok",
        program: bin_dir.join("kwok"),
        args: vec![
            format!("--kubeconfig={}", kubeconfig.display()),
            format!("--config={}", stages.display()),
            "--manage-all-nodes=true".into(),
            format!("--cidr={POD_CIDR}"),
            // Renewed Leases are the nodes' heartbeat for the node-lifecycle controller.
            "--node-lease-duration-seconds=40".into(),
            // No --node-port and no --server-address: kwok serves nothing (its server would
            // listen on 0.0.0.0:<node-port>).
        ],
        log: dir.join("kwok.log"),
        env: vec![
            // kwok auto-loads $KWOK_WORKDIR/kwok.yaml (default ~/.kwok/kwok.yaml): keep it out
            // of the home dir.
            ("KWOK_WORKDIR".into(), workdir.display().to_string()),
            ("KUBECONFIG".into(), kubeconfig.display().to_string()),
        ],
    }
}

fn node() -> Node {
    let resources = [
        ("cpu".to_owned(), Quantity("1000".into())),
        ("memory".to_owned(), Quantity("1Ti".into())),
        ("pods".to_owned(), Quantity("1000".into())),
    ];
    serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": NODE_NAME,
            "annotations": {
                "kwok.x-k8s.io/node": "fake",
                "node.alpha.kubernetes.io/ttl": "0",
            },
            "labels": {
                "kubernetes.io/hostname": NODE_NAME,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
            },
        },
        "status": {
            "allocatable": BTreeMap::from(resources.clone()),
            "capacity": BTreeMap::from(resources),
        },
    }))
    .expect("a valid Node")
}

/// Creates [`NODE_NAME`] (no taints, generous allocatable). kwok initializes it.
pub(crate) async fn create_node(client: &kube::Client) -> Result<()> {
    let api: Api<Node> = Api::all(client.clone());
    match api.create(&PostParams::default(), &node()).await {
        Err(kube::Error::Api(status)) if status.is_already_exists() => Ok(()),
        other => other.map(|_| ()).map_err(Error::from),
    }
}

/// Why the node cannot take pods yet, or `None` once it is Ready and untainted (the
/// node-lifecycle controller removes its `not-ready` taint after kwok reports Ready).
fn unschedulable_reason(node: &Node) -> Option<String> {
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    if !ready {
        return Some("condition Ready is not True yet".into());
    }
    let taints: Vec<String> = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .into_iter()
        .flatten()
        .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
        .map(|t| format!("{}:{}", t.key, t.effect))
        .collect();
    if !taints.is_empty() {
        return Some(format!("still tainted {taints:?}"));
    }
    None
}

/// Waits until [`NODE_NAME`] is Ready and schedulable. `kwok` is checked for an early death;
/// the taint is removed by kube-controller-manager, whose log the timeout error names too.
pub(crate) async fn wait_node_ready(
    client: &kube::Client,
    kwok: &Process,
    kcm: &Process,
) -> Result<()> {
    let api: Api<Node> = Api::all(client.clone());
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Some(status) = kwok.exit_status() {
            return Err(kwok.startup_failure(status));
        }
        let last_error = match api.get(NODE_NAME).await {
            Ok(node) => match unschedulable_reason(&node) {
                None => return Ok(()),
                Some(reason) => reason,
            },
            Err(e) => e.to_string(),
        };
        if Instant::now() > deadline {
            return Err(Error::NotReady {
                component: "kwok (node Ready and untainted)",
                timeout: READY_TIMEOUT,
                last_error: format!(
                    "node {NODE_NAME}: {last_error} (kube-controller-manager log: {})",
                    kcm.log.display()
                ),
                log: kwok.log.clone(),
                tail: log_tail(&kwok.log, TAIL_LINES),
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Waits for ServiceAccount `<namespace>/default`, which kube-controller-manager creates.
pub(crate) async fn wait_default_service_account(
    client: &kube::Client,
    namespace: &str,
    kcm: Option<&Process>,
    timeout: Duration,
) -> Result<()> {
    let api: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(kcm) = kcm
            && let Some(status) = kcm.exit_status()
        {
            return Err(kcm.startup_failure(status));
        }
        let last_error = match api.get_opt("default").await {
            Ok(Some(_)) => return Ok(()),
            Ok(None) => "not created yet".to_owned(),
            Err(e) => e.to_string(),
        };
        if Instant::now() > deadline {
            let (log, tail) = kcm
                .map(|p| (p.log.clone(), log_tail(&p.log, TAIL_LINES)))
                .unwrap_or_default();
            return Err(Error::NotReady {
                component: "kube-controller-manager (default ServiceAccount)",
                timeout,
                last_error: format!("serviceaccount {namespace}/default: {last_error}"),
                log,
                tail,
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_parse_and_cover_the_lifecycle() {
        let docs: Vec<Option<serde_json::Value>> = serde_saphyr::from_multiple(STAGES).unwrap();
        let stages: Vec<serde_json::Value> = docs.into_iter().flatten().collect();
        let names: Vec<&str> = stages
            .iter()
            .map(|s| {
                assert_eq!(s["apiVersion"], "kwok.x-k8s.io/v1alpha1");
                assert_eq!(s["kind"], "Stage");
                s["metadata"]["name"].as_str().unwrap()
            })
            .collect();
        assert_eq!(
            names,
            [
                "node-initialize",
                "node-heartbeat-with-lease",
                "pod-ready",
                "pod-complete",
                "pod-fail",
                "pod-delete"
            ]
        );
        // The annotations documented here are the ones the stages read.
        for annotation in [
            POD_READY_DELAY,
            POD_COMPLETE_DELAY,
            POD_COMPLETE_JITTER_DELAY,
            EXIT_CODE,
            TERMINATION_MESSAGE,
            POD_DELETE_DELAY,
        ] {
            assert!(
                STAGES.contains(&format!("\"{annotation}\"")),
                "{annotation}"
            );
        }
    }

    #[test]
    fn node_is_fake_untainted_and_roomy() {
        let node = node();
        assert_eq!(node.metadata.name.as_deref(), Some(NODE_NAME));
        assert_eq!(
            node.metadata.annotations.as_ref().unwrap()["kwok.x-k8s.io/node"],
            "fake"
        );
        assert!(node.spec.is_none());
        let allocatable = node.status.unwrap().allocatable.unwrap();
        assert_eq!(allocatable["pods"].0, "1000");
    }
}
