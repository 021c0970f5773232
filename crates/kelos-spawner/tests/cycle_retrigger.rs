//! `onRetrigger: Cancel` end to end (contract item 7): a newer trigger cancels the active Task
//! and creates one replacement in the same cycle, and never loops; a new cron tick cancels the
//! previous tick's running Task; a spawner killed between the cancel and the create converges
//! to exactly one active Task per item. With Ignore, the original's behaviour. Real apiserver,
//! fake GitHub.

mod cycle_support;

use chrono::{Duration, Utc};
use cycle_support::*;
use kelos_api::TaskPhase;
use kelos_api::constants::{ANNOTATION_HEAD_SHA, ANNOTATION_TRIGGER_TIME};
use kelos_fake_github::{NewComment, NewIssue, NewPull};
use kelos_spawner::planner::{Action, CancelReason};
use kube::ResourceExt;
use kube::api::{Patch, PatchParams};
use serde_json::json;

fn trigger_spec(on_retrigger: &str) -> serde_json::Value {
    spec(
        json!({"githubIssues": {"commentPolicy": {"triggerComment": TRIGGER}}}),
        policy("Ignore", on_retrigger),
    )
}

fn comment_trigger(env: &Env, n: u64, hours_ago: i64) {
    env.repo.add_comment_with(
        n,
        NewComment::new("alice", TRIGGER).created_at(Utc::now() - Duration::hours(hours_ago)),
    );
}

#[tokio::test]
async fn new_trigger_cancels_running_pending_and_waiting_tasks_and_replaces_each_once() {
    let env = env("rt-phases").await;
    let items: Vec<u64> = (0..3)
        .map(|i| env.repo.add_issue(NewIssue::new(format!("Item {i}"))))
        .collect();
    for n in &items {
        comment_trigger(&env, *n, 3);
    }
    env.create_spawner(trigger_spec("Cancel")).await;
    let report = env.cycle().await;
    assert_eq!(report.created.len(), 3);
    let phases = [TaskPhase::Running, TaskPhase::Pending, TaskPhase::Waiting];
    for (n, p) in items.iter().zip(phases) {
        env.set_phase(&format!("{NAME}-{n}"), p).await;
    }

    for n in &items {
        comment_trigger(&env, *n, 1);
    }
    let report = env.cycle().await;
    assert_eq!(report.cancelled.len(), 3, "{report:?}");
    assert!(
        report
            .cancelled
            .iter()
            .all(|(_, r)| *r == CancelReason::Retrigger)
    );
    assert_eq!(report.created.len(), 3, "{report:?}");
    for n in &items {
        let old = env.task(&format!("{NAME}-{n}")).await;
        let status = old.status.clone().unwrap();
        assert_eq!(status.phase, Some(TaskPhase::Cancelled), "kept, cancelled");
        assert_eq!(status.cancelled_by.as_deref(), Some("spawner:spawner"));
        let msg = status.message.unwrap();
        assert!(
            msg.contains(&format!("issue #{n} was triggered again")),
            "{msg}"
        );
        assert_eq!(
            env.active_for(&format!("issue-{n}")).await,
            [format!("{NAME}-{n}-2")]
        );
        let replacement = env.task(&format!("{NAME}-{n}-2")).await;
        assert_ne!(
            replacement.annotations()[ANNOTATION_TRIGGER_TIME],
            old.annotations()[ANNOTATION_TRIGGER_TIME]
        );
    }
    assert_eq!(env.status().await.total_tasks_cancelled, Some(3));

    // The next cycles neither cancel the replacements nor create more, also once they run.
    for round in 0..2 {
        let report = env.cycle().await;
        assert!(report.cancelled.is_empty(), "round {round}: {report:?}");
        assert!(report.created.is_empty(), "round {round}: {report:?}");
        for n in &items {
            env.set_phase(&format!("{NAME}-{n}-2"), TaskPhase::Running)
                .await;
        }
    }
    assert_eq!(env.tasks().await.len(), 6);
}

