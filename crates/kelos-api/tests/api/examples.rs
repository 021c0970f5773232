//! `examples/`: the expected scenarios, each with a README, and every manifest in them parses
//! into its typed struct and re-serialises to what the apiserver would store.

use std::path::PathBuf;

use serde_json::Value;

use crate::roundtrip::reserialise;
use crate::{apply_defaults, repo_root, schema_of, yaml_docs};

const SCENARIOS: [&str; 8] = [
    "01-simple-task",
    "02-task-with-workspace",
    "03-taskspawner-github-issues",
    "04-taskspawner-cron",
    "05-task-with-agentconfig",
    "06-fork-workflow",
    "07-task-pipeline",
    "08-taskspawner-cancellation-policy",
];

fn example_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(repo_root().join("examples"))
        .expect("examples/ exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

fn manifests(dir: &PathBuf) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_scenario_has_a_readme_and_manifests() {
    let names: Vec<String> = example_dirs()
        .iter()
        .map(|d| d.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, SCENARIOS);
    for dir in example_dirs() {
        let readme = std::fs::read_to_string(dir.join("README.md"))
            .unwrap_or_else(|_| panic!("{} has no README.md", dir.display()));
        assert!(readme.starts_with("# "), "{}", dir.display());
        assert!(!manifests(&dir).is_empty(), "{} has no YAML", dir.display());
    }
}

#[test]
fn example_manifests_are_namespace_free_with_placeholder_secrets() {
    for dir in example_dirs() {
        for file in manifests(&dir) {
            for doc in yaml_docs(&file) {
                let what = format!("{} in {}", doc["kind"], file.display());
                assert!(doc["metadata"].get("namespace").is_none(), "{what}");
                assert_eq!(doc["kind"] == "Secret", doc["apiVersion"] == "v1", "{what}");
                if doc["kind"] == "Secret" {
                    let data = doc["stringData"].as_object().expect("stringData");
                    for (key, value) in data {
                        let value = value.as_str().unwrap();
                        assert!(value.contains("REPLACE-ME"), "{key} of {what}");
                    }
                } else {
                    assert_eq!(doc["apiVersion"], "kelos.dev/v1alpha1", "{what}");
                }
            }
        }
    }
}

#[test]
fn example_manifests_round_trip_through_the_typed_structs() {
    let mut kelos_docs = 0;
    for dir in example_dirs() {
        for file in manifests(&dir) {
            for doc in yaml_docs(&file) {
                let Some(again) = reserialise(&doc) else {
                    continue;
                };
                let mut expected: Value = doc.clone();
                apply_defaults(&schema_of(doc["kind"].as_str().unwrap()), &mut expected);
                assert_eq!(again, expected, "{}", file.display());
                kelos_docs += 1;
            }
        }
    }
    assert!(kelos_docs >= 16, "only {kelos_docs} Kelos manifests found");
}

#[test]
fn the_pipeline_passes_results_along() {
    let tasks = yaml_docs(&repo_root().join("examples/07-task-pipeline/tasks.yaml"));
    let implement = tasks
        .iter()
        .find(|t| t["metadata"]["name"] == "implement")
        .unwrap();
    assert_eq!(
        implement["spec"]["dependsOn"],
        serde_json::json!(["scaffold"])
    );
    let prompt = implement["spec"]["prompt"].as_str().unwrap();
    assert!(prompt.contains(r#"{{index .Deps "scaffold" "Results" "branch"}}"#));
}

#[test]
fn the_cancellation_example_cancels_on_both_triggers_with_a_grace_period() {
    let docs = yaml_docs(
        &repo_root().join("examples/08-taskspawner-cancellation-policy/taskspawner.yaml"),
    );
    let spawner: kelos_api::TaskSpawner = serde_json::from_value(docs[0].clone()).unwrap();
    assert!(spawner.spec.when.github_pull_requests.is_some());
    let policy = spawner.spec.cancellation_policy();
    assert!(policy.on_source_removed.is_cancel());
    assert!(policy.on_retrigger.is_cancel());
    assert_eq!(policy.grace_period_seconds, 30);
}
