//! The process around the cycle: status after a cycle, suspend, reporting back to GitHub, the
//! daemon's wake-ups on Task phase changes, and the binary's one-shot exit codes. Real
//! apiserver, fake GitHub.

mod cycle_support;

use std::time::Duration;

use cycle_support::*;
use kelos_api::constants::{
    ANNOTATION_GITHUB_COMMENT_ID, ANNOTATION_GITHUB_REPORT_PHASE, CONDITION_SUSPENDED,
    CONDITION_TASK_BUDGET_EXHAUSTED,
};
use kelos_api::{TaskPhase, TaskSpawnerPhase};
use kelos_fake_github::{Fault, NewComment, NewIssue};
use kelos_spawner::github::REPORT_MARKER;
use kube::ResourceExt;
use serde_json::json;

#[tokio::test]
async fn status_after_a_cycle() {
    let env = env("st-basic").await;
    for i in 0..4 {
        env.repo.add_issue(NewIssue::new(format!("Issue {i}")));
    }
    env.create_spawner(spec(
        json!({"githubIssues": {}}),
        json!({"maxTotalTasks": 3, "maxConcurrency": 2}),
    ))
    .await;
    let report = env.cycle().await;
    assert_eq!(report.created.len(), 2);
    let s = env.status().await;
    assert_eq!(s.phase, Some(TaskSpawnerPhase::Running));
    assert_eq!(s.total_discovered, Some(4));
    assert_eq!(s.total_tasks_created, Some(2));
    assert_eq!(s.active_tasks, Some(2));
    assert_eq!(s.total_tasks_cancelled, Some(0));
    assert!(s.last_discovery_time.is_some());
    assert_eq!(condition(&s, CONDITION_SUSPENDED).0, "False");
    assert_eq!(condition(&s, CONDITION_TASK_BUDGET_EXHAUSTED).0, "False");

    // One finishes: one more slot, and then the budget (3) is exhausted.
    let first = report.created[0].clone();
    env.set_phase(&first, TaskPhase::Succeeded).await;
    let report = env.cycle().await;
    assert_eq!(report.created.len(), 1);
    let s = env.status().await;
    assert_eq!(s.total_tasks_created, Some(3));
    assert_eq!(s.active_tasks, Some(2));
    let (st, reason, msg) = condition(&s, CONDITION_TASK_BUDGET_EXHAUSTED);
    assert_eq!((st.as_str(), reason.as_str()), ("True", "BudgetReached"));
    assert_eq!(msg, "Total tasks created (3) has reached maxTotalTasks (3)");
    for t in env.tasks().await {
        env.set_phase(&t.name_any(), TaskPhase::Succeeded).await;
    }
    assert!(env.cycle().await.created.is_empty(), "budget exhausted");
}

#[tokio::test]
async fn suspended_spawner_neither_discovers_nor_cancels() {
    let env = env("st-suspend").await;
    let n = env.repo.add_issue(NewIssue::new("Issue"));
    env.create_spawner(spec(
        json!({"githubIssues": {}}),
        policy("Cancel", "Cancel"),
    ))
    .await;
    env.cycle().await;
    env.set_phase(&format!("{NAME}-{n}"), TaskPhase::Running)
        .await;
    env.patch_spawner_spec(json!({"suspend": true})).await;
    env.repo.close(n);
    env.gh.clear_log();
    for _ in 0..2 {
        let report = env.cycle().await;
        assert!(report.suspended);
        assert!(report.cancelled.is_empty() && report.created.is_empty());
    }
    assert_eq!(
        env.gh.count("GET", "/repos"),
        0,
        "no discovery while suspended"
    );
    assert_eq!(
        env.task(&format!("{NAME}-{n}")).await.phase(),
        Some(TaskPhase::Running)
    );
    let s = env.status().await;
    assert_eq!(s.phase, Some(TaskSpawnerPhase::Suspended));
    assert_eq!(s.message.as_deref(), Some("Suspended by user"));
    let (st, reason, _) = condition(&s, CONDITION_SUSPENDED);
    assert_eq!((st.as_str(), reason.as_str()), ("True", "UserSuspended"));
    // Resumed: the closed issue's Task is cancelled now.
    env.patch_spawner_spec(json!({"suspend": false})).await;
    assert_eq!(env.cycle().await.cancelled.len(), 1);
    assert_eq!(
        condition(&env.status().await, CONDITION_SUSPENDED).0,
        "False"
    );
}

