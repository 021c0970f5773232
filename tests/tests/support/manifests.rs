//! Valid manifests to start from, and JSON-pointer edits that break them.

use serde_json::{Value, json};

pub fn spawner(when: Value) -> Value {
    json!({
        "apiVersion": "kelos.dev/v1alpha1",
        "kind": "TaskSpawner",
        "metadata": {"name": "spawner"},
        "spec": {
            "when": when,
            "taskTemplate": {
                "type": "claude-code",
                "credentials": {"type": "api-key", "secretRef": {"name": "claude-credentials"}},
                "workspaceRef": {"name": "my-repo"}
            }
        }
    })
}

pub fn issues() -> Value {
    spawner(json!({"githubIssues": {}}))
}

pub fn pulls() -> Value {
    spawner(json!({"githubPullRequests": {}}))
}

pub fn cron() -> Value {
    spawner(json!({"cron": {"schedule": "0 9 * * 1-5"}}))
}

pub fn jira() -> Value {
    spawner(json!({"jira": {
        "baseUrl": "https://example.atlassian.net", "project": "ENG",
        "secretRef": {"name": "jira"}
    }}))
}

pub fn workspace() -> Value {
    json!({
        "apiVersion": "kelos.dev/v1alpha1",
        "kind": "Workspace",
        "metadata": {"name": "workspace"},
        "spec": {"repo": "https://github.com/your-org/your-repo.git"}
    })
}

pub fn agent_config() -> Value {
    json!({
        "apiVersion": "kelos.dev/v1alpha1",
        "kind": "AgentConfig",
        "metadata": {"name": "config"},
        "spec": {}
    })
}

/// `base` with `value` at the JSON pointer `at` (intermediate objects are created).
pub fn with(mut base: Value, at: &str, value: Value) -> Value {
    let (parent, leaf) = at.rsplit_once('/').expect("a pointer");
    let mut node = &mut base;
    for part in parent.split('/').skip(1) {
        node = node
            .as_object_mut()
            .expect("pointer through objects")
            .entry(part)
            .or_insert_with(|| json!({}));
    }
    node[leaf] = value;
    base
}

/// `base` without the field at the JSON pointer `at`.
pub fn without(mut base: Value, at: &str) -> Value {
    let (parent, leaf) = at.rsplit_once('/').unwrap();
    base.pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .expect("parent exists")
        .remove(leaf)
        .expect("field exists");
    base
}

pub fn policy(on_source_removed: &str, on_retrigger: &str, grace: i64) -> Value {
    json!({"onSourceRemoved": on_source_removed, "onRetrigger": on_retrigger, "gracePeriodSeconds": grace})
}

pub fn remotes(list: Value) -> Value {
    with(workspace(), "/spec/remotes", list)
}