#[tokio::test]
async fn ignore_keeps_the_originals_retrigger() {
    let env = env("rt-ignore").await;
    let n = env.repo.add_issue(NewIssue::new("Item"));
    comment_trigger(&env, n, 5);
    env.create_spawner(trigger_spec("Ignore")).await;
    assert_eq!(env.cycle().await.created.len(), 1);
    let name = format!("{NAME}-{n}");
    env.set_phase(&name, TaskPhase::Running).await;

    // A newer trigger while it runs: nothing happens (the original skips active Tasks).
    comment_trigger(&env, n, 4);
    let report = env.cycle().await;
    assert!(
        report.cancelled.is_empty() && report.created.is_empty(),
        "{report:?}"
    );

    // It finishes after that trigger: still nothing (trigger before completionTime).
    let completed = Utc::now() - Duration::hours(3);
    env.tasks_api()
        .patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(
                json!({"status": {"phase": "Succeeded", "completionTime": completed.to_rfc3339()}}),
            ),
        )
        .await
        .unwrap();
    let report = env.cycle().await;
    assert!(
        report.created.is_empty() && report.deleted.is_empty(),
        "{report:?}"
    );

    // A trigger after completion: delete and recreate.
    comment_trigger(&env, n, 1);
    let report = env.cycle().await;
    assert_eq!(report.deleted, std::slice::from_ref(&name));
    assert_eq!(report.created.len(), 1);
    assert!(report.cancelled.is_empty());
    let tasks = env.tasks().await;
    assert_eq!(tasks.len(), 1, "the finished Task was deleted");
    assert!(tasks[0].status.is_none(), "a fresh Task");
}

#[tokio::test]
async fn killed_between_cancel_and_create_converges_to_one_active_task() {
    let env = env("rt-kill").await;
    let n = env.repo.add_issue(NewIssue::new("Item"));
    comment_trigger(&env, n, 3);
    env.create_spawner(trigger_spec("Cancel")).await;
    env.cycle().await;
    let old = format!("{NAME}-{n}");
    env.set_phase(&old, TaskPhase::Running).await;
    comment_trigger(&env, n, 1);

    // The spawner plans cancel + create, applies the cancel and dies.
    let dying = env.spawner();
    let prepared = dying.prepare().await.unwrap();
    let cancels: Vec<Action> = prepared
        .actions
        .iter()
        .filter(|a| matches!(a, Action::Cancel { .. }))
        .cloned()
        .collect();
    assert_eq!(cancels.len(), 1);
    assert!(
        prepared
            .actions
            .iter()
            .any(|a| matches!(a, Action::Create { .. }))
    );
    let partial = dying.apply_actions(&prepared, cancels).await;
    assert_eq!(partial.cancelled.len(), 1);
    drop(dying);
    let cancelled = env.task(&old).await;
    assert_eq!(cancelled.phase(), Some(TaskPhase::Cancelled));
    assert!(env.active_for(&format!("issue-{n}")).await.is_empty());

    // A new process: creates the replacement, cancels nothing again.
    let report = env.cycle().await;
    assert!(report.cancelled.is_empty(), "{report:?}");
    assert_eq!(report.created, [format!("{NAME}-{n}-2")]);
    assert_eq!(
        env.task(&old).await.metadata.resource_version,
        cancelled.metadata.resource_version,
        "the cancelled Task is not touched again"
    );
    // And stays put.
    let report = env.cycle().await;
    assert!(
        report.cancelled.is_empty() && report.created.is_empty(),
        "{report:?}"
    );
    assert_eq!(env.active_for(&format!("issue-{n}")).await.len(), 1);
}

#[tokio::test]
async fn killed_after_create_before_status_converges_too() {
    let env = env("rt-kill-late").await;
    let n = env.repo.add_issue(NewIssue::new("Item"));
    comment_trigger(&env, n, 3);
    env.create_spawner(trigger_spec("Cancel")).await;
    env.cycle().await;
    env.set_phase(&format!("{NAME}-{n}"), TaskPhase::Running)
        .await;
    comment_trigger(&env, n, 1);

    let dying = env.spawner();
    let prepared = dying.prepare().await.unwrap();
    let actions = prepared.actions.clone();
    let partial = dying.apply_actions(&prepared, actions).await;
    assert_eq!((partial.cancelled.len(), partial.created.len()), (1, 1));
    drop(dying);

    let report = env.cycle().await;
    assert!(
        report.cancelled.is_empty() && report.created.is_empty(),
        "{report:?}"
    );
    assert_eq!(env.active_for(&format!("issue-{n}")).await.len(), 1);
    assert_eq!(env.tasks().await.len(), 2);
}

