//! The Task status subresource: how people and the spawner cancel a Task, and the rule that a
//! terminal phase is final.

mod support;

use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use kelos_api::{Task, TaskPhase};
use support::{api, apply, cluster_and_namespace, refusal, task};

const TERMINAL: &str =
    "a Task in a terminal phase (Succeeded, Failed, Cancelled) cannot change phase";

async fn patch_status(
    client: &kube::Client,
    ns: &str,
    name: &str,
    status: Value,
) -> kube::Result<Task> {
    let api = kube::Api::<Task>::namespaced(client.clone(), ns);
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({ "status": status })),
    )
    .await
}

#[tokio::test]
async fn a_user_cancels_a_task_and_it_stays_cancelled() {
    let (_, client, ns) = cluster_and_namespace("cancel").await;
    apply(&client, &ns, &task("work")).await.unwrap();
    patch_status(
        &client,
        &ns,
        "work",
        json!({"phase": "Running", "jobName": "work"}),
    )
    .await
    .unwrap();

    let cancelled = patch_status(
        &client,
        &ns,
        "work",
        json!({"phase": "Cancelled", "cancelledBy": "user", "message": "not needed"}),
    )
    .await
    .unwrap();
    let status = cancelled.status.as_ref().unwrap();
    assert_eq!(status.phase, Some(TaskPhase::Cancelled));
    assert_eq!(status.cancelled_by.as_deref(), Some("user"));
    assert_eq!(
        status.job_name.as_deref(),
        Some("work"),
        "other fields are kept"
    );
    assert!(cancelled.is_terminal());

    let message = refusal(patch_status(&client, &ns, "work", json!({"phase": "Running"})).await);
    assert!(message.contains(TERMINAL), "{message}");

    // The controller still completes the record of a cancelled Task.
    let completed = patch_status(
        &client,
        &ns,
        "work",
        json!({"completionTime": "2026-01-02T03:04:05Z", "cancellationGracePeriodSeconds": 30}),
    )
    .await
    .unwrap();
    assert_eq!(completed.phase(), Some(TaskPhase::Cancelled));

    let message = refusal(patch_status(&client, &ns, "work", json!({"phase": null})).await);
    assert!(message.contains(TERMINAL), "dropping the phase: {message}");
}

#[tokio::test]
async fn no_terminal_phase_can_be_left() {
    let (_, client, ns) = cluster_and_namespace("terminal").await;
    for (i, from) in TaskPhase::ALL.into_iter().enumerate() {
        for (j, to) in TaskPhase::ALL.into_iter().enumerate() {
            let name = format!("t-{i}-{j}");
            apply(&client, &ns, &task(&name)).await.unwrap();
            patch_status(&client, &ns, &name, json!({"phase": from}))
                .await
                .unwrap();
            let result = patch_status(&client, &ns, &name, json!({"phase": to})).await;
            if from.is_terminal() && from != to {
                let message = refusal(result);
                assert!(message.contains(TERMINAL), "{from} -> {to}: {message}");
            } else {
                assert!(result.is_ok(), "{from} -> {to}: {result:?}");
            }
        }
    }
}

#[tokio::test]
async fn unknown_phases_and_negative_grace_periods_are_refused() {
    let (_, client, ns) = cluster_and_namespace("bad-status").await;
    apply(&client, &ns, &task("work")).await.unwrap();
    let message = refusal(
        patch_status(
            &client,
            &ns,
            "work",
            json!({"phase": "cancelled", "cancelledBy": "user"}),
        )
        .await,
    );
    assert!(
        message.contains(r#"status.phase: Unsupported value: "cancelled""#),
        "{message}"
    );
    let message = refusal(
        patch_status(
            &client,
            &ns,
            "work",
            json!({"phase": "Cancelled", "cancellationGracePeriodSeconds": -1}),
        )
        .await,
    );
    assert!(
        message.contains("status.cancellationGracePeriodSeconds: Invalid value: -1")
            && message.contains("should be greater than or equal to 0"),
        "{message}"
    );
}

/// A spawner cancels the same way, and only through the status subresource: status in a spec
/// write is ignored.
#[tokio::test]
async fn status_is_written_only_through_the_subresource() {
    let (_, client, ns) = cluster_and_namespace("subresource").await;
    let mut manifest = task("spawned");
    manifest["status"] = json!({"phase": "Cancelled"});
    let created = apply(&client, &ns, &manifest).await.unwrap();
    assert!(created.data.get("status").is_none(), "{created:?}");

    let cancelled = patch_status(
        &client,
        &ns,
        "spawned",
        json!({
            "phase": "Cancelled",
            "cancelledBy": kelos_api::constants::cancelled_by_spawner("pr-reviewer"),
            "message": "pull request #7 was closed",
            "cancellationGracePeriodSeconds": 30
        }),
    )
    .await
    .unwrap();
    let status = cancelled.status.unwrap();
    assert_eq!(status.cancelled_by.as_deref(), Some("spawner:pr-reviewer"));
    assert_eq!(status.cancellation_grace_period_seconds, Some(30));

    // A replace of the whole status (PUT) is held to the same rule.
    let api = kube::Api::<Task>::namespaced(client.clone(), &ns);
    let mut current = api.get("spawned").await.unwrap();
    current.status.as_mut().unwrap().phase = Some(TaskPhase::Succeeded);
    let message = refusal(
        api.replace_status("spawned", &PostParams::default(), &current)
            .await,
    );
    assert!(message.contains(TERMINAL), "{message}");
}

#[tokio::test]
async fn taskspawner_status_accepts_the_cancellation_counter() {
    let (_, client, ns) = cluster_and_namespace("spawner-status").await;
    let spawner = json!({
        "apiVersion": "kelos.dev/v1alpha1",
        "kind": "TaskSpawner",
        "metadata": {"name": "cron"},
        "spec": {
            "when": {"cron": {"schedule": "*/5 * * * *"}},
            "cancellationPolicy": {"onRetrigger": "Cancel"},
            "taskTemplate": {
                "type": "gemini",
                "credentials": {"type": "api-key", "secretRef": {"name": "gemini"}}
            }
        }
    });
    apply(&client, &ns, &spawner).await.unwrap();
    let spawners = api(&client, &ns, "TaskSpawner");
    spawners
        .patch_status(
            "cron",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {
                "phase": "Running",
                "totalTasksCancelled": 2,
                "conditions": [{
                    "type": "DiscoveryFailed", "status": "False", "reason": "Discovered",
                    "message": "", "lastTransitionTime": "2026-01-02T03:04:05Z"
                }]
            }})),
        )
        .await
        .unwrap();
    let stored: kelos_api::TaskSpawner = kube::Api::namespaced(client.clone(), &ns)
        .get("cron")
        .await
        .unwrap();
    let status = stored.status.unwrap();
    assert_eq!(status.phase, Some(kelos_api::TaskSpawnerPhase::Running));
    assert_eq!(status.total_tasks_cancelled, Some(2));
    assert_eq!(
        stored.spec.cancellation_policy(),
        kelos_api::CancellationPolicy {
            on_retrigger: kelos_api::CancellationAction::Cancel,
            ..Default::default()
        }
    );

    let message = refusal(
        spawners
            .patch_status(
                "cron",
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {"phase": "Broken"}})),
            )
            .await,
    );
    assert!(
        message.contains(r#"status.phase: Unsupported value: "Broken""#),
        "{message}"
    );
}
