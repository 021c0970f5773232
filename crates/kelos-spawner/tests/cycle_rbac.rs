//! The chart's spawner role is enough: the ClusterRole `kelos-spawner-role` rendered from
//! `charts/kelos` by `helm template` is applied to the real apiserver, bound in a fresh
//! namespace to ServiceAccount `kelos-spawner` as the controller binds it, and the spawner's
//! cycles and daemon then run *as that ServiceAccount* (impersonation) against the fake GitHub:
//! create Tasks, write TaskSpawner status, report (the annotation patch), cancel a Task whose
//! issue was closed (status patch), delete a finished Task for a retrigger, and watch Tasks and
//! the TaskSpawner. The spawner logs a failed write and carries on, so every warning it emits
//! is captured and must be absent; a control with `tasks/status` removed from the role shows
//! that a missing permission is caught.

mod cycle_support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use chrono::Utc;
use cycle_support::*;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule, Role, RoleBinding};
use kelos_api::constants::{ANNOTATION_GITHUB_COMMENT_ID, ANNOTATION_GITHUB_REPORT_PHASE};
use kelos_api::{TaskPhase, TaskSpawner};
use kelos_fake_github::{NewComment, NewIssue};
use kelos_spawner::cycle::{CycleReport, Spawner};
use kelos_spawner::github::{GitHubClient, REPORT_MARKER};
use kelos_spawner::metrics::SpawnerMetrics;
use kelos_spawner::planner::CancelReason;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::json;

const KUBE_VERSION: &str = "v1.36.3";
const ROLE: &str = "kelos-spawner-role";
const SERVICE_ACCOUNT: &str = "kelos-spawner";

// ---------------------------------------------------------------------------------------------
// The role, from the chart.

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

/// `kelos-spawner-role` exactly as `helm template` renders it (hermetic helm homes).
fn chart_spawner_role() -> ClusterRole {
    let home = Path::new(env!("CARGO_TARGET_TMPDIR")).join("helm-home-cycle-rbac");
    std::fs::create_dir_all(&home).unwrap();
    let mut cmd = Command::new(helm_bin());
    cmd.env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"))
        .env_remove("KUBECONFIG")
        .args(["template", "kelos"])
        .arg(kelos_testenv::repo_root().join("charts/kelos"))
        .args(["--kube-version", KUBE_VERSION])
        .args(["--show-only", "templates/rbac.yaml"]);
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let docs: Vec<Option<serde_json::Value>> =
        serde_saphyr::from_multiple(&text).expect("rendered rbac.yaml parses");
    let mut roles: Vec<ClusterRole> = docs
        .into_iter()
        .flatten()
        .filter(|d| d["kind"] == "ClusterRole" && d["metadata"]["name"] == ROLE)
        .map(|d| serde_json::from_value(d).expect("a ClusterRole"))
        .collect();
    assert_eq!(roles.len(), 1, "one {ROLE} in:\n{text}");
    roles.pop().unwrap()
}

/// Server-side applies the chart's `kelos-spawner-role` (idempotent; tests share it).
async fn apply_chart_role(admin: &Client) -> ClusterRole {
    let role = chart_spawner_role();
    let body = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": { "name": ROLE, "labels": role.metadata.labels },
        "rules": role.rules,
    });
    Api::<ClusterRole>::all(admin.clone())
        .patch(
            ROLE,
            &PatchParams::apply("cycle-rbac-test").force(),
            &Patch::Apply(body),
        )
        .await
        .expect("applying the chart's spawner ClusterRole")
}

/// ServiceAccount `kelos-spawner` and RoleBinding `kelos-spawner` to `role_ref` in `ns`, as the
/// controller creates them; returns the ServiceAccount's user name.
async fn bind_service_account(admin: &Client, ns: &str, role_kind: &str, role: &str) -> String {
    let pp = PostParams::default();
    Api::<ServiceAccount>::namespaced(admin.clone(), ns)
        .create(
            &pp,
            &serde_json::from_value(json!({"metadata": {"name": SERVICE_ACCOUNT}})).unwrap(),
        )
        .await
        .expect("creating the ServiceAccount");
    Api::<RoleBinding>::namespaced(admin.clone(), ns)
        .create(
            &pp,
            &serde_json::from_value(json!({
                "metadata": {"name": SERVICE_ACCOUNT},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": role_kind,
                    "name": role,
                },
                "subjects": [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": ns}],
            }))
            .unwrap(),
        )
        .await
        .expect("creating the RoleBinding");
    format!("system:serviceaccount:{ns}:{SERVICE_ACCOUNT}")
}

