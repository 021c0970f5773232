//! The Helm chart (`charts/kelos`) against real tools: `helm lint --strict`, `helm template`
//! validated by the API server (server-side dry run), `helm install` into the test control
//! plane, and `kubectl auth can-i` for every permission the controller and the spawner need and
//! for several they must not have. The TaskSpawner reconciler then runs *as the chart's
//! ServiceAccount* (impersonation), which proves the RBAC is enough in practice, including the
//! escalation check on the spawner RoleBinding.
//!
//! Helm is built once from the Go module proxy by `hack/helm.sh` and cached; it runs with its
//! cache, config and data homes in a temp dir and never touches the network.

#[path = "support/poll.rs"]
mod poll;
#[path = "support/process.rs"]
mod process;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::rbac::v1::{ClusterRole, RoleBinding};
use kelos_api::TaskSpawner;
use kelos_controller::taskspawner::{self, TaskSpawnerConfig};
use kelos_testenv::TestCluster;
use kube::api::{ListParams, PostParams};
use kube::{Api, Client};
use serde_json::json;
use tokio::sync::oneshot;

use poll::wait_for;
use process::output_with_stdin;

const KUBE_VERSION: &str = "v1.36.3";
const RELEASE_NAMESPACE: &str = "kelos-system";
const CONTROLLER: &str = "system:serviceaccount:kelos-system:kelos-controller";

fn chart() -> PathBuf {
    kelos_testenv::repo_root().join("charts/kelos")
}

/// The helm binary (built once per machine by hack/helm.sh).
fn helm_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let script = kelos_testenv::repo_root().join("hack/helm.sh");
        let out = Command::new(&script)
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
        assert!(
            out.status.success(),
            "hack/helm.sh failed (Helm is built from the Go module proxy; Go >= 1.26 is needed):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
    })
}

/// A helm command with hermetic homes.
fn helm() -> Command {
    // Cargo's scratch dir for integration tests: stable, inside the target dir, never $HOME.
    static HOME: OnceLock<PathBuf> = OnceLock::new();
    let home = HOME.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("helm-home");
        std::fs::create_dir_all(&dir).unwrap();
        dir
    });
    let mut cmd = Command::new(helm_bin());
    cmd.env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"))
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .env_remove("KUBECONFIG");
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"))
}

fn ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed:\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn template(namespace: &str, sets: &[&str]) -> String {
    let mut cmd = helm();
    cmd.args(["template", "kelos"]).arg(chart()).args([
        "--namespace",
        namespace,
        "--kube-version",
        KUBE_VERSION,
    ]);
    for set in sets {
        cmd.args(["--set", set]);
    }
    ok(&mut cmd)
}

