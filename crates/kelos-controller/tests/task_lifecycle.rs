//! Task lifecycle on the real apiserver: phases from the Job, dependencies, cycles, branch
//! locks (also across a controller restart), TTL, metrics and probes.

mod task_support;

use std::time::Duration;

use kelos_api::TaskPhase;
use kelos_api::constants::{ANNOTATION_COMPLETION_RECORDED, TASK_FINALIZER};
use kube::ResourceExt;
use kube::api::{Patch, PatchParams};
use serde_json::json;
use task_support::*;

#[tokio::test]
async fn pending_running_succeeded() {
    let env = Env::new("life-ok").await;
    let ctrl = env.start().await;
    env.create(task("t1")).await;

    let t = env.wait_phase("t1", TaskPhase::Pending).await;
    assert!(t.finalizers().contains(&TASK_FINALIZER.to_string()));
    assert_eq!(status_of(&t).job_name.as_deref(), Some("t1"));
    let job = env.wait_job("t1").await;
    let owner = &job.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (
            owner.kind.as_str(),
            owner.controller,
            owner.block_owner_deletion
        ),
        ("Task", Some(true), Some(true))
    );
    assert_eq!(Some(&owner.uid), t.metadata.uid.as_ref());
    env.wait_event("t1", "TaskCreated").await;

    env.pod("t1", "t1-abcde").await;
    env.job_running("t1").await;
    let t = env.wait_phase("t1", TaskPhase::Running).await;
    let s = status_of(&t);
    assert!(s.start_time.is_some());
    env.wait_task("t1", "podName", |t| {
        status_of(t).pod_name.as_deref() == Some("t1-abcde")
    })
    .await;

    env.job_succeeded("t1").await;
    let t = env.wait_phase("t1", TaskPhase::Succeeded).await;
    let s = status_of(&t);
    assert!(s.completion_time.is_some());
    assert_eq!(s.message.as_deref(), Some("Task completed successfully"));
    env.wait_event("t1", "TaskSucceeded").await;
    env.wait_task("t1", "completion marker", |t| {
        annotations(t)
            .get(ANNOTATION_COMPLETION_RECORDED)
            .map(String::as_str)
            == Some("Succeeded")
    })
    .await;
    let m = metrics(&ctrl).await;
    assert_eq!(completed(&m, &env.ns, "Succeeded"), 1.0, "{m}");
    assert_eq!(
        sample(&m, "kelos_task_created_total", &[("namespace", &env.ns)]),
        1.0
    );
    assert_eq!(
        sample(
            &m,
            "kelos_task_duration_seconds_count",
            &[("namespace", &env.ns), ("phase", "Succeeded")]
        ),
        1.0
    );
}

#[tokio::test]
async fn job_failure_fails_the_task() {
    let env = Env::new("life-fail").await;
    let ctrl = env.start().await;
    env.create(task("t1")).await;
    env.wait_job("t1").await;
    env.job_running("t1").await;
    env.wait_phase("t1", TaskPhase::Running).await;
    env.job_failed("t1").await;
    let t = env.wait_phase("t1", TaskPhase::Failed).await;
    assert_eq!(status_of(&t).message.as_deref(), Some("Task failed"));
    assert!(status_of(&t).completion_time.is_some());
    let e = env.wait_event("t1", "TaskFailed").await;
    assert_eq!(e.type_.as_deref(), Some("Warning"));
    env.wait_task("t1", "marker", recorded).await;
    assert_eq!(completed(&metrics(&ctrl).await, &env.ns, "Failed"), 1.0);
}

#[tokio::test]
async fn depends_on_waits_then_starts_with_results_in_the_prompt() {
    let env = Env::new("deps-ok").await;
    let _ctrl = env.start().await;
    let mut b = with_deps(task("b"), &["a"]);
    b.spec.prompt = r#"Continue on {{index .Deps "a" "Results" "branch"}}"#.into();
    env.create(b).await;
    let t = env.wait_phase("b", TaskPhase::Waiting).await;
    assert_eq!(
        status_of(&t).message.as_deref(),
        Some("Waiting for dependency \"a\" to be created")
    );

    env.create(task("a")).await;
    env.wait_job("a").await;
    env.job_running("a").await;
    env.wait_phase("a", TaskPhase::Running).await;
    env.wait_task("b", "waiting for a", |t| {
        status_of(t).message.as_deref() == Some("Waiting for dependency \"a\"")
    })
    .await;
    // What the agent's output markers would have produced.
    env.tasks()
        .patch_status(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {
            "outputs": ["branch: feature-x"], "results": {"branch": "feature-x"}}})),
        )
        .await
        .unwrap();
    assert!(!env.job_exists("b").await);
    env.job_succeeded("a").await;
    env.wait_phase("a", TaskPhase::Succeeded).await;
    env.wait_phase("b", TaskPhase::Pending).await;
    let job = env.wait_job("b").await;
    let args = job.spec.unwrap().template.spec.unwrap().containers[0]
        .args
        .clone()
        .unwrap();
    assert_eq!(args, vec!["Continue on feature-x".to_string()]);
}

