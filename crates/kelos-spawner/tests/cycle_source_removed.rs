//! `onSourceRemoved: Cancel` end to end (contract item 6): real apiserver, fake GitHub. A Task
//! whose item no longer passes the filters is cancelled through its status, with positive
//! verification and the reason in its message; with Ignore or no policy nothing is cancelled.

mod cycle_support;

use cycle_support::*;
use kelos_api::TaskPhase;
use kelos_api::constants::CONDITION_DISCOVERY_FAILED;
use kelos_fake_github::{Fault, NewIssue, NewPull};
use kelos_spawner::item::SourceKind;
use kelos_spawner::planner::{Action, CancelReason, ItemRef};
use serde_json::json;

/// Runs the first cycle (which creates `spawner-<n>`) and moves the Task to Running.
async fn running_task_for(env: &Env, n: u64) -> String {
    let report = env.cycle().await;
    let name = format!("{NAME}-{n}");
    assert!(report.created.contains(&name), "{:?}", report.created);
    env.set_phase(&name, TaskPhase::Running).await;
    name
}

async fn assert_cancelled(env: &Env, name: &str, reason_text: &str) {
    let task = env.task(name).await;
    let status = task.status.clone().unwrap();
    assert_eq!(status.phase, Some(TaskPhase::Cancelled));
    assert_eq!(status.cancelled_by.as_deref(), Some("spawner:spawner"));
    let message = status.message.unwrap_or_default();
    assert!(
        message.contains(reason_text),
        "{message:?} should say {reason_text:?}"
    );
    assert_eq!(status.cancellation_grace_period_seconds, Some(30));
    let ts = env.status().await;
    assert_eq!(ts.total_tasks_cancelled, Some(1));
    assert_eq!(ts.active_tasks, Some(0));
    // Kept for the audit trail; the next cycle changes nothing.
    let again = env.cycle().await;
    assert!(
        again.cancelled.is_empty() && again.created.is_empty(),
        "{again:?}"
    );
    assert_eq!(
        env.task(name).await.status.unwrap().phase,
        Some(TaskPhase::Cancelled)
    );
}

#[tokio::test]
async fn closed_pull_request_cancels_its_running_task() {
    let env = env("sr-pr-closed").await;
    let pr = env
        .repo
        .add_pull(NewPull::new("Add gizmo", "gizmo").head_sha("h1"));
    env.create_spawner(spec(
        json!({"githubPullRequests": {}}),
        policy("Cancel", "Ignore"),
    ))
    .await;
    let name = running_task_for(&env, pr).await;
    env.repo.close(pr);
    let report = env.cycle().await;
    assert_eq!(
        report.cancelled,
        [(name.clone(), CancelReason::SourceRemoved)]
    );
    assert_cancelled(&env, &name, &format!("pull request #{pr} was closed")).await;
}

#[tokio::test]
async fn merged_pull_request_cancels_its_running_task() {
    let env = env("sr-pr-merged").await;
    let pr = env
        .repo
        .add_pull(NewPull::new("Add gizmo", "gizmo").head_sha("h1"));
    env.create_spawner(spec(
        json!({"githubPullRequests": {}}),
        policy("Cancel", "Ignore"),
    ))
    .await;
    let name = running_task_for(&env, pr).await;
    env.repo.merge(pr);
    assert_eq!(env.cycle().await.cancelled.len(), 1);
    assert_cancelled(&env, &name, &format!("pull request #{pr}")).await;
}

#[tokio::test]
async fn closed_issue_cancels_its_running_task() {
    let env = env("sr-issue-closed").await;
    let n = env.repo.add_issue(NewIssue::new("Fix it"));
    env.create_spawner(spec(
        json!({"githubIssues": {}}),
        policy("Cancel", "Ignore"),
    ))
    .await;
    let name = running_task_for(&env, n).await;
    env.repo.close(n);
    assert_eq!(env.cycle().await.cancelled.len(), 1);
    assert_cancelled(&env, &name, &format!("issue #{n} was closed")).await;
}

#[tokio::test]
async fn removed_label_cancels_its_running_task() {
    let env = env("sr-label-removed").await;
    let n = env
        .repo
        .add_issue(NewIssue::new("Fix it").label("kelos/work"));
    let other = env.repo.add_issue(NewIssue::new("Unrelated"));
    env.create_spawner(spec(
        json!({"githubIssues": {"labels": ["kelos/work"]}}),
        policy("Cancel", "Ignore"),
    ))
    .await;
    let name = running_task_for(&env, n).await;
    env.repo.remove_label(n, "kelos/work");
    let report = env.cycle().await;
    assert_eq!(report.cancelled.len(), 1, "{report:?}");
    assert!(env.tasks().await.iter().all(|t| {
        !t.metadata
            .name
            .as_ref()
            .unwrap()
            .ends_with(&format!("-{other}"))
    }));
    assert_cancelled(
        &env,
        &name,
        &format!("label kelos/work was removed from issue #{n}"),
    )
    .await;
}

#[tokio::test]
async fn excluded_label_cancels_its_running_task() {
    let env = env("sr-excluded").await;
    let n = env.repo.add_issue(NewIssue::new("Fix it"));
    env.create_spawner(spec(
        json!({"githubIssues": {"excludeLabels": ["blocked"]}}),
        policy("Cancel", "Ignore"),
    ))
    .await;
    let name = running_task_for(&env, n).await;
    env.repo.add_label(n, "blocked");
    assert_eq!(env.cycle().await.cancelled.len(), 1);
    assert_cancelled(
        &env,
        &name,
        &format!("excluded label blocked was added to issue #{n}"),
    )
    .await;
}

