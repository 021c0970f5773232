//! Cancellation, controller side (contract items 2-5), on the real apiserver.

mod task_support;

use std::time::{Duration, Instant};

use kelos_api::TaskPhase;
use kelos_api::constants::ANNOTATION_COMPLETION_RECORDED;
use kube::ResourceExt;
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::json;
use task_support::*;

/// The Job is gone, and stays gone while the controller keeps reconciling the Task.
async fn job_gone_for_good(env: &Env, name: &str) {
    eventually(&format!("Job {name} deleted"), || env.job_gone(name)).await;
    // Poke the Task so it is reconciled again, then check nothing came back.
    env.poke(name).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!env.job_exists(name).await, "Job {name} was recreated");
}

/// t1 Running on branch `fix` of Workspace `ws` with its pod `t1-pod`, and t2 Waiting for
/// that branch; returns t1 as it turned Running.
async fn running_with_a_waiting_successor(env: &Env) -> kelos_api::Task {
    env.workspace("ws").await;
    env.create(on_branch(task("t1"), "ws", "fix")).await;
    env.wait_job("t1").await;
    env.pod("t1", "t1-pod").await;
    env.job_running("t1").await;
    let running = env.wait_phase("t1", TaskPhase::Running).await;
    env.create(on_branch(task("t2"), "ws", "fix")).await;
    env.wait_phase("t2", TaskPhase::Waiting).await;
    running
}

#[tokio::test]
async fn cancel_while_pending() {
    let env = Env::new("cancel-pending").await;
    let ctrl = env.start().await;
    env.create(task("t1")).await;
    env.wait_phase("t1", TaskPhase::Pending).await;
    env.wait_job("t1").await;

    env.cancel("t1", json!({})).await.unwrap();
    job_gone_for_good(&env, "t1").await;
    let t = env.wait_task("t1", "marker", recorded).await;
    let s = status_of(&t);
    assert_eq!(s.phase, Some(TaskPhase::Cancelled));
    assert_eq!(s.cancelled_by.as_deref(), Some("user"));
    assert_eq!(s.message.as_deref(), Some("Cancelled by user"));
    assert_eq!(s.job_name.as_deref(), Some("t1"), "jobName is kept");
    assert!(s.completion_time.is_some());
    let e = env.wait_event("t1", "TaskCancelled").await;
    assert_eq!(e.note.as_deref(), Some("Cancelled by user"));
    assert_eq!(completed(&metrics(&ctrl).await, &env.ns, "Cancelled"), 1.0);
}

#[tokio::test]
async fn cancel_while_waiting_fails_dependents() {
    let env = Env::new("cancel-waiting").await;
    let _ctrl = env.start().await;
    env.create(task("a")).await;
    env.create(with_deps(task("b"), &["a"])).await;
    env.create(with_deps(task("c"), &["b"])).await;
    env.wait_phase("b", TaskPhase::Waiting).await;
    env.wait_phase("c", TaskPhase::Waiting).await;

    // A spawner's cancellation: its own name and reason are kept.
    env.cancel(
        "b",
        json!({"cancelledBy": "spawner:issues", "message": "issue #12 was closed"}),
    )
    .await
    .unwrap();
    let t = env.wait_task("b", "marker", recorded).await;
    let s = status_of(&t);
    assert_eq!(s.cancelled_by.as_deref(), Some("spawner:issues"));
    assert_eq!(s.message.as_deref(), Some("issue #12 was closed"));
    assert!(s.completion_time.is_some());
    assert!(s.job_name.is_none());
    let t = env.wait_phase("c", TaskPhase::Failed).await;
    assert_eq!(
        status_of(&t).message.as_deref(),
        Some("Dependency \"b\" was cancelled")
    );
    let e = env.wait_event("c", "DependencyFailed").await;
    assert_eq!(e.note.as_deref(), Some("Dependency \"b\" was cancelled"));
    env.wait_event("b", "TaskCancelled").await;

    // `a` finishing later does not revive b.
    env.wait_job("a").await;
    env.job_succeeded("a").await;
    env.wait_phase("a", TaskPhase::Succeeded).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        env.tasks().get("b").await.unwrap().phase(),
        Some(TaskPhase::Cancelled)
    );
    assert!(!env.job_exists("b").await);
}