#[tokio::test]
async fn depends_on_fails_when_the_dependency_fails() {
    let env = Env::new("deps-fail").await;
    let ctrl = env.start().await;
    env.create(task("a")).await;
    env.create(with_deps(task("b"), &["a"])).await;
    env.wait_phase("b", TaskPhase::Waiting).await;
    env.wait_job("a").await;
    env.job_failed("a").await;
    let t = env.wait_phase("b", TaskPhase::Failed).await;
    assert_eq!(
        status_of(&t).message.as_deref(),
        Some("Dependency \"a\" failed")
    );
    assert!(status_of(&t).completion_time.is_some());
    assert!(!env.job_exists("b").await);
    env.wait_event("b", "DependencyFailed").await;
    env.wait_task("b", "marker", recorded).await;
    env.wait_task("a", "marker", recorded).await;
    assert_eq!(completed(&metrics(&ctrl).await, &env.ns, "Failed"), 2.0);
}

#[tokio::test]
async fn cycle_fails_with_the_reference_message() {
    let env = Env::new("cycle").await;
    let _ctrl = env.start().await;
    env.create(with_deps(task("a"), &["b"])).await;
    env.create(with_deps(task("b"), &["a"])).await;
    for name in ["a", "b"] {
        let t = env.wait_phase(name, TaskPhase::Failed).await;
        let msg = status_of(&t).message.unwrap();
        assert!(
            msg == "Circular dependency detected: cycle involves \"a\""
                || msg == "Circular dependency detected: cycle involves \"b\"",
            "{msg}"
        );
        assert!(status_of(&t).completion_time.is_some());
        assert!(!env.job_exists(name).await);
    }
    let e = env.wait_event("b", "DependencyFailed").await;
    assert_eq!(e.note.as_deref(), Some("Circular dependency detected"));
}

#[tokio::test]
async fn same_branch_runs_one_after_the_other() {
    let env = Env::new("branch").await;
    let _ctrl = env.start().await;
    env.workspace("ws").await;
    env.create(on_branch(task("first"), "ws", "feature")).await;
    env.wait_phase("first", TaskPhase::Pending).await;
    env.create(on_branch(task("second"), "ws", "feature")).await;
    let t = env.wait_phase("second", TaskPhase::Waiting).await;
    assert_eq!(
        status_of(&t).message.as_deref(),
        Some("Waiting for branch \"feature\" (locked by first)")
    );
    // Another branch, and the same branch in another workspace, are not blocked.
    env.workspace("other").await;
    env.create(on_branch(task("elsewhere"), "other", "feature"))
        .await;
    env.wait_phase("elsewhere", TaskPhase::Pending).await;

    env.job_running("first").await;
    env.wait_phase("first", TaskPhase::Running).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!env.job_exists("second").await);
    env.job_succeeded("first").await;
    env.wait_phase("first", TaskPhase::Succeeded).await;
    env.wait_phase("second", TaskPhase::Pending).await;
    env.wait_job("second").await;
}