#[tokio::test]
async fn pending_and_waiting_tasks_are_cancelled_too() {
    let env = env("sr-phases").await;
    let a = env.repo.add_issue(NewIssue::new("A"));
    let b = env.repo.add_issue(NewIssue::new("B"));
    env.create_spawner(spec(
        json!({"githubIssues": {}}),
        policy("Cancel", "Ignore"),
    ))
    .await;
    let report = env.cycle().await;
    assert_eq!(report.created.len(), 2);
    env.set_phase(&format!("{NAME}-{a}"), TaskPhase::Pending)
        .await;
    env.set_phase(&format!("{NAME}-{b}"), TaskPhase::Waiting)
        .await;
    env.repo.close(a);
    env.repo.close(b);
    let report = env.cycle().await;
    assert_eq!(report.cancelled.len(), 2, "{report:?}");
    for n in [a, b] {
        assert_eq!(
            env.task(&format!("{NAME}-{n}")).await.phase(),
            Some(TaskPhase::Cancelled)
        );
    }
}

#[tokio::test]
async fn finished_tasks_are_never_cancelled() {
    let env = env("sr-finished").await;
    let n = env.repo.add_issue(NewIssue::new("Fix it"));
    env.create_spawner(spec(
        json!({"githubIssues": {}}),
        policy("Cancel", "Ignore"),
    ))
    .await;
    let name = running_task_for(&env, n).await;
    env.set_phase(&name, TaskPhase::Succeeded).await;
    env.repo.close(n);
    assert!(env.cycle().await.cancelled.is_empty());
    assert_eq!(env.task(&name).await.phase(), Some(TaskPhase::Succeeded));
}

#[tokio::test]
async fn ignore_or_no_policy_cancels_nothing() {
    for (prefix, extra) in [
        ("sr-ignore", policy("Ignore", "Ignore")),
        ("sr-no-policy", json!({})),
    ] {
        let env = env(prefix).await;
        let n = env
            .repo
            .add_issue(NewIssue::new("Fix it").label("kelos/work"));
        let m = env
            .repo
            .add_issue(NewIssue::new("Other").label("kelos/work"));
        env.create_spawner(spec(
            json!({"githubIssues": {"labels": ["kelos/work"]}}),
            extra,
        ))
        .await;
        let report = env.cycle().await;
        assert_eq!(report.created.len(), 2);
        for x in [n, m] {
            env.set_phase(&format!("{NAME}-{x}"), TaskPhase::Running)
                .await;
        }
        env.repo.close(n);
        env.repo.remove_label(m, "kelos/work");
        let report = env.cycle().await;
        assert!(report.cancelled.is_empty(), "{prefix}: {report:?}");
        for x in [n, m] {
            assert_eq!(
                env.task(&format!("{NAME}-{x}")).await.phase(),
                Some(TaskPhase::Running),
                "{prefix}"
            );
        }
        let (status, _, _) = condition(&env.status().await, CONDITION_DISCOVERY_FAILED);
        assert_eq!(status, "False");
    }
}

#[tokio::test]
async fn item_that_still_matches_when_looked_up_is_not_cancelled() {
    // Absence from a listing is not proof: the shell looks the item up and cancels only when
    // it now fails the filters. Here the planner is handed a verification for an item that
    // is still open and matching.
    let env = env("sr-still-matches").await;
    let n = env.repo.add_issue(NewIssue::new("Fix it"));
    env.create_spawner(spec(
        json!({"githubIssues": {}}),
        policy("Cancel", "Ignore"),
    ))
    .await;
    let name = running_task_for(&env, n).await;
    let spawner = env.spawner();
    let prepared = spawner.prepare().await.unwrap();
    let task = env.task(&name).await;
    let verify = Action::VerifyThenCancel {
        name: name.clone(),
        expected_phase: task.phase(),
        resource_version: task.metadata.resource_version.clone(),
        item: ItemRef {
            identity: format!("issue-{n}"),
            kind: Some(SourceKind::Issue),
            number: Some(n as i64),
        },
    };
    let report = spawner.apply_actions(&prepared, vec![verify]).await;
    assert!(report.cancelled.is_empty());
    assert_eq!(env.task(&name).await.phase(), Some(TaskPhase::Running));
    assert_eq!(
        env.gh
            .count_exact("GET", &format!("/repos/{OWNER}/{REPO}/issues/{n}")),
        1
    );
}

#[tokio::test]
async fn failed_lookup_of_a_missing_item_cancels_nothing() {
    // A 404 (deleted or inaccessible) or 500 on the item itself: no cancellation this cycle.
    let env = env("sr-lookup-fails").await;
    let n = env.repo.add_issue(NewIssue::new("Fix it"));
    env.create_spawner(spec(
        json!({"githubIssues": {}}),
        policy("Cancel", "Ignore"),
    ))
    .await;
    let name = running_task_for(&env, n).await;
    env.repo.close(n);
    for code in [404, 500] {
        let fault = env
            .gh
            .add_fault(Fault::status(code).get(&format!("/repos/{OWNER}/{REPO}/issues/{n}")));
        let report = env.cycle().await;
        assert!(report.cancelled.is_empty(), "{code}: {report:?}");
        assert_eq!(env.task(&name).await.phase(), Some(TaskPhase::Running));
        env.gh.remove_fault(fault);
    }
    // With the lookup working again, it is cancelled.
    assert_eq!(env.cycle().await.cancelled.len(), 1);
}