/// A client that acts as `user` (the admin client's credentials, impersonating).
async fn impersonating(user: &str) -> Client {
    let mut config = kelos_testenv::shared().await.config().clone();
    config.auth_info.impersonate = Some(user.to_string());
    Client::try_from(config).expect("an impersonating client")
}

/// A spawner process for `NAME` in `env.ns` that talks to the apiserver as `client`.
fn spawner_as(env: &Env, client: &Client) -> Spawner {
    let metrics = Arc::new(SpawnerMetrics::new());
    let github = Arc::new(
        GitHubClient::new(env.github_config().metrics(metrics.clone())).expect("GitHub client"),
    );
    Spawner::new(client.clone(), &env.ns, NAME, Some(github), metrics)
}

// ---------------------------------------------------------------------------------------------
// Every warning or error the spawner (and kube) logs on this test's thread.

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// Captures WARN and ERROR events for as long as the guard lives. `#[tokio::test]` runs
    /// the test, and everything it spawns, on this one thread.
    fn start() -> (Captured, tracing::subscriber::DefaultGuard) {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        (captured, tracing::subscriber::set_default(subscriber))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    #[track_caller]
    fn assert_clean(&self, when: &str) {
        let text = self.text();
        assert!(
            text.is_empty(),
            "{when}: the spawner logged warnings as its ServiceAccount \
             (forbidden = a permission missing from {ROLE}):\n{text}"
        );
    }
}

async fn cycle(spawner: &Spawner, log: &Captured, when: &str) -> CycleReport {
    let report = spawner.run_cycle().await.unwrap_or_else(|e| {
        panic!("{when}: the cycle failed as the spawner's ServiceAccount: {e}")
    });
    assert_eq!(report.discovery_error, None, "{when}: {report:?}");
    log.assert_clean(when);
    report
}

async fn wait_for<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn trigger(env: &Env, n: u64, hours_ago: i64) {
    env.repo.add_comment_with(
        n,
        NewComment::new("alice", TRIGGER)
            .created_at(Utc::now() - chrono::Duration::hours(hours_ago)),
    );
}

// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn chart_spawner_role_is_enough_for_create_report_status_cancel_and_retrigger() {
    let env = env("rbac-cycle").await;
    let role = apply_chart_role(&env.client).await;
    let user = bind_service_account(&env.client, &env.ns, "ClusterRole", ROLE).await;
    let as_spawner = impersonating(&user).await;
    // From here on (the control plane is up): the spawner's warnings, and kube's errors.
    let (log, _guard) = Captured::start();

    // Issue `a` will be closed while its Task runs (onSourceRemoved: Cancel); issue `b`'s Task
    // finishes and is triggered again (the original's retrigger: delete and recreate).
    let a = env.repo.add_issue(NewIssue::new("Fix a"));
    let b = env.repo.add_issue(NewIssue::new("Fix b"));
    trigger(&env, a, 3);
    trigger(&env, b, 3);
    env.create_spawner(spec(
        json!({"githubIssues": {
            "commentPolicy": {"triggerComment": TRIGGER},
            "reporting": {"enabled": true},
        }}),
        policy("Cancel", "Ignore"),
    ))
    .await;
    let task_a = format!("{NAME}-{a}");
    let task_b = format!("{NAME}-{b}");

    // 1. Create both Tasks and write status.
    let spawner = spawner_as(&env, &as_spawner);
    let report = cycle(&spawner, &log, "first cycle").await;
    let mut created = report.created.clone();
    created.sort();
    let mut expected = vec![task_a.clone(), task_b.clone()];
    expected.sort();
    assert_eq!(created, expected, "{report:?}");
    let status = env.status().await;
    assert_eq!(status.total_tasks_created, Some(2), "{status:?}");
    assert_eq!(status.active_tasks, Some(2), "{status:?}");
    assert!(status.last_discovery_time.is_some(), "{status:?}");
    let ts = env.spawners_api().get(NAME).await.unwrap();
    assert!(
        ts.metadata
            .managed_fields
            .unwrap_or_default()
            .iter()
            .any(|m| m.manager.as_deref() == Some("kelos-spawner")
                && m.subresource.as_deref() == Some("status")),
        "the status was applied by the spawner's field manager"
    );

    // 2. The controller moves them on; the spawner reports (comment + annotation patch).
    env.set_phase(&task_a, TaskPhase::Running).await;
    let completed = Utc::now() - chrono::Duration::hours(2);
    env.tasks_api()
        .patch_status(
            &task_b,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {
                "phase": "Succeeded",
                "completionTime": completed.to_rfc3339(),
            }})),
        )
        .await
        .unwrap();
    let report = cycle(&spawner, &log, "reporting cycle").await;
    assert!(
        report.created.is_empty() && report.cancelled.is_empty() && report.deleted.is_empty(),
        "{report:?}"
    );
    for (task, n, phase) in [(&task_a, a, "accepted"), (&task_b, b, "succeeded")] {
        let t = env.task(task).await;
        assert_eq!(t.annotations()[ANNOTATION_GITHUB_REPORT_PHASE], phase);
        let comment = env
            .repo
            .comments(n)
            .into_iter()
            .find(|c| c.body.contains(REPORT_MARKER))
            .unwrap_or_else(|| panic!("a report comment on #{n}"));
        assert_eq!(
            t.annotations()[ANNOTATION_GITHUB_COMMENT_ID],
            comment.id.to_string()
        );
    }

    // 3. Issue `a` is closed: its Task is cancelled through the status subresource. Issue `b`
    // is triggered after its Task finished: the finished Task is deleted and a new one created.
    env.repo.close(a);
    trigger(&env, b, 1);
    let report = cycle(&spawner, &log, "cancel and retrigger cycle").await;
    assert_eq!(
        report.cancelled,
        [(task_a.clone(), CancelReason::SourceRemoved)],
        "{report:?}"
    );
    assert_eq!(report.deleted, std::slice::from_ref(&task_b), "{report:?}");
    assert_eq!(report.created.len(), 1, "{report:?}");
    let replacement = env.task(&report.created[0]).await;
    assert!(
        replacement.status.is_none(),
        "a fresh Task: {replacement:?}"
    );

    let cancelled = env.task(&task_a).await;
    let st = cancelled.status.clone().unwrap();
    assert_eq!(st.phase, Some(TaskPhase::Cancelled));
    assert_eq!(
        st.cancelled_by.as_deref(),
        Some(&*format!("spawner:{NAME}"))
    );
    assert!(
        st.message
            .as_deref()
            .is_some_and(|m| m.contains(&format!("issue #{a} was closed"))),
        "{st:?}"
    );
    assert_eq!(st.cancellation_grace_period_seconds, Some(30));
    assert_eq!(
        cancelled.annotations()[ANNOTATION_GITHUB_REPORT_PHASE],
        "cancelled",
        "the cancellation was reported"
    );
    let edited = env
        .repo
        .comments(a)
        .into_iter()
        .find(|c| c.body.contains(REPORT_MARKER))
        .unwrap();
    assert!(
        edited
            .body
            .contains(&format!("was **cancelled** by `spawner:{NAME}`")),
        "{}",
        edited.body
    );
    let status = env.status().await;
    assert_eq!(status.total_tasks_created, Some(3), "{status:?}");
    assert_eq!(status.total_tasks_cancelled, Some(1), "{status:?}");
    assert_eq!(status.active_tasks, Some(1), "{status:?}");

    // 4. Steady state: nothing more to do, still nothing refused.
    let report = cycle(&spawner, &log, "steady cycle").await;
    assert!(
        report.created.is_empty() && report.cancelled.is_empty() && report.deleted.is_empty(),
        "{report:?}"
    );

    // What was proven enough is the chart's trimmed role, nothing wider.
    let rules = role.rules.unwrap_or_default();
    assert!(
        rules.iter().all(|r| {
            r.api_groups.as_deref() == Some(&["kelos.dev".to_string()][..])
                && !r.verbs.iter().any(|v| v == "*" || v == "update")
                && r.resource_names.is_none()
        }),
        "{rules:?}"
    );
}