#[tokio::test]
async fn tasks_created_at_once_on_one_branch_run_one_at_a_time_in_fifo_order() {
    let env = Env::new("branch-fifo").await;
    env.workspace("ws").await;
    // Created before the controller starts, so it sees them all at once.
    let names = ["e", "c", "a", "d", "b"];
    for n in names {
        env.create(on_branch(task(n), "ws", "main")).await;
    }
    let mut expected: Vec<(jiff::Timestamp, String)> = Vec::new();
    for n in names {
        let t = env.tasks().get(n).await.unwrap();
        expected.push((t.metadata.creation_timestamp.unwrap().0, n.to_string()));
    }
    expected.sort();
    let _ctrl = env.start().await;
    // Each in turn starts (a wrong order would leave the expected one Waiting: timeout), while
    // every other Task that got a Job has already finished.
    for (_, name) in &expected {
        env.wait_phase(name, TaskPhase::Pending).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut with_jobs = Vec::new();
        for n in names {
            if env.job_exists(n).await {
                with_jobs.push(n);
            }
        }
        assert!(with_jobs.contains(&name.as_str()));
        env.job_succeeded(name).await;
        env.wait_phase(name, TaskPhase::Succeeded).await;
        // Everyone else with a Job has finished already.
        for n in with_jobs.iter().filter(|n| **n != name.as_str()) {
            assert_eq!(
                env.tasks().get(n).await.unwrap().phase(),
                Some(TaskPhase::Succeeded),
                "{n} ran alongside {name}"
            );
        }
    }
}

#[tokio::test]
async fn branch_lock_survives_a_controller_restart() {
    let env = Env::new("branch-restart").await;
    let ctrl = env.start().await;
    env.workspace("ws").await;
    env.create(on_branch(task("first"), "ws", "main")).await;
    env.wait_phase("first", TaskPhase::Pending).await;
    env.create(on_branch(task("second"), "ws", "main")).await;
    env.wait_phase("second", TaskPhase::Waiting).await;
    ctrl.abort();

    // A fresh process knows nothing in memory; the lock comes from Task state.
    let _ctrl = env.start().await;
    env.create(on_branch(task("third"), "ws", "main")).await;
    let t = env.wait_phase("third", TaskPhase::Waiting).await;
    assert_eq!(
        status_of(&t).message.as_deref(),
        Some("Waiting for branch \"main\" (locked by first)")
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!env.job_exists("second").await);
    assert!(!env.job_exists("third").await);

    env.job_running("first").await;
    env.job_succeeded("first").await;
    env.wait_phase("first", TaskPhase::Succeeded).await;
    env.wait_phase("second", TaskPhase::Pending).await;
    // FIFO: third queues behind second, which now holds the lock.
    env.wait_task("third", "locked by second", |t| {
        status_of(t).message.as_deref() == Some("Waiting for branch \"main\" (locked by second)")
    })
    .await;
    env.job_failed("second").await;
    env.wait_phase("second", TaskPhase::Failed).await;
    env.wait_phase("third", TaskPhase::Pending).await;
}

#[tokio::test]
async fn ttl_deletes_every_kind_of_finished_task() {
    let env = Env::new("ttl").await;
    let _ctrl = env.start().await;
    env.create(with_ttl(task("ok"), 1)).await;
    env.create(with_ttl(task("bad"), 1)).await;
    env.create(with_ttl(task("cancelled"), 1)).await;
    // Never started: its dependency fails.
    env.create(task("dep")).await;
    env.create(with_ttl(with_deps(task("never"), &["dep"]), 1))
        .await;
    for name in ["ok", "bad", "cancelled", "dep"] {
        env.wait_job(name).await;
    }
    env.job_succeeded("ok").await;
    env.job_failed("bad").await;
    env.cancel("cancelled", json!({})).await.unwrap();
    env.job_failed("dep").await;
    for name in ["ok", "bad", "cancelled", "never"] {
        env.wait_gone(name).await;
        // Deleted for its TTL, not for anything else.
        env.wait_event(name, "TaskExpired").await;
    }
    let e = env.wait_event("never", "DependencyFailed").await;
    assert_eq!(e.note.as_deref(), Some("Dependency \"dep\" failed"));
    // No TTL: kept.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(env.tasks().get_opt("dep").await.unwrap().is_some());
}

#[tokio::test]
async fn probes_and_metrics_are_served() {
    let env = Env::new("probes").await;
    let ctrl = env.start().await;
    let health = ctrl.health_addr.unwrap();
    let (code, _) = http_get(health, "/healthz").await;
    assert_eq!(code, 200);
    eventually("readyz", || async {
        http_get(health, "/readyz").await.0 == 200
    })
    .await;
    env.create(task("t1")).await;
    env.wait_phase("t1", TaskPhase::Pending).await;
    let m = metrics(&ctrl).await;
    assert!(m.contains("# TYPE kelos_task_created_total counter"), "{m}");
}