/// `kubectl apply --dry-run=server` of a manifest; returns the `-o name` lines.
fn dry_run(cluster: &TestCluster, manifest: &str) -> Vec<String> {
    let out = output_with_stdin(
        cluster
            .kubectl()
            .args(["apply", "--dry-run=server", "-o", "name", "-f", "-"]),
        manifest,
    );
    assert!(
        out.status.success(),
        "server-side dry run rejected the chart:\n{}\nmanifest:\n{manifest}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut names: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    names.sort();
    names
}

fn can_i(cluster: &TestCluster, user: &str, namespace: &str, verb: &str, resource: &str) -> bool {
    let (resource, subresource) = match resource.split_once(" --subresource=") {
        Some((r, s)) => (r, Some(s)),
        None => (resource, None),
    };
    let mut cmd = cluster.kubectl();
    cmd.args(["auth", "can-i", verb, resource, "-n", namespace])
        .arg(format!("--as={user}"));
    if let Some(s) = subresource {
        cmd.arg(format!("--subresource={s}"));
    }
    let out = run(&mut cmd);
    let answer = String::from_utf8_lossy(&out.stdout).trim().to_string();
    match (out.status.code(), answer.as_str()) {
        (Some(0), "yes") => true,
        (Some(1), "no") => false,
        _ => panic!(
            "{cmd:?}: unexpected answer {answer:?} ({:?}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

fn assert_rbac(
    cluster: &TestCluster,
    user: &str,
    namespace: &str,
    allowed: &[(&str, &str)],
    denied: &[(&str, &str)],
) {
    let mut wrong = Vec::new();
    for (verb, resource) in allowed {
        if !can_i(cluster, user, namespace, verb, resource) {
            wrong.push(format!("missing: {verb} {resource} in {namespace}"));
        }
    }
    for (verb, resource) in denied {
        if can_i(cluster, user, namespace, verb, resource) {
            wrong.push(format!("must not have: {verb} {resource} in {namespace}"));
        }
    }
    assert!(wrong.is_empty(), "RBAC of {user}:\n{}", wrong.join("\n"));
}

#[test]
fn chart_lints_clean_in_strict_mode() {
    let variants: &[&[&str]] = &[
        &[],
        &["replicaCount=2"],
        &["createNamespace=true", "logging.format=text", "image.tag="],
        &[
            "image.pullPolicy=IfNotPresent",
            "spawnerResourceRequests=cpu=10m\\,memory=32Mi",
            "tokenRefresherResourceLimits=memory=64Mi",
            "metrics.service.enabled=false",
            "leaderElection.enabled=false",
        ],
    ];
    for sets in variants {
        let mut cmd = helm();
        cmd.args(["lint", "--strict", "--kube-version", KUBE_VERSION])
            .arg(chart());
        for set in *sets {
            cmd.args(["--set", set]);
        }
        let out = ok(&mut cmd);
        assert!(
            !out.contains("[WARNING]") && !out.contains("[ERROR]"),
            "helm lint {sets:?}:\n{out}"
        );
        assert!(out.contains("0 chart(s) failed"), "{out}");
    }
}

#[test]
fn rendering_refuses_bad_values_with_a_clear_message() {
    let fails = |sets: &[&str], needle: &str| {
        let mut cmd = helm();
        cmd.args(["template", "kelos"]).arg(chart());
        for set in sets {
            cmd.args(["--set", set]);
        }
        let out = run(&mut cmd);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{sets:?} rendered");
        assert!(stderr.contains(needle), "{sets:?}: {stderr}");
    };
    fails(
        &["replicaCount=3", "leaderElection.enabled=false"],
        "needs leaderElection.enabled",
    );
    fails(
        &["logging.format=xml"],
        "logging.format must be json or text",
    );
    fails(
        &["metrics.serviceMonitor.enabled=true"],
        "needs the monitoring.coreos.com/v1 API",
    );

    // With the Prometheus Operator API present the ServiceMonitor renders and selects the
    // metrics Service.
    let out = ok(helm()
        .args(["template", "kelos"])
        .arg(chart())
        .args(["--namespace", "kelos-system"])
        .args(["--set", "metrics.serviceMonitor.enabled=true"])
        .args(["--set", "metrics.serviceMonitor.labels.release=prom"])
        .args(["--api-versions", "monitoring.coreos.com/v1/ServiceMonitor"])
        .args(["--show-only", "templates/servicemonitor.yaml"]));
    for needle in [
        "kind: ServiceMonitor",
        "release: prom",
        "- port: metrics",
        "path: /metrics",
        "- kelos-system",
    ] {
        assert!(out.contains(needle), "{needle} missing:\n{out}");
    }
}

#[tokio::test]
async fn rendered_manifests_pass_server_side_dry_run() {
    let cluster = kelos_testenv::shared().await;
    let ns = cluster.namespace("helm-dry").await;
    let defaults = dry_run(cluster, &template(&ns, &[]));
    assert_eq!(
        defaults,
        [
            "clusterrole.rbac.authorization.k8s.io/kelos-controller-role",
            "clusterrole.rbac.authorization.k8s.io/kelos-spawner-role",
            "clusterrolebinding.rbac.authorization.k8s.io/kelos-controller-rolebinding",
            "deployment.apps/kelos-controller-manager",
            "role.rbac.authorization.k8s.io/kelos-leader-election-role",
            "rolebinding.rbac.authorization.k8s.io/kelos-leader-election-rolebinding",
            "service/kelos-controller-metrics",
            "serviceaccount/kelos-controller",
        ]
    );

    // Every option that changes the rendered objects.
    let all = dry_run(
        cluster,
        &template(
            &ns,
            &[
                "createNamespace=true",
                "replicaCount=2",
                "image.pullPolicy=Always",
                "image.tag=v0.1.0",
                "spawnerResourceRequests=cpu=10m\\,memory=32Mi",
                "spawnerResourceLimits=memory=64Mi",
                "tokenRefresherResourceRequests=cpu=5m",
                "tokenRefresherResourceLimits=memory=32Mi",
                "imagePullSecrets[0].name=regcred",
                "podAnnotations.example\\.com/a=b",
                "podLabels.team=platform",
                "nodeSelector.kubernetes\\.io/os=linux",
                "tolerations[0].operator=Exists",
                "priorityClassName=system-cluster-critical",
                "extraArgs[0]=--verbose",
                "metrics.service.annotations.example\\.com/scrape=true",
            ],
        ),
    );
    assert!(all.contains(&format!("namespace/{ns}")), "{all:?}");
    let bare = dry_run(
        cluster,
        &template(
            &ns,
            &[
                "leaderElection.enabled=false",
                "metrics.service.enabled=false",
            ],
        ),
    );
    assert!(
        !bare
            .iter()
            .any(|n| n.contains("leader-election") || n.starts_with("service/")),
        "{bare:?}"
    );

    // The controller Deployment's shape.
    let rendered = template(&ns, &[]);
    for needle in [
        "strategy:\n    type: Recreate",
        "serviceAccountName: kelos-controller",
        "runAsNonRoot: true",
        "readOnlyRootFilesystem: true",
        "allowPrivilegeEscalation: false",
        "- ALL",
        "type: RuntimeDefault",
        "path: /healthz",
        "path: /readyz",
        "containerPort: 8080",
        "containerPort: 8081",
        "- --leader-elect",
        "- --metrics-bind-address=:8080",
        "- --health-probe-bind-address=:8081",
        "- --spawner-image=ghcr.io/kelos-dev/kelos-spawner:latest",
        "- --token-refresher-image=ghcr.io/kelos-dev/kelos-token-refresher:latest",
        "- --claude-code-image=ghcr.io/kelos-dev/claude-code:latest",
    ] {
        assert!(
            rendered.contains(needle),
            "{needle:?} missing from:\n{rendered}"
        );
    }
    let two = template(&ns, &["replicaCount=2"]);
    assert!(!two.contains("type: Recreate"), "two replicas roll");
}

#[tokio::test]
async fn helm_install_creates_everything_with_least_privilege_rbac() {
    let cluster = kelos_testenv::shared().await;
    let out = ok(helm()
        .args(["install", "kelos"])
        .arg(chart())
        .args(["--namespace", RELEASE_NAMESPACE, "--create-namespace"])
        .arg(format!(
            "--kubeconfig={}",
            cluster.kubeconfig_path().display()
        ))
        .args(["--timeout", "60s"]));
    assert!(out.contains("STATUS: deployed"), "{out}");

    let client = cluster.client().await;
    let deploy: Api<Deployment> = Api::namespaced(client.clone(), RELEASE_NAMESPACE);
    let d = deploy.get("kelos-controller-manager").await.unwrap();
    let pod = d.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
    assert_eq!(
        pod.service_account_name.as_deref(),
        Some("kelos-controller")
    );
    let sa: Api<ServiceAccount> = Api::namespaced(client.clone(), RELEASE_NAMESPACE);
    sa.get("kelos-controller").await.unwrap();
    let roles: Api<ClusterRole> = Api::all(client.clone());
    roles.get("kelos-controller-role").await.unwrap();
    let spawner_role = roles.get("kelos-spawner-role").await.unwrap();
    assert!(
        spawner_role.rules.as_ref().unwrap().iter().any(|r| {
            r.resources
                .as_ref()
                .is_some_and(|rs| rs.contains(&"tasks/status".to_string()))
                && r.verbs.contains(&"patch".to_string())
        }),
        "the spawner cancels Tasks by patching their status"
    );
    let status = ok(helm()
        .args(["status", "kelos", "--namespace", RELEASE_NAMESPACE])
        .arg(format!(
            "--kubeconfig={}",
            cluster.kubeconfig_path().display()
        )));
    assert!(status.contains("STATUS: deployed"), "{status}");

    // The controller's ServiceAccount, in some user namespace and in its own.
    let team = "team-a";
    assert_rbac(
        cluster,
        CONTROLLER,
        team,
        &[
            ("create", "events"),
            ("patch", "events"),
            ("create", "events.events.k8s.io"),
            ("get", "pods"),
            ("list", "pods"),
            ("watch", "pods"),
            ("delete", "pods"),
            ("get", "pods --subresource=log"),
            ("get", "secrets"),
            ("list", "secrets"),
            ("watch", "secrets"),
            ("create", "secrets"),
            ("update", "secrets"),
            ("create", "serviceaccounts"),
            ("get", "serviceaccounts"),
            ("create", "deployments.apps"),
            ("update", "deployments.apps"),
            ("delete", "deployments.apps"),
            ("watch", "deployments.apps"),
            ("create", "jobs.batch"),
            ("delete", "jobs.batch"),
            ("watch", "jobs.batch"),
            ("create", "cronjobs.batch"),
            ("update", "cronjobs.batch"),
            ("delete", "cronjobs.batch"),
            ("get", "workspaces.kelos.dev"),
            ("watch", "workspaces.kelos.dev"),
            ("list", "agentconfigs.kelos.dev"),
            ("get", "tasks.kelos.dev"),
            ("watch", "tasks.kelos.dev"),
            ("update", "tasks.kelos.dev"),
            ("delete", "tasks.kelos.dev"),
            ("patch", "tasks.kelos.dev --subresource=status"),
            ("update", "tasks.kelos.dev --subresource=status"),
            ("update", "tasks.kelos.dev --subresource=finalizers"),
            ("watch", "taskspawners.kelos.dev"),
            ("patch", "taskspawners.kelos.dev"),
            ("patch", "taskspawners.kelos.dev --subresource=status"),
            ("update", "taskspawners.kelos.dev --subresource=finalizers"),
            ("create", "rolebindings.rbac.authorization.k8s.io"),
            ("get", "rolebindings.rbac.authorization.k8s.io"),
            (
                "bind",
                "clusterroles.rbac.authorization.k8s.io/kelos-spawner-role",
            ),
        ],
        &[
            ("delete", "secrets"),
            ("deletecollection", "secrets"),
            ("delete", "customresourcedefinitions.apiextensions.k8s.io"),
            ("create", "customresourcedefinitions.apiextensions.k8s.io"),
            ("create", "tasks.kelos.dev"),
            ("create", "taskspawners.kelos.dev"),
            ("delete", "taskspawners.kelos.dev"),
            ("update", "workspaces.kelos.dev"),
            ("delete", "agentconfigs.kelos.dev"),
            ("update", "rolebindings.rbac.authorization.k8s.io"),
            ("delete", "rolebindings.rbac.authorization.k8s.io"),
            (
                "bind",
                "clusterroles.rbac.authorization.k8s.io/cluster-admin",
            ),
            ("escalate", "clusterroles.rbac.authorization.k8s.io"),
            ("create", "clusterrolebindings.rbac.authorization.k8s.io"),
            ("create", "roles.rbac.authorization.k8s.io"),
            ("create", "pods"),
            ("create", "pods --subresource=exec"),
            ("create", "serviceaccounts --subresource=token"),
            ("delete", "serviceaccounts"),
            ("create", "leases.coordination.k8s.io"),
            ("get", "configmaps"),
            ("get", "nodes"),
            ("list", "namespaces"),
        ],
    );
    assert_rbac(
        cluster,
        CONTROLLER,
        RELEASE_NAMESPACE,
        &[
            ("get", "leases.coordination.k8s.io"),
            ("create", "leases.coordination.k8s.io"),
            ("update", "leases.coordination.k8s.io"),
        ],
        &[("get", "configmaps")],
    );

    // Now the reconciler itself, as that ServiceAccount: it must be able to do its job,
    // including binding the spawner role (RBAC's escalation check).
    let mut config = cluster.config().clone();
    config.auth_info.impersonate = Some(CONTROLLER.to_string());
    let as_controller = Client::try_from(config).unwrap();
    let ns = cluster.namespace("helm-spawner").await;
    let (stop, stopped) = oneshot::channel::<()>();
    let errors = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = errors.clone();
    tokio::spawn(taskspawner::run(
        as_controller,
        TaskSpawnerConfig {
            watch_namespace: Some(ns.clone()),
            ..Default::default()
        },
        async move {
            let _ = stopped.await;
        },
        move |e| seen.lock().unwrap().push(e.to_string()),
    ));
    let ts_api: Api<TaskSpawner> = Api::namespaced(client.clone(), &ns);
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), &ns);
    secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": { "name": "gh-app" },
                "stringData": { "appID": "1", "installationID": "2", "privateKey": "x" }
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let workspaces: Api<kelos_api::Workspace> = Api::namespaced(client.clone(), &ns);
    workspaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "kelos.dev/v1alpha1", "kind": "Workspace",
                "metadata": { "name": "ws" },
                "spec": { "repo": "https://github.com/acme/widgets", "secretRef": { "name": "gh-app" } }
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    ts_api
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "kelos.dev/v1alpha1", "kind": "TaskSpawner",
                "metadata": { "name": "fixer" },
                "spec": {
                    "when": { "githubIssues": {} },
                    "taskTemplate": {
                        "type": "codex",
                        "credentials": { "type": "api-key", "secretRef": { "name": "c" } },
                        "workspaceRef": { "name": "ws" }
                    }
                }
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let d = wait_for(
        "spawner Deployment created by the chart's ServiceAccount",
        || async { deployments.get_opt("fixer").await.unwrap() },
    )
    .await;
    assert!(
        d.spec
            .unwrap()
            .template
            .spec
            .unwrap()
            .init_containers
            .is_some()
    );
    wait_for("status written as the chart's ServiceAccount", || async {
        let ts = ts_api.get("fixer").await.unwrap();
        ts.status.and_then(|s| s.deployment_name).map(|_| ())
    })
    .await;
    let events: Api<Event> = Api::namespaced(client.clone(), &ns);
    wait_for("event published as the chart's ServiceAccount", || async {
        let list = events.list(&ListParams::default()).await.unwrap();
        list.items
            .iter()
            .any(|e| e.reason.as_deref() == Some("DeploymentCreated"))
            .then_some(())
    })
    .await;
    let bindings: Api<RoleBinding> = Api::namespaced(client.clone(), &ns);
    bindings.get("kelos-spawner").await.unwrap();
    assert!(
        errors.lock().unwrap().is_empty(),
        "reconcile errors as the chart's ServiceAccount: {:?}",
        errors.lock().unwrap()
    );
    drop(stop);

    // The spawner's ServiceAccount, bound in that namespace only.
    let spawner = format!("system:serviceaccount:{ns}:kelos-spawner");
    assert_rbac(
        cluster,
        &spawner,
        &ns,
        &[
            ("get", "taskspawners.kelos.dev"),
            ("list", "taskspawners.kelos.dev"),
            ("watch", "taskspawners.kelos.dev"),
            ("patch", "taskspawners.kelos.dev --subresource=status"),
            ("create", "tasks.kelos.dev"),
            ("delete", "tasks.kelos.dev"),
            ("get", "tasks.kelos.dev"),
            ("list", "tasks.kelos.dev"),
            ("patch", "tasks.kelos.dev"),
            ("watch", "tasks.kelos.dev"),
            ("patch", "tasks.kelos.dev --subresource=status"),
        ],
        &[
            // What the spawner never does: keep it off the role.
            ("update", "taskspawners.kelos.dev --subresource=status"),
            ("update", "tasks.kelos.dev"),
            ("update", "tasks.kelos.dev --subresource=status"),
            ("create", "events"),
            ("create", "events.events.k8s.io"),
            ("update", "taskspawners.kelos.dev"),
            ("patch", "taskspawners.kelos.dev"),
            ("delete", "taskspawners.kelos.dev"),
            ("create", "taskspawners.kelos.dev"),
            ("get", "secrets"),
            ("list", "pods"),
            ("create", "jobs.batch"),
            ("patch", "workspaces.kelos.dev"),
            ("create", "rolebindings.rbac.authorization.k8s.io"),
        ],
    );
    // Nothing in any other namespace.
    assert_rbac(
        cluster,
        &spawner,
        "team-b",
        &[],
        &[
            ("create", "tasks.kelos.dev"),
            ("list", "tasks.kelos.dev"),
            ("get", "taskspawners.kelos.dev"),
        ],
    );
}
