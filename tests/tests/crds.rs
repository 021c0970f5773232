//! The four CRDs on a real kube-apiserver: installed, Established, printed and explained by
//! kubectl as users will see them.

mod support;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::json;

use support::{
    FIELD_MANAGER, api, apply, cluster_and_namespace, kubectl, kubectl_eventually, task,
};

fn condition_true(crd: &CustomResourceDefinition, type_: &str) -> bool {
    crd.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == type_ && c.status == "True"))
}

#[tokio::test]
async fn the_four_crds_are_established_with_their_names() {
    let (_, client, _) = cluster_and_namespace("crds").await;
    let crds: Api<CustomResourceDefinition> = Api::all(client);
    for (kind, plural) in [
        ("Task", "tasks"),
        ("TaskSpawner", "taskspawners"),
        ("Workspace", "workspaces"),
        ("AgentConfig", "agentconfigs"),
    ] {
        let crd = crds.get(&format!("{plural}.kelos.dev")).await.unwrap();
        assert!(
            condition_true(&crd, "Established"),
            "{kind} not Established"
        );
        assert!(
            condition_true(&crd, "NamesAccepted"),
            "{kind} names not accepted"
        );
        let accepted = crd
            .status
            .as_ref()
            .unwrap()
            .accepted_names
            .as_ref()
            .unwrap();
        assert_eq!(accepted.kind, kind);
        assert_eq!(accepted.plural, plural);
        assert_eq!(
            accepted.list_kind.as_deref(),
            Some(format!("{kind}List").as_str())
        );
        assert_eq!(accepted.short_names, None);
    }
}

/// The CRDs in `config/crd/` (what users install) are the ones the apiserver accepts: applying
/// the committed files over the installed ones is a no-op apply that succeeds.
#[tokio::test]
async fn the_committed_crd_files_apply() {
    let (_, client, _) = cluster_and_namespace("crd-files").await;
    let crds: Api<CustomResourceDefinition> = Api::all(client);
    let dir = support::repo_root().join("config/crd");
    for crd in kelos_api::crds() {
        let path = dir.join(kelos_api::crd::file_name(&crd));
        let docs = support::yaml_docs(&path);
        assert_eq!(docs.len(), 1, "{}", path.display());
        let name = crd.metadata.name.as_deref().unwrap();
        crds.patch(
            name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&docs[0]),
        )
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

fn header(table: &str) -> Vec<String> {
    let first = table.lines().next().unwrap_or_default();
    // Columns are separated by at least two spaces; "DEPENDS ON" has one inside.
    first
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect()
}

fn row<'a>(table: &'a str, name: &str) -> &'a str {
    table
        .lines()
        .find(|l| l.starts_with(name))
        .unwrap_or_else(|| panic!("no row for {name} in\n{table}"))
}

#[tokio::test]
async fn kubectl_get_tasks_prints_the_printer_columns() {
    let (cluster, client, ns) = cluster_and_namespace("columns").await;
    let mut manifest = task("second");
    manifest["spec"]["branch"] = json!("feature/x");
    manifest["spec"]["dependsOn"] = json!(["first"]);
    apply(&client, &ns, &manifest).await.unwrap();
    api(&client, &ns, "Task")
        .patch_status(
            "second",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {
                "phase": "Cancelled",
                "cancelledBy": "spawner:pr-reviewer",
                "message": "pull request #7 was closed"
            }})),
        )
        .await
        .unwrap();

    let plain = kubectl(cluster, &["get", "tasks", "-n", &ns]).await;
    assert_eq!(header(&plain), ["NAME", "TYPE", "PHASE", "AGE"], "{plain}");
    let second = row(&plain, "second");
    assert!(
        second.contains("claude-code") && second.contains("Cancelled"),
        "{plain}"
    );

    let wide = kubectl(cluster, &["get", "tasks", "-n", &ns, "-o", "wide"]).await;
    assert_eq!(
        header(&wide),
        [
            "NAME",
            "TYPE",
            "PHASE",
            "BRANCH",
            "DEPENDS ON",
            "CANCELLED BY",
            "AGE"
        ],
        "{wide}"
    );
    let second = row(&wide, "second");
    for cell in ["feature/x", "first", "spawner:pr-reviewer"] {
        assert!(second.contains(cell), "{cell} missing in\n{wide}");
    }
}

#[tokio::test]
async fn kubectl_get_taskspawners_prints_the_printer_columns() {
    let (cluster, client, ns) = cluster_and_namespace("spawner-columns").await;
    let spawner = json!({
        "apiVersion": "kelos.dev/v1alpha1",
        "kind": "TaskSpawner",
        "metadata": {"name": "issues"},
        "spec": {
            "when": {"githubIssues": {}},
            "taskTemplate": {
                "type": "codex",
                "credentials": {"type": "api-key", "secretRef": {"name": "codex"}},
                "workspaceRef": {"name": "my-repo"}
            }
        }
    });
    apply(&client, &ns, &spawner).await.unwrap();
    api(&client, &ns, "TaskSpawner")
        .patch_status(
            "issues",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {
                "phase": "Running", "activeTasks": 2, "totalDiscovered": 5,
                "totalTasksCreated": 4, "totalTasksCancelled": 3
            }})),
        )
        .await
        .unwrap();

    let plain = kubectl(cluster, &["get", "taskspawners", "-n", &ns]).await;
    assert_eq!(
        header(&plain),
        [
            "NAME",
            "WORKSPACE",
            "SUSPEND",
            "PHASE",
            "ACTIVE",
            "DISCOVERED",
            "TASKS",
            "AGE"
        ],
        "{plain}"
    );
    let cells: Vec<&str> = row(&plain, "issues").split_whitespace().collect();
    assert_eq!(
        cells[..7],
        ["issues", "my-repo", "false", "Running", "2", "5", "4"]
    );

    let wide = kubectl(cluster, &["get", "taskspawners", "-n", &ns, "-o", "wide"]).await;
    assert_eq!(header(&wide)[7], "CANCELLED", "{wide}");
    let cells: Vec<&str> = row(&wide, "issues").split_whitespace().collect();
    assert_eq!(cells[7], "3", "{wide}");
}

#[tokio::test]
async fn kubectl_explain_describes_the_fields() {
    let (cluster, _, _) = cluster_and_namespace("explain").await;
    let credentials = kubectl_eventually(cluster, &["explain", "task.spec.credentials"]).await;
    for text in [
        "How the agent authenticates",
        "secretRef",
        "api-key",
        "ANTHROPIC_API_KEY",
    ] {
        assert!(
            credentials.contains(text),
            "{text} missing in\n{credentials}"
        );
    }
    let policy =
        kubectl_eventually(cluster, &["explain", "taskspawner.spec.cancellationPolicy"]).await;
    for text in [
        "onSourceRemoved",
        "onRetrigger",
        "gracePeriodSeconds",
        "SIGTERM",
    ] {
        assert!(policy.contains(text), "{text} missing in\n{policy}");
    }
    let cancelled_by = kubectl_eventually(cluster, &["explain", "task.status.cancelledBy"]).await;
    assert!(
        cancelled_by.contains("spawner:<taskspawner-name>"),
        "{cancelled_by}"
    );
}