#[tokio::test]
async fn reporting_comments_follow_the_task_through_cancellation() {
    let env = env("st-report").await;
    let n = env.repo.add_issue(NewIssue::new("Issue"));
    env.repo.add_comment_with(
        n,
        NewComment::new("alice", TRIGGER)
            .created_at(chrono::Utc::now() - chrono::Duration::hours(2)),
    );
    env.create_spawner(spec(
        json!({"githubIssues": {"commentPolicy": {"triggerComment": TRIGGER}, "reporting": {"enabled": true}}}),
        policy("Ignore", "Cancel"),
    ))
    .await;
    env.cycle().await;
    let first = format!("{NAME}-{n}");
    assert!(
        env.repo.comments(n).len() == 1,
        "no report before the Task has a phase"
    );
    env.set_phase(&first, TaskPhase::Pending).await;
    env.cycle().await;
    let comments = env.repo.comments(n);
    assert_eq!(comments.len(), 2);
    let report = &comments[1];
    assert!(
        report.body.contains("has been **accepted**"),
        "{}",
        report.body
    );
    assert!(report.body.contains(REPORT_MARKER));
    let task = env.task(&first).await;
    assert_eq!(
        task.annotations()[ANNOTATION_GITHUB_COMMENT_ID],
        report.id.to_string()
    );
    assert_eq!(
        task.annotations()[ANNOTATION_GITHUB_REPORT_PHASE],
        "accepted"
    );

    // Running is still "accepted": no new request.
    env.set_phase(&first, TaskPhase::Running).await;
    env.gh.clear_log();
    env.cycle().await;
    assert_eq!(env.gh.count("POST", "/repos"), 0);
    assert_eq!(env.gh.count("PATCH", "/repos"), 0);

    // A newer trigger: the Task is cancelled and its comment says so; the replacement gets
    // its own comment once it has a phase. The report comments never retrigger anything.
    env.repo.add_comment(n, "alice", TRIGGER);
    let cycle = env.cycle().await;
    assert_eq!(cycle.cancelled.len(), 1);
    let edited = env
        .repo
        .comments(n)
        .into_iter()
        .find(|c| c.id == report.id)
        .unwrap();
    assert!(
        edited
            .body
            .contains("was **cancelled** by `spawner:spawner`"),
        "{}",
        edited.body
    );
    assert_eq!(
        env.task(&first).await.annotations()[ANNOTATION_GITHUB_REPORT_PHASE],
        "cancelled"
    );
    let second = format!("{NAME}-{n}-2");
    env.set_phase(&second, TaskPhase::Running).await;
    let cycle = env.cycle().await;
    assert!(
        cycle.cancelled.is_empty() && cycle.created.is_empty(),
        "{cycle:?}"
    );
    let reports: Vec<_> = env
        .repo
        .comments(n)
        .into_iter()
        .filter(|c| c.body.contains(REPORT_MARKER))
        .collect();
    assert_eq!(reports.len(), 2, "one comment per Task");
    env.set_phase(&second, TaskPhase::Succeeded).await;
    env.cycle().await;
    let last = env
        .repo
        .comments(n)
        .into_iter()
        .rfind(|c| c.body.contains(REPORT_MARKER))
        .unwrap();
    assert!(last.body.contains("has **succeeded**"), "{}", last.body);
}

#[tokio::test]
async fn daemon_cycles_at_once_when_a_task_changes_phase() {
    let env = env("st-daemon").await;
    env.repo.add_issue(NewIssue::new("A"));
    env.repo.add_issue(NewIssue::new("B"));
    env.create_spawner(spec(
        json!({"githubIssues": {"pollInterval": "1h"}}),
        json!({"maxConcurrency": 1}),
    ))
    .await;
    let spawner = env.spawner();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let daemon = tokio::spawn(kelos_spawner::daemon::run(spawner, async {
        let _ = stop_rx.await;
    }));
    let first = wait_for(|| async { env.tasks().await.len() == 1 }).await;
    assert!(first, "the first cycle creates one Task");
    // Give the watchers time to list; then finish the Task: a cycle follows at once, not
    // after the 1h poll interval.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let name = env.tasks().await[0].name_any();
    env.set_phase(&name, TaskPhase::Succeeded).await;
    assert!(
        wait_for(|| async { env.tasks().await.len() == 2 }).await,
        "a phase change wakes the daemon"
    );
    let _ = stop_tx.send(());
    tokio::time::timeout(Duration::from_secs(10), daemon)
        .await
        .expect("the daemon stops on shutdown")
        .unwrap();
}

async fn wait_for<F, Fut>(mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test]
async fn one_shot_binary_exits_zero_on_success_and_non_zero_on_failure() {
    let env = env("st-oneshot").await;
    env.repo.add_issue(NewIssue::new("A"));
    env.create_spawner(spec(json!({"githubIssues": {}}), json!({})))
        .await;
    let cluster = kelos_testenv::shared().await;
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_kelos-spawner"))
            .args([
                "--taskspawner-name",
                NAME,
                "--taskspawner-namespace",
                &env.ns,
                "--github-owner",
                OWNER,
                "--github-repo",
                REPO,
                "--github-api-base-url",
                &env.gh.url(),
                "--one-shot",
            ])
            .arg(format!(
                "--kubeconfig={}",
                cluster.kubeconfig_path().display()
            ))
            .env("GITHUB_TOKEN", "secret-token-value")
            .output()
            .expect("running kelos-spawner")
    };
    let ok = run();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(env.tasks().await.len(), 1);
    let logs = format!(
        "{}{}",
        String::from_utf8_lossy(&ok.stdout),
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(!logs.contains("secret-token-value"), "tokens never in logs");

    env.gh
        .add_fault(Fault::status(500).get("/repos/acme/widgets/issues"));
    let failed = run();
    assert_eq!(
        failed.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&failed.stderr)
    );
    assert_eq!(
        condition(
            &env.status().await,
            kelos_api::constants::CONDITION_DISCOVERY_FAILED
        )
        .0,
        "True"
    );
}
