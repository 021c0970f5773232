//! The Task reconciler in the simulated cluster (kelos-testenv's full tier: the real Job
//! controller, scheduler, garbage collector and KWOK as kubelet): a Task runs to success on
//! the Job controller's own status, and TTL deletion takes the Job and its pods with it.

mod task_support;

use kelos_api::TaskPhase;
use kelos_api::constants::LABEL_TASK;
use kube::api::ListParams;
use task_support::*;

#[tokio::test]
async fn a_task_runs_on_the_real_job_controller_and_is_cleaned_up_by_its_ttl() {
    let env = Env::new_full("sim-task").await;
    let ctrl = env.start().await;
    env.create(with_ttl(task("t1"), 3)).await;

    let t = env.wait_phase("t1", TaskPhase::Succeeded).await;
    let s = status_of(&t);
    assert_eq!(s.message.as_deref(), Some("Task completed successfully"));
    assert_eq!(s.job_name.as_deref(), Some("t1"));
    let job = env.jobs().get("t1").await.unwrap();
    assert_eq!(job.status.unwrap().succeeded, Some(1));
    let pods = env
        .pods()
        .list(&ListParams::default().labels(&format!("{LABEL_TASK}=t1")))
        .await
        .unwrap();
    assert_eq!(pods.items.len(), 1, "the Job controller made one pod");
    let pod_name = pods.items[0].metadata.name.clone();
    env.wait_task("t1", "podName of the Job's pod", |t| {
        status_of(t).pod_name == pod_name
    })
    .await;
    env.wait_task("t1", "marker", recorded).await;
    env.wait_event("t1", "TaskSucceeded").await;
    assert_eq!(completed(&metrics(&ctrl).await, &env.ns, "Succeeded"), 1.0);

    // TTL: the Task goes, its finalizer deletes the Job, the garbage collector the pod.
    env.wait_gone("t1").await;
    eventually("Job deleted", || env.job_gone("t1")).await;
    eventually("pods garbage-collected", || async {
        env.pods()
            .list(&ListParams::default().labels(&format!("{LABEL_TASK}=t1")))
            .await
            .unwrap()
            .items
            .is_empty()
    })
    .await;
}
