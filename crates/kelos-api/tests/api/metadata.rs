//! Names, scope, subresources and printer columns of the four CRDs.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;

fn crd(kind: &str) -> CustomResourceDefinition {
    kelos_api::crds()
        .into_iter()
        .find(|c| c.spec.names.kind == kind)
        .unwrap()
}

fn columns(kind: &str) -> Vec<(String, String, String, i32)> {
    crd(kind).spec.versions[0]
        .additional_printer_columns
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|c| (c.name, c.type_, c.json_path, c.priority.unwrap_or(0)))
        .collect()
}

fn col(name: &str, type_: &str, path: &str, priority: i32) -> (String, String, String, i32) {
    (name.into(), type_.into(), path.into(), priority)
}

#[test]
fn names_scope_and_versions() {
    let crds = kelos_api::crds();
    let kinds: Vec<&str> = crds.iter().map(|c| c.spec.names.kind.as_str()).collect();
    assert_eq!(kinds, ["AgentConfig", "Task", "TaskSpawner", "Workspace"]);
    for crd in &crds {
        let names = &crd.spec.names;
        let plural = format!("{}s", names.kind.to_lowercase());
        assert_eq!(names.plural, plural);
        assert_eq!(
            names.singular.as_deref(),
            Some(names.kind.to_lowercase().as_str())
        );
        assert_eq!(
            names.short_names, None,
            "the original declares no shortNames"
        );
        assert_eq!(names.categories, None);
        assert_eq!(crd.spec.group, "kelos.dev");
        assert_eq!(crd.spec.scope, "Namespaced");
        assert_eq!(
            crd.metadata.name.as_deref(),
            Some(format!("{plural}.kelos.dev").as_str())
        );
        assert_eq!(crd.spec.versions.len(), 1);
        let version = &crd.spec.versions[0];
        assert_eq!(version.name, "v1alpha1");
        assert!(version.served && version.storage);
    }
}

#[test]
fn only_task_and_taskspawner_have_a_status_subresource() {
    for (kind, has_status) in [
        ("Task", true),
        ("TaskSpawner", true),
        ("Workspace", false),
        ("AgentConfig", false),
    ] {
        let version = &crd(kind).spec.versions[0];
        let status = version
            .subresources
            .as_ref()
            .and_then(|s| s.status.as_ref());
        assert_eq!(status.is_some(), has_status, "{kind}");
        let schema = crate::schema_of(kind);
        assert_eq!(
            schema["properties"].get("status").is_some(),
            has_status,
            "{kind}"
        );
    }
}

#[test]
fn task_printer_columns() {
    assert_eq!(
        columns("Task"),
        [
            col("Type", "string", ".spec.type", 0),
            col("Phase", "string", ".status.phase", 0),
            col("Branch", "string", ".spec.branch", 1),
            col("Depends On", "string", ".spec.dependsOn", 1),
            col("Cancelled By", "string", ".status.cancelledBy", 1),
            col("Age", "date", ".metadata.creationTimestamp", 0),
        ]
    );
}

#[test]
fn taskspawner_printer_columns() {
    assert_eq!(
        columns("TaskSpawner"),
        [
            col(
                "Workspace",
                "string",
                ".spec.taskTemplate.workspaceRef.name",
                0
            ),
            col("Suspend", "boolean", ".spec.suspend", 0),
            col("Phase", "string", ".status.phase", 0),
            col("Active", "integer", ".status.activeTasks", 0),
            col("Discovered", "integer", ".status.totalDiscovered", 0),
            col("Tasks", "integer", ".status.totalTasksCreated", 0),
            col("Cancelled", "integer", ".status.totalTasksCancelled", 1),
            col("Age", "date", ".metadata.creationTimestamp", 0),
        ]
    );
}

#[test]
fn workspace_and_agentconfig_have_no_printer_columns() {
    assert!(columns("Workspace").is_empty());
    assert!(columns("AgentConfig").is_empty());
}