#[tokio::test]
async fn cancel_while_running_deletes_pods_with_grace_and_holds_the_branch_until_it_passes() {
    let env = Env::new("cancel-running").await;
    let _ctrl = env.start().await;
    let running = running_with_a_waiting_successor(&env).await;
    let started = status_of(&running).start_time.unwrap();

    let grace = 6;
    let cancelled_at = Instant::now();
    env.cancel("t1", json!({"cancellationGracePeriodSeconds": grace}))
        .await
        .unwrap();
    eventually("Job t1 deleted", || env.job_gone("t1")).await;
    let pod = env
        .wait_pod("t1-pod", |p| p.metadata.deletion_timestamp.is_some())
        .await;
    assert_eq!(pod.metadata.deletion_grace_period_seconds, Some(grace));
    let t = env.wait_task("t1", "marker", recorded).await;
    let s = status_of(&t);
    assert_eq!(s.start_time, Some(started), "startTime is kept");
    assert_eq!(s.job_name.as_deref(), Some("t1"));

    // The agent may still push until SIGKILL: t2 must not start before the grace ends.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        !env.job_exists("t2").await,
        "t2 started while t1's pod was in its grace period"
    );
    assert_eq!(
        env.tasks().get("t2").await.unwrap().phase(),
        Some(TaskPhase::Waiting)
    );
    env.wait_phase("t2", TaskPhase::Pending).await;
    let job = env.wait_job("t2").await;
    let deadline = pod.metadata.deletion_timestamp.unwrap().0;
    let created = job.metadata.creation_timestamp.unwrap().0;
    assert!(
        created >= deadline,
        "t2's Job {created} before t1's pod deadline {deadline}"
    );
    assert!(cancelled_at.elapsed() >= Duration::from_secs(grace as u64 - 1));
}