#[tokio::test]
async fn chart_spawner_role_is_enough_for_the_daemons_watches() {
    let env = env("rbac-daemon").await;
    apply_chart_role(&env.client).await;
    let user = bind_service_account(&env.client, &env.ns, "ClusterRole", ROLE).await;
    let as_spawner = impersonating(&user).await;
    // From here on (the control plane is up): the spawner's warnings, and kube's errors.
    let (log, _guard) = Captured::start();

    let first = env.repo.add_issue(NewIssue::new("First"));
    // A poll interval far beyond the test: every cycle after the first is a watch wake-up.
    env.create_spawner(spec(
        json!({"githubIssues": {"reporting": {"enabled": true}, "pollInterval": "1h"}}),
        json!({}),
    ))
    .await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(kelos_spawner::daemon::run(
        spawner_as(&env, &as_spawner),
        async move {
            let _ = stopped.await;
        },
    ));
    let first_task = format!("{NAME}-{first}");
    wait_for("the first cycle's Task", || async {
        env.tasks_api().get_opt(&first_task).await.unwrap()
    })
    .await;
    // Let the watches settle past their initial list before changing anything.
    tokio::time::sleep(Duration::from_secs(1)).await;

    // The Task watch: a phase change wakes a cycle that reports it.
    env.set_phase(&first_task, TaskPhase::Pending).await;
    wait_for("the Task watch to wake a reporting cycle", || async {
        let t = env.task(&first_task).await;
        (t.annotations()
            .get(ANNOTATION_GITHUB_REPORT_PHASE)
            .map(String::as_str)
            == Some("accepted"))
        .then_some(())
    })
    .await;

    // The TaskSpawner watch: a spec change (new generation) wakes a cycle that finds a new
    // issue.
    let second = env.repo.add_issue(NewIssue::new("Second"));
    env.patch_spawner_spec(json!({"maxConcurrency": 5})).await;
    let second_task = format!("{NAME}-{second}");
    wait_for("the TaskSpawner watch to wake a cycle", || async {
        env.tasks_api().get_opt(&second_task).await.unwrap()
    })
    .await;

    drop(stop);
    tokio::time::timeout(Duration::from_secs(10), daemon)
        .await
        .expect("the daemon stops")
        .unwrap();
    log.assert_clean("daemon");
    let ts: TaskSpawner = env.spawners_api().get(NAME).await.unwrap();
    assert_eq!(
        ts.status.unwrap_or_default().total_tasks_created,
        Some(2),
        "status written by the daemon"
    );
}

/// The control: the same flow with `tasks/status` taken out of the chart's rules is refused,
/// and the refusal shows up where the tests above look for it.
#[tokio::test]
async fn a_role_without_tasks_status_cannot_cancel_and_that_is_caught() {
    let env = env("rbac-control").await;
    let chart = chart_spawner_role();
    let rules: Vec<PolicyRule> = chart
        .rules
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.resources.as_deref() != Some(&["tasks/status".to_string()][..]))
        .collect();
    let without = "kelos-spawner-without-task-status";
    Api::<Role>::namespaced(env.client.clone(), &env.ns)
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": without}, "rules": rules}))
                .unwrap(),
        )
        .await
        .unwrap();
    let user = bind_service_account(&env.client, &env.ns, "Role", without).await;
    let as_spawner = impersonating(&user).await;
    // From here on (the control plane is up): the spawner's warnings, and kube's errors.
    let (log, _guard) = Captured::start();

    let n = env.repo.add_issue(NewIssue::new("Fix it"));
    env.create_spawner(spec(
        json!({"githubIssues": {}}),
        policy("Cancel", "Ignore"),
    ))
    .await;
    let spawner = spawner_as(&env, &as_spawner);
    let report = cycle(&spawner, &log, "create without tasks/status").await;
    let name = format!("{NAME}-{n}");
    assert_eq!(report.created, std::slice::from_ref(&name));
    env.set_phase(&name, TaskPhase::Running).await;
    env.repo.close(n);
    let report = spawner.run_cycle().await.unwrap();
    assert!(report.cancelled.is_empty(), "{report:?}");
    assert_eq!(env.task(&name).await.phase(), Some(TaskPhase::Running));
    let text = log.text();
    assert!(
        text.contains("cancelling Task failed") && text.to_lowercase().contains("forbidden"),
        "{text}"
    );
    assert!(text.contains("tasks/status"), "{text}");
}
