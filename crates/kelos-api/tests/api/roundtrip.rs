//! Full manifests survive parse → typed struct → JSON unchanged.

use std::path::Path;

use kelos_api::{AgentConfig, Task, TaskSpawner, Workspace};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{repo_root, yaml_docs};

/// Parses `doc` as its kind's typed struct and returns it re-serialised, or `None` for kinds that
/// are not ours (Secrets in the examples).
pub fn reserialise(doc: &Value) -> Option<Value> {
    fn via<T: DeserializeOwned + Serialize>(doc: &Value) -> Value {
        let typed: T =
            serde_json::from_value(doc.clone()).unwrap_or_else(|e| panic!("{e}\n{doc:#}"));
        serde_json::to_value(typed).unwrap()
    }
    match doc["kind"].as_str()? {
        "Task" => Some(via::<Task>(doc)),
        "TaskSpawner" => Some(via::<TaskSpawner>(doc)),
        "Workspace" => Some(via::<Workspace>(doc)),
        "AgentConfig" => Some(via::<AgentConfig>(doc)),
        _ => None,
    }
}

/// The documents of `tests/fixtures/<name>`: together they set every field of their kind.
fn fixture(name: &str) -> Vec<Value> {
    let path = repo_root()
        .join("crates/kelos-api/tests/fixtures")
        .join(name);
    let docs = yaml_docs(Path::new(&path));
    assert!(!docs.is_empty(), "{name}");
    docs
}

fn assert_round_trips(name: &str) {
    for original in fixture(name) {
        let again = reserialise(&original).expect("a Kelos kind");
        assert_eq!(
            again, original,
            "{name} changed on the way through the typed struct"
        );
    }
}

#[test]
fn full_task_round_trips() {
    assert_round_trips("task.yaml");
}

#[test]
fn full_taskspawner_round_trips() {
    assert_round_trips("taskspawner.yaml");
}

#[test]
fn full_workspace_round_trips() {
    assert_round_trips("workspace.yaml");
}

#[test]
fn full_agentconfig_round_trips() {
    assert_round_trips("agentconfig.yaml");
}

/// The fixtures really set every field: each property of the schema appears in some document.
#[test]
fn fixtures_cover_every_field() {
    for (kind, file) in [
        ("Task", "task.yaml"),
        ("TaskSpawner", "taskspawner.yaml"),
        ("Workspace", "workspace.yaml"),
        ("AgentConfig", "agentconfig.yaml"),
    ] {
        let docs = fixture(file);
        let mut missing = Vec::new();
        let schema = crate::schema_of(kind);
        for root in ["spec", "status"] {
            if let Some(node) = schema["properties"].get(root) {
                let values: Vec<&Value> = docs.iter().map(|d| &d[root]).collect();
                collect_missing(root, node, &values, &mut missing);
            }
        }
        assert!(missing.is_empty(), "{file} lacks {missing:?}");
    }
}

/// Only our own properties: embedded Kubernetes types (env, resources, conditions) are not ours
/// to cover field by field. Across documents and list items, a property counts when any of
/// them sets it.
fn collect_missing(path: &str, schema: &Value, values: &[&Value], missing: &mut Vec<String>) {
    const EMBEDDED: [&str; 3] = ["env", "resources", "conditions"];
    if path
        .rsplit('.')
        .next()
        .is_some_and(|leaf| EMBEDDED.contains(&leaf))
    {
        return;
    }
    let (schema, values): (&Value, Vec<&Value>) = match schema.get("items") {
        Some(items) => (
            items,
            values
                .iter()
                .flat_map(|v| v.as_array().into_iter().flatten())
                .collect(),
        ),
        None => (schema, values.to_vec()),
    };
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (name, child) in properties {
        let child_path = format!("{path}.{name}");
        let present: Vec<&Value> = values.iter().filter_map(|v| v.get(name)).collect();
        if present.is_empty() {
            missing.push(child_path);
        } else {
            collect_missing(&child_path, child, &present, missing);
        }
    }
}