#[tokio::test]
async fn branch_is_released_when_the_cancelled_pods_are_gone() {
    let env = Env::new("cancel-podgone").await;
    let _ctrl = env.start().await;
    running_with_a_waiting_successor(&env).await;

    // A long grace period, but the agent exits early: the kubelet would remove the pod.
    env.cancel("t1", json!({"cancellationGracePeriodSeconds": 300}))
        .await
        .unwrap();
    let pod = env
        .wait_pod("t1-pod", |p| p.metadata.deletion_timestamp.is_some())
        .await;
    assert_eq!(pod.metadata.deletion_grace_period_seconds, Some(300));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!env.job_exists("t2").await);
    env.pods()
        .delete(
            "t1-pod",
            &DeleteParams {
                grace_period_seconds: Some(0),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    env.wait_phase("t2", TaskPhase::Pending).await;
}

#[tokio::test]
async fn zero_grace_deletes_pods_at_once() {
    let env = Env::new("cancel-zero").await;
    let _ctrl = env.start().await;
    running_with_a_waiting_successor(&env).await;
    env.cancel("t1", json!({"cancellationGracePeriodSeconds": 0}))
        .await
        .unwrap();
    eventually("pod deleted at once", || async {
        env.pods().get_opt("t1-pod").await.unwrap().is_none()
    })
    .await;
    env.wait_phase("t2", TaskPhase::Pending).await;
}

#[tokio::test]
async fn unset_grace_uses_the_pods_own() {
    let env = Env::new("cancel-default").await;
    let _ctrl = env.start().await;
    env.create(task("t1")).await;
    env.wait_job("t1").await;
    env.pod("t1", "t1-pod").await;
    env.job_running("t1").await;
    env.wait_phase("t1", TaskPhase::Running).await;
    env.cancel("t1", json!({})).await.unwrap();
    let pod = env
        .wait_pod("t1-pod", |p| p.metadata.deletion_timestamp.is_some())
        .await;
    // The pod spec's default terminationGracePeriodSeconds.
    assert_eq!(pod.metadata.deletion_grace_period_seconds, Some(30));
}

#[tokio::test]
async fn success_and_cancellation_at_the_same_instant_end_in_one_phase() {
    let env = Env::new("cancel-race").await;
    let ctrl = env.start().await;
    let names: Vec<String> = (0..6).map(|i| format!("race-{i}")).collect();
    for n in &names {
        env.create(task(n)).await;
    }
    for n in &names {
        env.wait_job(n).await;
        env.job_running(n).await;
        env.wait_phase(n, TaskPhase::Running).await;
    }
    // Job success and a cancellation written together, for each Task.
    let races = names.iter().map(|n| async {
        // The success write fails only if the cancellation already removed the Job.
        let (_, cancel) = tokio::join!(
            env.try_job_status(n, Env::succeeded_status()),
            env.cancel(n, json!({}))
        );
        cancel.is_ok()
    });
    let accepted = futures::future::join_all(races).await;
    let mut phases = Vec::new();
    for n in &names {
        let t = env.wait_task(n, "marker", recorded).await;
        let phase = t.phase().unwrap();
        assert!(
            matches!(phase, TaskPhase::Succeeded | TaskPhase::Cancelled),
            "{phase}"
        );
        phases.push(phase);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    for (n, phase) in names.iter().zip(&phases) {
        let t = env.tasks().get(n).await.unwrap();
        assert_eq!(t.phase(), Some(*phase), "{n} flipped");
        assert_eq!(
            annotations(&t)[ANNOTATION_COMPLETION_RECORDED],
            phase.as_str()
        );
    }
    let m = metrics(&ctrl).await;
    let succeeded = completed(&m, &env.ns, "Succeeded");
    let cancelled = completed(&m, &env.ns, "Cancelled");
    assert_eq!(succeeded + cancelled, names.len() as f64, "{m}");
    let n_cancelled = phases
        .iter()
        .filter(|p| **p == TaskPhase::Cancelled)
        .count();
    assert_eq!(cancelled, n_cancelled as f64);
    // A cancellation refused by the terminal-phase rule is one that lost the race.
    for (ok, phase) in accepted.iter().zip(&phases) {
        if !ok {
            assert_eq!(*phase, TaskPhase::Succeeded);
        }
    }
}

#[tokio::test]
async fn restarted_controller_counts_nothing_twice() {
    let env = Env::new("cancel-restart").await;
    let ctrl = env.start().await;
    env.create(task("t1")).await;
    env.create(task("t2")).await;
    env.wait_job("t1").await;
    env.wait_job("t2").await;
    env.cancel("t1", json!({})).await.unwrap();
    env.job_succeeded("t2").await;
    env.wait_task("t1", "marker", recorded).await;
    env.wait_task("t2", "marker", recorded).await;
    let before = metrics(&ctrl).await;
    assert_eq!(completed(&before, &env.ns, "Cancelled"), 1.0);
    assert_eq!(completed(&before, &env.ns, "Succeeded"), 1.0);
    ctrl.stop().await;

    let ctrl = env.start().await;
    // Make sure the new controller has seen and reconciled both Tasks.
    for n in ["t1", "t2"] {
        env.poke(n).await;
    }
    env.create(task("t3")).await;
    env.wait_phase("t3", TaskPhase::Pending).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = metrics(&ctrl).await;
    assert_eq!(completed(&after, &env.ns, "Cancelled"), 0.0, "{after}");
    assert_eq!(completed(&after, &env.ns, "Succeeded"), 0.0, "{after}");
    assert_eq!(
        sample(
            &after,
            "kelos_task_created_total",
            &[("namespace", &env.ns)]
        ),
        1.0
    );
    assert!(!env.job_exists("t1").await);
}

#[tokio::test]
async fn cancelled_task_cannot_be_moved_back_to_running() {
    let env = Env::new("cancel-terminal").await;
    let _ctrl = env.start().await;
    env.create(task("t1")).await;
    env.wait_job("t1").await;
    env.cancel("t1", json!({})).await.unwrap();
    env.wait_task("t1", "marker", recorded).await;

    let err = env
        .tasks()
        .patch_status(
            "t1",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Running"}})),
        )
        .await
        .expect_err("moving a Cancelled Task back to Running must be refused");
    assert!(
        matches!(&err, kube::Error::Api(s) if s.code == 422),
        "{err}"
    );
    // A full replace is refused too.
    let mut t = env.tasks().get("t1").await.unwrap();
    t.status.as_mut().unwrap().phase = Some(TaskPhase::Running);
    assert!(
        env.tasks()
            .replace_status("t1", &Default::default(), &t)
            .await
            .is_err()
    );
    // Removing the phase is refused as well.
    let err = env
        .tasks()
        .patch_status(
            "t1",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": null}})),
        )
        .await;
    assert!(err.is_err());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let t = env.tasks().get("t1").await.unwrap();
    assert_eq!(t.phase(), Some(TaskPhase::Cancelled));
    assert!(!env.job_exists("t1").await);
    assert!(
        t.finalizers()
            .iter()
            .any(|f| f == kelos_api::constants::TASK_FINALIZER)
    );
}