#[tokio::test]
async fn new_head_commit_cancels_a_review_task() {
    let env = env("rt-head").await;
    let pr = env
        .repo
        .add_pull(NewPull::new("Add gizmo", "gizmo").head_sha("h1"));
    env.create_spawner(spec(
        json!({"githubPullRequests": {}}),
        policy("Ignore", "Cancel"),
    ))
    .await;
    env.cycle().await;
    let old = format!("{NAME}-{pr}");
    env.set_phase(&old, TaskPhase::Running).await;
    env.repo.push_head(pr, "h2");
    let report = env.cycle().await;
    assert_eq!(
        report.cancelled,
        [(old.clone(), CancelReason::NewHeadCommit)]
    );
    let replacement = env.task(&format!("{NAME}-{pr}-2")).await;
    assert_eq!(replacement.annotations()[ANNOTATION_HEAD_SHA], "h2");
    let report = env.cycle().await;
    assert!(
        report.cancelled.is_empty() && report.created.is_empty(),
        "{report:?}"
    );
}

#[tokio::test]
async fn a_task_pushing_to_the_pull_requests_branch_is_not_cancelled_by_its_own_commits() {
    let env = env("rt-own-push").await;
    let pr = env
        .repo
        .add_pull(NewPull::new("Add gizmo", "gizmo").head_sha("h1"));
    let mut s = spec(
        json!({"githubPullRequests": {}}),
        policy("Ignore", "Cancel"),
    );
    s["taskTemplate"]["branch"] = json!("{{.Branch}}");
    env.create_spawner(s).await;
    env.cycle().await;
    env.set_phase(&format!("{NAME}-{pr}"), TaskPhase::Running)
        .await;
    env.repo.push_head(pr, "h2");
    let report = env.cycle().await;
    assert!(
        report.cancelled.is_empty() && report.created.is_empty(),
        "{report:?}"
    );
}

#[tokio::test]
async fn new_cron_tick_cancels_the_previous_ticks_running_task() {
    let env = env("rt-cron").await;
    let created = env
        .create_spawner(spec(
            json!({"cron": {"schedule": "0 * * * *"}}),
            json!({"cancellationPolicy": {"onRetrigger": "Cancel", "gracePeriodSeconds": 5}}),
        ))
        .await;
    let t0 =
        kelos_spawner::status::from_k8s_time(created.metadata.creation_timestamp.as_ref().unwrap())
            .unwrap();
    *env.clock.lock().unwrap() = t0 + Duration::hours(1);
    let report = env.cycle().await;
    assert_eq!(report.created.len(), 1, "{report:?}");
    let first = report.created[0].clone();
    env.set_phase(&first, TaskPhase::Running).await;

    *env.clock.lock().unwrap() = t0 + Duration::hours(2);
    let report = env.cycle().await;
    assert_eq!(
        report.cancelled,
        [(first.clone(), CancelReason::CronOverlap)]
    );
    assert_eq!(report.created.len(), 1);
    let second = report.created[0].clone();
    assert_ne!(first, second);
    let cancelled = env.task(&first).await.status.unwrap();
    assert_eq!(cancelled.phase, Some(TaskPhase::Cancelled));
    assert_eq!(cancelled.cancellation_grace_period_seconds, Some(5));
    assert!(cancelled.message.unwrap().contains("no overlapping runs"));

    // No new tick: nothing happens.
    *env.clock.lock().unwrap() = t0 + Duration::hours(2) + Duration::minutes(1);
    let report = env.cycle().await;
    assert!(
        report.cancelled.is_empty() && report.created.is_empty(),
        "{report:?}"
    );
    assert_eq!(
        env.active_for(&format!("cron-{}", &second[NAME.len() + 1..]))
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn cron_ticks_overlap_under_ignore_as_in_the_original() {
    let env = env("rt-cron-ignore").await;
    let created = env
        .create_spawner(spec(json!({"cron": {"schedule": "0 * * * *"}}), json!({})))
        .await;
    let t0 =
        kelos_spawner::status::from_k8s_time(created.metadata.creation_timestamp.as_ref().unwrap())
            .unwrap();
    *env.clock.lock().unwrap() = t0 + Duration::hours(1);
    let first = env.cycle().await.created[0].clone();
    env.set_phase(&first, TaskPhase::Running).await;
    *env.clock.lock().unwrap() = t0 + Duration::hours(2);
    let report = env.cycle().await;
    assert!(report.cancelled.is_empty());
    assert_eq!(report.created.len(), 1);
    assert_eq!(env.task(&first).await.phase(), Some(TaskPhase::Running));
}
