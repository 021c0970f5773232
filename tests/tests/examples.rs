//! Every manifest under `examples/` (and the API's full fixtures) is accepted by server-side
//! apply on a real kube-apiserver, and what the apiserver stores is what our types say.

mod support;

use std::path::{Path, PathBuf};

use serde_json::Value;

use support::{FIELD_MANAGER, api, cluster_and_namespace, kubectl, yaml_docs};

fn dirs_with_yaml(root: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    files
}

/// What our typed structs make of a stored object: parse it, serialise it again.
fn through_types(stored: &Value) -> Value {
    fn via<T: serde::de::DeserializeOwned + serde::Serialize>(v: &Value) -> Value {
        serde_json::to_value(serde_json::from_value::<T>(v.clone()).unwrap()).unwrap()
    }
    match stored["kind"].as_str().unwrap() {
        "Task" => via::<kelos_api::Task>(stored),
        "TaskSpawner" => via::<kelos_api::TaskSpawner>(stored),
        "Workspace" => via::<kelos_api::Workspace>(stored),
        "AgentConfig" => via::<kelos_api::AgentConfig>(stored),
        other => panic!("not a Kelos kind: {other}"),
    }
}

/// Applies `dir` with kubectl the way the READMEs say, twice (a second apply of unchanged
/// manifests must be a no-op, also for the immutable Task spec), then checks every Kelos
/// object the apiserver stored round-trips through the typed structs unchanged, defaults
/// included.
async fn apply_and_check(dir: &Path) -> usize {
    let (cluster, client, ns) = cluster_and_namespace("example").await;
    let path = dir.to_str().unwrap();
    let field_manager = format!("--field-manager={FIELD_MANAGER}");
    for _ in 0..2 {
        let args = [
            "apply",
            "--server-side",
            &field_manager,
            "-n",
            &ns,
            "-f",
            path,
        ];
        let out = kubectl(cluster, &args).await;
        assert!(out.contains("serverside-applied"), "{path}: {out}");
    }
    let mut checked = 0;
    for file in yaml_files(dir) {
        for doc in yaml_docs(&file) {
            let kind = doc["kind"].as_str().unwrap();
            let name = doc["metadata"]["name"].as_str().unwrap();
            let stored = api(&client, &ns, kind).get(name).await.unwrap_or_else(|e| {
                panic!("{kind}/{name} from {} is not stored: {e}", file.display())
            });
            if kind == "Secret" {
                continue;
            }
            let stored = serde_json::to_value(&stored).unwrap();
            let typed = through_types(&stored);
            assert_eq!(
                typed["spec"],
                stored["spec"],
                "{kind}/{name} in {}",
                file.display()
            );
            checked += 1;
        }
    }
    checked
}

#[tokio::test]
async fn every_example_applies_server_side() {
    let dirs = dirs_with_yaml(&support::repo_root().join("examples"));
    assert_eq!(dirs.len(), 8, "{dirs:?}");
    let mut checked = 0;
    for dir in &dirs {
        checked += apply_and_check(dir).await;
    }
    assert!(checked >= 16, "only {checked} Kelos objects checked");
}

#[tokio::test]
async fn the_full_api_fixtures_apply_server_side() {
    let fixtures = support::repo_root().join("crates/kelos-api/tests/fixtures");
    let checked = apply_and_check(&fixtures).await;
    assert_eq!(checked, 5);
}

/// `make run` applies all examples into one namespace, so they must not collide: a Task name
/// used twice with different specs would be refused (Task specs are immutable).
#[tokio::test]
async fn all_examples_apply_together_into_one_namespace() {
    let (cluster, _, ns) = cluster_and_namespace("all-examples").await;
    let examples = support::repo_root().join("examples");
    let field_manager = format!("--field-manager={FIELD_MANAGER}");
    let args = [
        "apply",
        "--server-side",
        &field_manager,
        "-n",
        &ns,
        "-R",
        "-f",
        examples.to_str().unwrap(),
    ];
    let out = kubectl(cluster, &args).await;
    let tasks = kubectl(cluster, &["get", "tasks", "-n", &ns, "-o", "name"]).await;
    assert_eq!(tasks.lines().count(), 6, "{out}\n{tasks}");
    let spawners = kubectl(cluster, &["get", "taskspawners", "-n", &ns, "-o", "name"]).await;
    assert_eq!(spawners.lines().count(), 4, "{out}\n{spawners}");
}
