//! The Task reconciler runs with exactly the chart's `kelos-controller-role` (impersonating a
//! user bound to it): a whole lifecycle, a cancellation with pod grace, events, a GitHub token
//! Secret path and TTL deletion must all work with those permissions and no more.

#[path = "support/process.rs"]
mod process;
mod task_support;

use kelos_api::TaskPhase;
use kelos_controller::job::JobImages;
use kelos_controller::runner::{self, Options};
use kelos_controller::task::{RunConfig, TaskConfig};
use kube::Client;
use serde_json::json;
use task_support::*;

use process::output_with_stdin;

const USER: &str = "kelos-task-controller-rbac-test";

/// The chart's controller ClusterRole (its first document, template lines dropped), bound to
/// `USER`.
fn install_chart_role(cluster: &kelos_testenv::TestCluster) {
    let rbac = std::fs::read_to_string(
        kelos_testenv::repo_root().join("charts/kelos/templates/rbac.yaml"),
    )
    .expect("reading the chart's rbac.yaml");
    let role: String = rbac
        .split("\n---")
        .next()
        .unwrap()
        .lines()
        .filter(|l| !l.contains("{{") && !l.trim_start().starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(role.contains("name: kelos-controller-role"), "{role}");
    let binding = format!(
        "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: {USER}\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: kelos-controller-role\nsubjects:\n- apiGroup: rbac.authorization.k8s.io\n  kind: User\n  name: {USER}\n"
    );
    let out = output_with_stdin(
        cluster
            .kubectl()
            .args(["apply", "--server-side", "--force-conflicts", "-f", "-"]),
        &format!("{role}{binding}"),
    );
    assert!(
        out.status.success(),
        "kubectl apply: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn the_charts_role_is_enough_for_the_task_reconciler() {
    let env = Env::new("task-rbac").await;
    let cluster = kelos_testenv::shared().await;
    install_chart_role(cluster);
    let mut config = cluster.config().clone();
    config.auth_info.impersonate = Some(USER.to_owned());
    let restricted = Client::try_from(config).unwrap();
    // The impersonation really restricts: nothing outside the role.
    let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> =
        kube::Api::all(restricted.clone());
    let denied = namespaces.list(&Default::default()).await.unwrap_err();
    assert!(
        matches!(&denied, kube::Error::Api(s) if s.code == 403),
        "{denied}"
    );
    let ctrl = runner::start(
        restricted,
        Options {
            metrics_addr: Some("127.0.0.1:0".parse().unwrap()),
            health_addr: None,
            task: RunConfig {
                namespace: Some(env.ns.clone()),
                concurrency: 4,
                task: TaskConfig {
                    images: JobImages::default(),
                    github_api_base_url: None,
                },
            },
            taskspawner: None,
        },
    )
    .await
    .unwrap();

    // Workspace with a PAT Secret: reads the Workspace and the Secret.
    env.secret("pat", &[("GITHUB_TOKEN", "ghp_not_a_real_token")])
        .await;
    env.workspace_spec(
        "ws",
        json!({"repo": "https://github.com/o/r.git", "secretRef": {"name": "pat"}}),
    )
    .await;
    let mut t = with_ttl(on_branch(task("t1"), "ws", "main"), 1);
    t.spec.depends_on = None;
    env.create(t).await;
    env.wait_job("t1").await;
    env.pod("t1", "t1-pod").await;
    env.job_running("t1").await;
    env.wait_task("t1", "Running with podName", |t| {
        status_of(t).pod_name.as_deref() == Some("t1-pod")
    })
    .await;
    env.create(on_branch(task("t2"), "ws", "main")).await;
    env.wait_phase("t2", TaskPhase::Waiting).await;

    env.cancel("t1", json!({"cancellationGracePeriodSeconds": 0}))
        .await
        .unwrap();
    eventually("t1's Job deleted", || env.job_gone("t1")).await;
    eventually("t1's pod deleted", || async {
        env.pods().get_opt("t1-pod").await.unwrap().is_none()
    })
    .await;
    env.wait_event("t1", "TaskCancelled").await;
    env.wait_phase("t2", TaskPhase::Pending).await;
    // Completion marker, then TTL deletion through the finalizer.
    env.wait_gone("t1").await;
    env.job_succeeded("t2").await;
    let t2 = env.wait_task("t2", "marker", recorded).await;
    assert_eq!(t2.phase(), Some(TaskPhase::Succeeded));
    let m = metrics(&ctrl).await;
    assert_eq!(completed(&m, &env.ns, "Cancelled"), 1.0);
    assert_eq!(
        sample(
            &m,
            "kelos_reconcile_errors_total",
            &[("controller", "task")]
        ),
        0.0,
        "{m}"
    );
}
